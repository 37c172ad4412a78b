"""Gateway API routing: reading and writing an HTTPRoute's backend weights."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlops_operator.core.serving.observed import route_state
from mlops_operator.core.serving.routing import (
    backend_weights,
    canary_share,
    route_patch,
    route_problem,
)

S, C, NS = "sentiment-stable", "sentiment-canary", "nlp"


def route(
    rules: list[dict[str, Any]], parents: list[dict[str, Any]] | None = None, gen: int = 3
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": NS, "generation": gen, "resourceVersion": "77"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": rules},
    }
    if parents is not None:
        body["status"] = {"parents": parents}
    return body


def parent(name: str, accepted: bool = True, resolved: bool = True, gen: int = 3) -> dict[str, Any]:
    def c(type_: str, ok: bool) -> dict[str, Any]:
        return {
            "type": type_,
            "status": "True" if ok else "False",
            "reason": "R",
            "message": "m",
            "observedGeneration": gen,
        }

    return {
        "parentRef": {"name": name},
        "conditions": [c("Accepted", accepted), c("ResolvedRefs", resolved)],
    }


OURS = {
    "matches": [{"path": {"value": "/predict"}}],
    "filters": [{"type": "RequestHeaderModifier"}],
    "backendRefs": [
        {"name": S, "port": 8080, "weight": 100},
        {"name": C, "port": 8080, "weight": 0},
    ],
}
OTHER = {"matches": [{"path": {"value": "/docs"}}], "backendRefs": [{"name": "docs", "port": 80}]}


def test_backend_weights() -> None:
    assert backend_weights(route_state(route([OTHER, OURS])), S, C, NS) == (100, 0)
    # Gateway API's default weight is 1.
    unweighted = {"backendRefs": [{"name": S}, {"name": C}]}
    assert backend_weights(route_state(route([unweighted])), S, C, NS) == (1, 1)
    assert backend_weights(route_state(route([OTHER])), S, C, NS) is None


@pytest.mark.parametrize(
    "ref",
    [
        {"name": C, "kind": "ServiceImport", "group": "multicluster.x-k8s.io"},
        {"name": C, "namespace": "elsewhere"},
    ],
)
def test_backends_that_are_not_our_services_do_not_count(ref: dict[str, Any]) -> None:
    rule = {"backendRefs": [{"name": S, "weight": 100}, ref]}
    assert backend_weights(route_state(route([rule])), S, C, NS) is None
    assert route_patch(route_state(route([rule])), S, C, NS, 10) is None


def test_canary_share() -> None:
    assert canary_share(None) == 0
    assert canary_share((100, 0)) == 0
    assert canary_share((90, 10)) == 10
    assert canary_share((1, 1)) == 50
    assert canary_share((999_999, 1)) == 1  # takes traffic: never shown as 0
    assert canary_share((0, 0)) == 0


def test_route_patch_changes_only_our_weights_and_keeps_everything_else() -> None:
    state = route_state(route([OTHER, OURS]))
    patch = route_patch(state, S, C, NS, 10)
    rules = copy.deepcopy([OTHER, OURS])
    rules[1]["backendRefs"][0]["weight"] = 90
    rules[1]["backendRefs"][1]["weight"] = 10
    assert patch == {"metadata": {"resourceVersion": "77"}, "spec": {"rules": rules}}
    # The state read from the cache is not changed.
    assert state.rules[1]["backendRefs"][1]["weight"] == 0


def test_route_patch_is_none_when_the_weights_are_right() -> None:
    assert route_patch(route_state(route([OTHER, OURS])), S, C, NS, 0) is None


def test_route_patch_weights_every_rule_with_both_backends() -> None:
    second = copy.deepcopy(OURS)
    second["matches"] = [{"path": {"value": "/v2/predict"}}]
    patch = route_patch(route_state(route([OURS, second])), S, C, NS, 100)
    assert patch is not None
    for rule in patch["spec"]["rules"]:
        assert [r["weight"] for r in rule["backendRefs"]] == [0, 100]


def test_route_problem_says_what_is_missing() -> None:
    args = (S, C, NS)
    assert route_problem(None, "web", *args, 10) == "HTTPRoute web not found"
    assert route_problem(route_state(route([OTHER])), "web", *args, 10) == (
        "HTTPRoute web has no rule with backends sentiment-stable and sentiment-canary"
    )
    assert route_problem(route_state(route([OURS], [parent("gw")])), "web", *args, 10) == (
        "HTTPRoute web: setting weights sentiment-stable=90, sentiment-canary=10"
    )
    assert route_problem(route_state(route([OURS], [])), "web", *args, 0) == (
        "no gateway reports on HTTPRoute web"
    )
    assert route_problem(route_state(route([OURS])), "web", *args, 0) == (
        "no gateway reports on HTTPRoute web"
    )


@pytest.mark.parametrize(
    "parents",
    [
        [parent("gw", accepted=False)],
        [parent("gw", resolved=False)],
        [parent("gw", gen=2)],  # accepted, but an older generation
        [parent("gw"), parent("gw2", resolved=False)],  # every parent must agree
    ],
)
def test_route_problem_until_every_parent_accepts_the_current_generation(
    parents: list[dict[str, Any]],
) -> None:
    problem = route_problem(route_state(route([OURS], parents)), "web", S, C, NS, 0)
    assert problem is not None
    assert problem.startswith(
        "HTTPRoute web generation 3 not yet accepted with resolved refs by nlp/gw"
    )


def test_route_problem_none_when_served() -> None:
    state = route_state(route([OURS], [parent("gw"), parent("gw2")]))
    assert route_problem(state, "web", S, C, NS, 0) is None
