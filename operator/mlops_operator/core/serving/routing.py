"""Gateway API routing: the backend weights of an existing HTTPRoute, read and written.

The user owns the HTTPRoute (its hostnames, matches, filters, parent Gateways); the operator
only sets the ``weight`` of the backendRefs that point at the Services ``<md>-stable`` and
``<md>-canary``, in every rule that has them. A JSON merge patch replaces a list whole, so
the patch carries the whole ``spec.rules`` list as read with only those weights changed,
and the ``resourceVersion`` it was read at: if the user edits the route in between, the
patch fails with a conflict and the next reconcile starts from the new rules instead of
overwriting them.

A weight counts as served only when the Gateways say so: every parent in
``status.parents`` reports ``Accepted`` and ``ResolvedRefs`` True at the route's current
``generation`` (Flagger checks Accepted only; a route whose canary Service cannot be
resolved would then "serve" a weight that goes nowhere).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mlops_operator.core.serving.observed import RouteState

__all__ = ["backend_weights", "canary_share", "route_patch", "route_problem"]


def backend_weights(
    route: RouteState, stable: str, canary: str, namespace: str | None
) -> tuple[int, int] | None:
    """``(stable, canary)`` weights of the first rule with a backend for each Service;
    None when no rule has both. An unset weight is Gateway API's default, 1."""
    for rule in route.rules:
        found: dict[str, int] = {}
        for ref in rule.get("backendRefs") or []:
            if _service_ref(ref, namespace) and ref.get("name") in (stable, canary):
                found[ref["name"]] = int(ref.get("weight", 1))
        if stable in found and canary in found:
            return found[stable], found[canary]
    return None


def canary_share(weights: tuple[int, int] | None) -> int:
    """The canary's percent of ``(stable, canary)`` weights (relative, as Gateway API
    defines them), rounded down; 0 when there are none."""
    if weights is None:
        return 0
    stable, canary = weights
    if canary <= 0 or stable + canary <= 0:
        return 0
    return max(1, 100 * canary // (stable + canary))


def route_patch(
    route: RouteState, stable: str, canary: str, namespace: str | None, weight: int
) -> dict[str, Any] | None:
    """The merge patch that gives ``canary`` ``weight`` and ``stable`` ``100 - weight`` in
    every rule of ``route`` that has backends for both; None if they already have them."""
    rules = [copy.deepcopy(dict(r)) for r in route.rules]
    want = {stable: 100 - weight, canary: weight}
    changed = False
    for rule in rules:
        refs = [r for r in rule.get("backendRefs") or [] if _service_ref(r, namespace)]
        if {stable, canary} - {r.get("name") for r in refs}:
            continue  # a rule for something else: not ours to weight
        for ref in refs:
            name = ref.get("name")
            if name in want and ref.get("weight", 1) != want[name]:
                ref["weight"] = want[name]
                changed = True
    if not changed:
        return None
    return {"metadata": {"resourceVersion": route.resource_version}, "spec": {"rules": rules}}


def route_problem(
    route: RouteState | None,
    route_name: str,
    stable: str,
    canary: str,
    namespace: str | None,
    weight: int,
) -> str | None:
    """Why the route does not serve ``weight`` yet, in words; None when it does.

    It must exist, have a rule with backends for both Services, show the weights, and be
    accepted with its references resolved by every parent at its current generation.
    """
    if route is None:
        return f"HTTPRoute {route_name} not found"
    weights = backend_weights(route, stable, canary, namespace)
    if weights is None:
        return f"HTTPRoute {route_name} has no rule with backends {stable} and {canary}"
    if route_patch(route, stable, canary, namespace, weight) is not None:
        return f"HTTPRoute {route_name}: setting weights {stable}={100 - weight}, {canary}={weight}"
    if not route.parents:
        return f"no gateway reports on HTTPRoute {route_name}"
    for parent in route.parents:
        if not parent.current(route.generation):
            detail = f": {parent.message}" if parent.message else ""
            return (
                f"HTTPRoute {route_name} generation {route.generation} not yet accepted "
                f"with resolved refs by {parent.ref}{detail}"
            )
    return None


def _service_ref(ref: Mapping[str, Any], namespace: str | None) -> bool:
    """Whether a backendRef names a core Service in the route's own namespace."""
    return (
        ref.get("group") in (None, "")
        and ref.get("kind") in (None, "Service")
        and ref.get("namespace") in (None, namespace)
    )
