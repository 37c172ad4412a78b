"""Scenarios of ModelDeployment reconciles: whole rollouts, walked step by step.

Each test drives the reconcile like the controller does: reconcile, carry the plan out on a
small in-memory cluster (md_cluster), feed the status back through a JSON round trip, and
play the Deployment controller (and the Gateway) where the scenario says. At every state a
reconcile that learns nothing new must be quiet: same status, no writes, no Events.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from md_cluster import Conflict, D, Driver, with_status

from mlops_operator.api.keys import ABORT_ANNOTATION, PROMOTE_ANNOTATION, Variant
from mlops_operator.api.modeldeployment import (
    ModelDeployment,
    ModelDeploymentStatus,
    RolloutOutcome,
)
from mlops_operator.core.conditions import find_condition
from mlops_operator.core.plan import Plan
from mlops_operator.core.serving.analysis import Measurement, measurement_due, queries
from mlops_operator.core.serving.reconcile import HISTORY_LIMIT, reconcile
from mlops_operator.core.serving.source import Source
from mlops_operator.core.watching.series import Problem, Reading

UID = "0b6f2f4e-6a55-4b59-a0a4-6f3f4b7c2d11"
T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
S = timedelta(seconds=1)
V1, V2, V3 = (
    "s3://ml-models/sentiment/v1",
    "s3://ml-models/sentiment/v2",
    "s3://ml-models/sentiment/v3",
)
STABLE, CANARY = "sentiment-stable", "sentiment-canary"

STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"analysis": {}},
    {"setWeight": 50},
    {"pause": {"duration": "5m"}},
    {"setWeight": 100},
]
ANALYSIS: dict[str, Any] = {
    "interval": "1m",
    "failureLimit": 1,
    "prometheus": {"address": "http://prometheus.monitoring:9090"},
    "metrics": [
        {
            "name": "error-rate",
            "query": 'sum(rate(errors{app="{{name}}",variant="{{variant}}"}[1m]))',
            "thresholdRange": {"max": 0.05},
        }
    ],
}
BODY: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {
        "name": "sentiment",
        "namespace": "nlp",
        "uid": UID,
        "generation": 1,
        "resourceVersion": "1",
    },
    "spec": {
        "model": {"uri": V1},
        "server": {"image": "ghcr.io/example/sentiment-serve:1.4.2", "readinessPath": "/ready"},
        "replicas": 4,
        "rollout": {"canary": {"steps": STEPS, "analysis": ANALYSIS}},
    },
}


def make(**spec: Any) -> ModelDeployment:
    body = copy.deepcopy(BODY)
    for key, value in spec.items():
        if value is None:
            body["spec"].pop(key, None)
        else:
            body["spec"][key] = value
    return ModelDeployment.model_validate(body)


def cond(d: Driver, type_: str) -> tuple[str, str, str]:
    c = find_condition(d.status.conditions, type_)
    assert c is not None
    return c.status, c.reason, c.message


def quiet(
    d: Driver, now: datetime, measurement: Measurement | None = None
) -> Plan[ModelDeploymentStatus]:
    """Reconcile again with nothing new: the same status, no writes, no Events."""
    source = d.source or Source(d.md.spec.model.uri)
    plan = reconcile(d.md, d.cluster.observed(source, measurement, route=d.route), now, D)
    assert plan.status == d.md.status
    assert (plan.creates, plan.patches, plan.deletes, plan.events) == ([], [], [], [])
    return plan


def readings(
    d: Driver, now: datetime, canary: float | None, stable: float | None = 0.01
) -> Measurement:
    """A measurement of every query; None is an empty result."""

    def reading(value: float | None) -> Reading:
        if value is None:
            return Reading.missing(Problem.NO_DATA, "empty result")
        return Reading.value_of(value)

    return Measurement.of(
        now,
        [(q, reading(canary if q.variant is Variant.CANARY else stable)) for q in queries(d.md)],
    )


def deployed(d: Driver, now: datetime = T0) -> None:
    """The first model, served and settled."""
    d.reconcile(now)
    d.cluster.settle_all()
    d.reconcile(now + S)
    assert d.status.phase == "Healthy"


def replicas(d: Driver, name: str) -> int:
    return int(d.cluster.get("Deployment", name)["spec"]["replicas"])


def stable_patches(d: Driver) -> list[dict[str, Any]]:
    return [p for kind, name, p in d.cluster.patches if (kind, name) == ("Deployment", STABLE)]


# --- the first model -----------------------------------------------------------------------


def test_first_model_becomes_stable_at_once() -> None:
    d = Driver(make())
    plan = d.reconcile(T0)
    assert [(c.kind, c.name) for c in plan.creates] == [
        ("Deployment", STABLE),
        ("Deployment", CANARY),
        ("Service", "sentiment"),
        ("Service", "sentiment-stable"),
        ("Service", "sentiment-canary"),
    ]
    assert (plan.patches, plan.deletes) == ([], [])
    assert d.cluster.model(STABLE) == V1
    assert replicas(d, STABLE) == 4
    # The canary Deployment waits at 0 pods for the next rollout.
    assert replicas(d, CANARY) == 0
    s = d.status
    assert (s.revision, s.stable.model, s.stable.revision, s.canary) == (1, V1, 1, None)
    assert (s.stable.replicas, s.stable.ready_replicas) == (4, 0)
    assert [(h.revision, h.model, h.outcome, h.reason) for h in s.history or []] == [
        (1, V1, RolloutOutcome.PROMOTED, "Initial")
    ]
    assert d.events() == [("Deployed", f"serving model {V1} as revision 1")]
    assert s.phase == "Progressing"
    assert cond(d, "Ready") == ("False", "ReplicasNotReady", "0/4 stable replicas ready")
    assert cond(d, "Progressing") == ("True", "RollingOut", "revision 1: 0/4 updated")
    assert cond(d, "Degraded")[0] == "False"
    assert cond(d, "Paused")[0] == "False"
    assert s.observed_generation == 1
    quiet(d, T0 + S)

    d.cluster.settle_all()
    d.reconcile(T0 + 2 * S)
    assert d.status.phase == "Healthy"
    assert cond(d, "Ready") == ("True", "Serving", "revision 1: 4/4 replicas ready")
    assert cond(d, "Progressing") == ("False", "RolloutComplete", "revision 1 serves all traffic")
    assert d.status.stable.ready_replicas == 4
    quiet(d, T0 + 3 * S)


def test_missing_children_are_created_again() -> None:
    d = Driver(make())
    deployed(d)
    del d.cluster.objects[("Service", "sentiment-canary")]
    plan = d.reconcile(T0 + 5 * S)
    assert [(c.kind, c.name) for c in plan.creates] == [("Service", "sentiment-canary")]
    assert plan.events == []


def test_a_stable_deployment_whose_status_was_lost_is_adopted_not_replaced() -> None:
    d = Driver(make())
    deployed(d)
    d.md = with_status(d.md, None)
    plan = d.reconcile(T0 + 5 * S)
    assert (plan.creates, plan.patches) == ([], [])
    assert (d.status.stable.model, d.status.stable.revision, d.status.revision) == (V1, 1, 1)


# --- no rollout strategy ------------------------------------------------------------------


def test_without_rollout_a_new_model_replaces_the_stable_at_once() -> None:
    d = Driver(make(rollout=None))
    deployed(d)
    d.edit(model={"uri": V2})
    plan = d.reconcile(T0 + 10 * S)
    assert [(p.kind, p.name) for p in plan.patches] == [("Deployment", STABLE)]
    assert "replicas" not in plan.patches[0].patch["spec"]
    assert d.cluster.model(STABLE) == V2
    assert replicas(d, CANARY) == 0
    s = d.status
    assert (s.revision, s.stable.model, s.stable.revision, s.canary) == (2, V2, 2, None)
    assert s.history is not None
    assert (s.history[-1].outcome, s.history[-1].reason) == (RolloutOutcome.PROMOTED, "Replaced")
    assert d.events()[-1][0] == "Promoted"
    # A rolling update is in progress until the Deployment controller is done.
    assert s.phase == "Progressing"
    assert cond(d, "Progressing")[1] == "RollingOut"
    quiet(d, T0 + 11 * S)
    d.cluster.settle(STABLE, updated=2, ready=4)
    d.reconcile(T0 + 12 * S)
    assert d.status.phase == "Progressing"
    d.cluster.settle(STABLE)
    d.reconcile(T0 + 13 * S)
    assert d.status.phase == "Healthy"
    quiet(d, T0 + 14 * S)


def test_a_server_change_rolls_the_stable_when_no_canary_runs() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(server={"image": "ghcr.io/example/sentiment-serve:1.5.0", "readinessPath": "/ready"})
    plan = d.reconcile(T0 + 10 * S)
    assert [(p.kind, p.name) for p in plan.patches] == [("Deployment", STABLE)]
    image = d.cluster.get("Deployment", STABLE)["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image.endswith(":1.5.0")
    assert d.status.revision == 1  # only new models are revisions
    assert d.status.observed_generation == 2


def test_a_replica_change_scales_the_stable() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(replicas=6)
    plan = d.reconcile(T0 + 10 * S)
    assert [(p.kind, p.name, p.patch) for p in plan.patches] == [
        ("Deployment", STABLE, {"spec": {"replicas": 6}})
    ]


def test_a_port_change_reaches_the_services() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(server={"image": "ghcr.io/example/sentiment-serve:1.4.2", "port": 9000})
    plan = d.reconcile(T0 + 10 * S)
    ports = [{"name": "http", "port": 9000, "targetPort": "http", "protocol": "TCP"}]
    assert [(p.kind, p.name, p.patch) for p in plan.patches if p.kind == "Service"] == [
        ("Service", name, {"spec": {"ports": ports}})
        for name in ("sentiment", "sentiment-stable", "sentiment-canary")
    ]


def test_a_server_change_during_a_canary_waits_for_the_promote() -> None:
    d = Driver(make(rollout={"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}))
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 11 * S)
    d.edit(
        server={"image": "ghcr.io/example/sentiment-serve:1.5.0", "readinessPath": "/ready"},
        gpusPerReplica=1,
    )
    plan = d.reconcile(T0 + 12 * S)
    # The canary runs the new server with the new model; the stable is left alone.
    assert [(p.kind, p.name) for p in plan.patches] == [("Deployment", CANARY)]
    assert stable_patches(d) == []
    d.annotate(PROMOTE_ANNOTATION, "1")
    d.reconcile(T0 + 13 * S)
    pod = d.cluster.get("Deployment", STABLE)["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"].endswith(":1.5.0")
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert d.cluster.model(STABLE) == V2


def test_removing_the_canary_strategy_mid_canary_promotes() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.edit(rollout=None)
    plan = d.reconcile(T0 + 11 * S)
    assert plan.events[-1].message == f"model {V2} (revision 2): spec.rollout.canary was removed"
    assert d.cluster.model(STABLE) == V2


# --- a good canary ------------------------------------------------------------------------


def test_good_canary_10_50_100_is_promoted() -> None:
    d = Driver(make())
    deployed(d)
    writes_before = len(d.cluster.writes)

    # A new model: revision 2 goes to the canary, step 1 (setWeight 10).
    t = T0 + 60 * S
    d.edit(model={"uri": V2})
    plan = d.reconcile(t)
    assert [(p.kind, p.name) for p in plan.patches] == [("Deployment", CANARY)]
    assert d.cluster.model(CANARY) == V2
    assert replicas(d, CANARY) == 1  # 10 % of 4, at least one pod
    c = d.status.canary
    assert c is not None
    assert (c.model, c.revision, c.step_index, c.weight, c.started_at, c.step_started_at) == (
        V2,
        2,
        0,
        0,
        t,
        t,
    )
    assert d.status.revision == 2
    assert d.events()[-1] == (
        "RolloutStarted",
        f"canary of model {V2} (revision 2) against revision 1: 5 steps",
    )
    assert d.status.phase == "Progressing"
    assert cond(d, "Progressing") == (
        "True",
        "WaitingForCanary",
        "revision 2 at step 1/5 (setWeight 10): canary 0/1 pods ready (0 updated)",
    )
    assert cond(d, "Ready")[0] == "True"  # the stable serves all along
    assert plan.requeue_after == 600  # the progress deadline
    quiet(d, t + S)

    # The canary pod is ready: the weight is reached, the analysis step wants a measurement.
    t += 10 * S
    d.cluster.settle(CANARY)
    plan = d.reconcile(t)
    assert d.status.canary is not None
    assert (d.status.canary.step_index, d.status.canary.weight) == (1, 20)  # 1 of 5 pods
    assert d.events()[-1] == ("StepCompleted", "step 1/5 (setWeight 10) completed at weight 10")
    assert plan.requeue_after == 0
    assert measurement_due(d.md, t)
    assert cond(d, "Progressing")[1] == "Measuring"
    quiet(d, t)

    # It passes: on to setWeight 50 (2 pods of 4).
    plan = d.reconcile(t, readings(d, t, canary=0.01))
    assert ("AnalysisPassed", "error-rate = 0.01 (canary; stable 0.01)") in d.events()
    assert d.status.canary.step_index == 2
    assert replicas(d, CANARY) == 2
    a = d.status.canary.analysis
    assert a is not None
    assert (a.successes, a.failures, a.last_result, a.last_measurement_time) == (1, 0, "Pass", t)
    assert a.last_values is not None
    assert a.last_values["error-rate"].model_dump() == {"stable": 0.01, "canary": 0.01}
    assert not measurement_due(d.md, t + S)
    quiet(d, t + S)

    # setWeight 50 reached: the 5-minute pause starts.
    t += 20 * S
    d.cluster.settle(CANARY)
    plan = d.reconcile(t)
    assert (d.status.canary.step_index, d.status.canary.weight) == (3, 33)
    pause_started = t
    assert plan.requeue_after == 40  # background analysis, one interval after the last
    quiet(d, t + S)

    # Background analysis during the pause: passes quietly (no Event for a routine pass).
    t += 40 * S
    assert measurement_due(d.md, t)
    plan = d.reconcile(t, readings(d, t, canary=0.02))
    assert plan.events == []
    assert d.status.canary.analysis.successes == 2
    assert d.status.canary.step_index == 3

    # The pause ends: setWeight 100, 4 canary pods.
    t = pause_started + 300 * S
    plan = d.reconcile(t)
    assert d.status.canary.step_index == 4
    assert replicas(d, CANARY) == 4
    assert replicas(d, STABLE) == 4  # never scaled down

    # All canary pods ready: the last step is done, the stable takes revision 2.
    t += 30 * S
    d.cluster.settle(CANARY)
    plan = d.reconcile(t)
    assert d.reasons()[-2:] == ["StepCompleted", "Promoting"]
    assert [(p.kind, p.name) for p in plan.patches] == [("Deployment", STABLE)]
    assert d.cluster.model(STABLE) == V2
    assert "replicas" not in plan.patches[0].patch["spec"]
    assert d.status.canary is not None
    assert d.status.canary.promoting
    assert d.status.stable.model == V1  # until rolled out
    assert cond(d, "Progressing")[1] == "Promoting"
    assert not measurement_due(d.md, t + timedelta(hours=1))
    quiet(d, t + S)

    # Half rolled out: still promoting, the canary keeps its pods.
    d.cluster.settle(STABLE, updated=2)
    d.reconcile(t + 2 * S)
    assert d.status.canary is not None
    assert replicas(d, CANARY) == 4

    # The stable serves revision 2 with all pods: the canary goes away.
    t += 30 * S
    d.cluster.settle(STABLE)
    plan = d.reconcile(t)
    assert [(p.kind, p.name, p.patch) for p in plan.patches] == [
        ("Deployment", CANARY, {"spec": {"replicas": 0}})
    ]
    s = d.status
    assert s.canary is None
    assert (s.stable.model, s.stable.revision) == (V2, 2)
    assert s.history is not None
    assert [(h.revision, h.outcome, h.reason) for h in s.history] == [
        (1, RolloutOutcome.PROMOTED, "Initial"),
        (2, RolloutOutcome.PROMOTED, "Promoted"),
    ]
    assert d.events()[-1] == ("Promoted", f"model {V2} (revision 2) is stable")
    assert s.phase == "Healthy"
    assert cond(d, "Ready") == ("True", "Serving", "revision 2: 4/4 replicas ready")
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    quiet(d, t + 2 * S)

    # The whole rollout: stable patched once (the promote), canary patched per step.
    writes = d.cluster.writes[writes_before:]
    assert writes.count(("patch", "Deployment", STABLE)) == 1
    assert writes.count(("patch", "Deployment", CANARY)) == 4  # 1, 2, 4 pods, then 0
    assert all(verb == "patch" for verb, _, _ in writes)


def test_a_canary_of_one_replica_gets_one_surge_pod() -> None:
    d = Driver(make(replicas=1))
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    assert (replicas(d, STABLE), replicas(d, CANARY)) == (1, 1)
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 11 * S)
    assert d.status.canary.weight == 50  # 1 of 2 pods


# --- a bad canary -------------------------------------------------------------------------


def test_bad_canary_is_aborted_and_the_stable_is_untouched() -> None:
    d = Driver(make())
    deployed(d)
    stable_before = copy.deepcopy(d.cluster.get("Deployment", STABLE))
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)  # at the analysis step
    t += S

    # First failure: counted (1 of at most 1), measured again after the interval.
    plan = d.reconcile(t, readings(d, t, canary=0.2))
    assert d.events()[-1] == (
        "AnalysisFailed",
        "measurement failed (1 of at most 1): error-rate = 0.2 outside [max 0.05] "
        "(canary; stable 0.01)",
    )
    assert plan.events[0].type == "Warning"
    c = d.status.canary
    assert c is not None
    assert (c.step_index, c.analysis.failures) == (1, 1)
    assert cond(d, "Progressing")[1] == "AnalysisFailed"
    assert plan.requeue_after == 60
    assert not measurement_due(d.md, t + 59 * S)
    quiet(d, t + 30 * S)

    # Second failure: more than failureLimit, aborted.
    t += 60 * S
    assert measurement_due(d.md, t)
    plan = d.reconcile(t, readings(d, t, canary=0.3, stable=0.02))
    assert [(p.kind, p.name, p.patch) for p in plan.patches] == [
        ("Deployment", CANARY, {"spec": {"replicas": 0}})
    ]
    message = (
        "2 failed measurements (failureLimit 1): "
        "error-rate = 0.3 outside [max 0.05] (canary; stable 0.02)"
    )
    assert plan.events[-1].type == "Warning"
    assert d.events()[-1] == ("Aborted", f"model {V2} (revision 2): AnalysisFailed: {message}")
    s = d.status
    assert s.canary is None
    assert s.aborted is not None
    assert (s.aborted.model, s.aborted.revision, s.aborted.reason, s.aborted.message) == (
        V2,
        2,
        "AnalysisFailed",
        message,
    )
    assert s.history is not None
    assert (s.history[-1].outcome, s.history[-1].reason, s.history[-1].message) == (
        RolloutOutcome.ABORTED,
        "AnalysisFailed",
        message,
    )
    assert s.phase == "Degraded"
    assert cond(d, "Degraded") == (
        "True",
        "AnalysisFailed",
        f"model {V2} (revision 2) aborted: {message}",
    )
    assert cond(d, "Ready")[0] == "True"  # the stable still serves
    assert (s.stable.model, s.stable.revision) == (V1, 1)

    # The stable was never written: same object, same pods.
    assert stable_patches(d) == []
    assert d.cluster.get("Deployment", STABLE) == stable_before
    d.cluster.settle(CANARY)
    quiet(d, t + S)

    # The aborted model is not rolled out again while it is the desired one...
    quiet(d, t + timedelta(hours=2))
    # ... a new one is, and the deployment is no longer degraded.
    d.edit(model={"uri": V3})
    d.reconcile(t + timedelta(hours=2))
    s = d.status
    assert s.aborted is None
    assert (s.canary.model, s.canary.revision, s.revision) == (V3, 3, 3)
    assert cond(d, "Degraded")[0] == "False"
    assert s.phase == "Progressing"


def test_background_analysis_failures_abort_at_a_pause() -> None:
    d = Driver(
        make(
            rollout={
                "canary": {
                    "steps": [{"setWeight": 50}, {"pause": {}}],
                    "analysis": {**ANALYSIS, "failureLimit": 0},
                }
            }
        )
    )
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    assert d.status.phase == "Paused"  # waiting for a human at the pause
    assert cond(d, "Paused") == (
        "True",
        "WaitingForPromote",
        "paused until a new value of annotation mlops.dev/promote",
    )
    assert next_background(d) == t + S + 60 * S
    t += 61 * S
    d.reconcile(t, readings(d, t, canary=0.5))
    assert d.status.aborted is not None
    assert d.status.aborted.reason == "AnalysisFailed"
    assert replicas(d, CANARY) == 0
    assert stable_patches(d) == []


def next_background(d: Driver) -> datetime | None:
    from mlops_operator.core.serving.analysis import next_measurement

    return next_measurement(d.md)


# --- no data ------------------------------------------------------------------------------


def test_no_data_holds_without_promoting_then_aborts_with_nodata_at_the_deadline() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    t += S
    d.reconcile(t)
    step_started = t  # the analysis step

    plan = d.reconcile(t, readings(d, t, canary=None))
    assert plan.events[0].type == "Warning"
    assert d.events()[-1] == (
        "AnalysisInconclusive",
        "holding: no data for metric error-rate (canary): empty result",
    )
    a = d.status.canary.analysis
    assert (a.successes, a.failures, a.inconclusive, a.last_result) == (0, 0, 1, "Inconclusive")
    assert a.last_values["error-rate"].model_dump() == {"stable": 0.01, "canary": None}
    assert cond(d, "Progressing") == (
        "True",
        "NoData",
        "revision 2 at step 2/5 (analysis): holding: no data for metric error-rate (canary): "
        "empty result",
    )
    assert d.status.phase == "Progressing"
    quiet(d, t + S)

    # Measured again each interval; still nothing: holds, no new Event, never promotes.
    for minute in range(1, 10):
        now = t + minute * 60 * S
        assert measurement_due(d.md, now)
        plan = d.reconcile(now, readings(d, now, canary=None))
        assert plan.events == []
        assert d.status.canary is not None
        assert d.status.canary.step_index == 1
        assert replicas(d, CANARY) == 1
    assert d.status.canary.analysis.inconclusive == 10

    # The progress deadline, counted from the step's start: aborted with NoData.
    deadline = step_started + 600 * S
    plan = d.reconcile(deadline - S)
    assert d.status.canary is not None
    plan = d.reconcile(deadline)
    assert d.status.aborted is not None
    assert d.status.aborted.reason == "NoData"
    assert d.status.aborted.message == (
        "step 2/5 (analysis) did not complete within 600s: holding: no data for metric "
        "error-rate (canary): empty result"
    )
    assert cond(d, "Degraded")[1] == "NoData"
    assert replicas(d, CANARY) == 0
    assert stable_patches(d) == []


def test_data_arriving_ends_the_hold() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    d.reconcile(t + S, readings(d, t + S, canary=None))
    assert d.status.canary.step_index == 1
    now = t + 61 * S
    d.reconcile(now, readings(d, now, canary=0.0))
    assert d.status.canary.step_index == 2
    assert d.reasons()[-2:] == ["AnalysisPassed", "StepCompleted"]


def test_no_data_in_background_holds_a_weight_step() -> None:
    steps = [{"setWeight": 10}, {"pause": {"duration": "1m"}}, {"setWeight": 100}]
    d = Driver(make(rollout={"canary": {"steps": steps, "analysis": ANALYSIS}}))
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)  # setWeight 10 done, the pause runs
    now = t + 61 * S
    d.reconcile(now, readings(d, now, canary=None))  # background: no data
    assert d.status.canary.step_index == 1
    # The pause is over, but no data: it holds instead of moving to 100 %.
    d.reconcile(t + 62 * S)
    assert d.status.canary.step_index == 1
    assert cond(d, "Progressing")[1] == "NoData"
    assert replicas(d, CANARY) == 1


# --- canary pods that never become ready --------------------------------------------------


def test_never_ready_canary_aborts_at_the_progress_deadline() -> None:
    d = Driver(
        make(
            rollout={
                "canary": {"steps": STEPS, "analysis": ANALYSIS, "progressDeadlineSeconds": 120}
            }
        )
    )
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    plan = d.reconcile(t)
    assert plan.requeue_after == 120
    d.cluster.settle(CANARY, ready=0)
    plan = d.reconcile(t + 60 * S)
    assert d.status.canary is not None
    assert plan.requeue_after == 60
    quiet(d, t + 61 * S)
    plan = d.reconcile(t + 120 * S)
    assert d.status.aborted is not None
    assert d.status.aborted.reason == "ProgressDeadlineExceeded"
    assert d.status.aborted.message == (
        "step 1/5 (setWeight 10) did not complete within 120s: canary 0/1 pods ready (1 updated)"
    )
    assert d.events()[-1][0] == "Aborted"
    assert replicas(d, CANARY) == 0
    assert stable_patches(d) == []
    assert d.status.phase == "Degraded"


# --- manual promote and abort -------------------------------------------------------------


def test_manual_promote_and_abort_act_once_per_new_value() -> None:
    d = Driver(make(rollout={"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}))
    # A value present before any canary: recorded, does nothing.
    d.annotate(PROMOTE_ANNOTATION, "1")
    deployed(d)
    assert d.status.handled_promote == "1"
    assert ("AnnotationIgnored", "mlops.dev/promote=1: no canary is running") in d.events()
    quiet(d, T0 + 5 * S)

    # A canary waits at the indefinite pause; the old value does not promote it.
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    assert d.status.phase == "Paused"
    quiet(d, t + timedelta(days=2))  # waits for a human, no deadline

    # A new value promotes.
    d.annotate(PROMOTE_ANNOTATION, "2")
    plan = d.reconcile(t + 10 * S)
    assert d.status.handled_promote == "2"
    assert d.status.canary.promoting
    assert (
        plan.events[-1].message
        == f"model {V2} (revision 2): promoted by annotation mlops.dev/promote=2"
    )
    d.cluster.settle(STABLE)
    d.reconcile(t + 11 * S)
    assert d.status.stable.model == V2
    quiet(d, t + 12 * S)

    # Next canary: the handled promote value does nothing; a new abort value aborts.
    d.edit(model={"uri": V3})
    t += 100 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    quiet(d, t + 2 * S)
    d.annotate(ABORT_ANNOTATION, "a")
    d.reconcile(t + 3 * S)
    s = d.status
    assert (s.handled_abort, s.canary) == ("a", None)
    assert s.aborted is not None
    assert (s.aborted.reason, s.aborted.message) == (
        "ManualAbort",
        "aborted by annotation mlops.dev/abort=a",
    )
    assert replicas(d, CANARY) == 0
    quiet(d, t + 4 * S)

    # The same abort value again, with a new model running: nothing.
    d.edit(model={"uri": "s3://ml-models/sentiment/v4"})
    d.reconcile(t + 5 * S)
    d.cluster.settle(CANARY)
    d.reconcile(t + 6 * S)
    assert d.status.canary is not None
    quiet(d, t + 7 * S)
    # A new one aborts again.
    d.annotate(ABORT_ANNOTATION, "b")
    d.reconcile(t + 8 * S)
    assert d.status.canary is None
    assert d.status.handled_abort == "b"


def test_abort_wins_over_promote_in_the_same_reconcile() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.annotate(PROMOTE_ANNOTATION, "p")
    d.annotate(ABORT_ANNOTATION, "a")
    d.reconcile(T0 + 11 * S)
    s = d.status
    assert (s.handled_promote, s.handled_abort) == ("p", "a")
    assert s.aborted is not None
    assert s.canary is None
    assert stable_patches(d) == []


def test_manual_promote_skips_the_remaining_steps_and_the_analysis() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)  # at setWeight 10, pods not ready
    d.annotate(PROMOTE_ANNOTATION, "now")
    d.reconcile(T0 + 11 * S)
    assert d.cluster.model(STABLE) == V2
    assert d.status.canary.promoting


def test_abort_while_promoting_is_recorded_and_ignored() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.annotate(PROMOTE_ANNOTATION, "p")
    d.reconcile(T0 + 11 * S)
    d.annotate(ABORT_ANNOTATION, "too-late")
    plan = d.reconcile(T0 + 12 * S)
    assert d.status.handled_abort == "too-late"
    assert [(e.reason, e.message) for e in plan.events] == [
        ("AnnotationIgnored", "mlops.dev/abort=too-late: the canary is being promoted")
    ]
    assert d.status.canary.promoting


# --- a new model during a canary ----------------------------------------------------------


def test_a_new_model_mid_canary_restarts_at_step_0() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    d.reconcile(t + S, readings(d, t + S, canary=0.01))
    d.cluster.settle(CANARY)
    d.reconcile(t + 2 * S)
    assert d.status.canary.step_index == 3

    d.edit(model={"uri": V3})
    t += 10 * S
    plan = d.reconcile(t)
    c = d.status.canary
    assert c is not None
    assert (c.model, c.revision, c.step_index, c.step_started_at, c.started_at) == (V3, 3, 0, t, t)
    assert c.analysis is not None
    assert (c.analysis.successes, c.analysis.last_result) == (0, None)
    assert d.cluster.model(CANARY) == V3
    assert replicas(d, CANARY) == 1
    assert [e.reason for e in plan.events] == ["Aborted", "RolloutStarted"]
    h = d.status.history[-1]
    assert (h.revision, h.model, h.outcome, h.reason) == (
        2,
        V2,
        RolloutOutcome.ABORTED,
        "Superseded",
    )
    assert d.status.aborted is None  # superseded is not refused
    assert stable_patches(d) == []
    assert d.status.phase == "Progressing"


def test_the_old_canary_pods_are_not_credited_to_a_new_model() -> None:
    # A new model mid-canary: until its own pods are ready, the canary's ready pods are
    # the old model's; the weight shown (and the analysis it enables) must not count them.
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    assert d.status.canary is not None
    assert d.status.canary.weight == 20  # v2's pod serves

    d.edit(model={"uri": V3})
    d.reconcile(t + 2 * S)  # the canary Deployment takes v3's template; not observed yet
    assert d.status.canary.model == V3
    assert d.status.canary.weight == 0
    d.cluster.settle(CANARY, ready=1, updated=0)  # observed: v2's pod still the ready one
    d.reconcile(t + 3 * S)
    assert d.status.canary.weight == 0
    d.cluster.settle(CANARY)  # v3's pod ready, v2's gone
    d.reconcile(t + 4 * S)
    assert d.status.canary.weight == 20


def test_a_measurement_of_the_superseded_canary_is_not_used() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 11 * S)
    d.edit(model={"uri": V3})
    d.reconcile(T0 + 12 * S, readings(d, T0 + 12 * S, canary=0.9))
    assert d.status.canary.analysis.failures == 0
    assert d.status.canary.model == V3


def test_the_desired_model_back_to_the_stable_one_rolls_back() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.edit(model={"uri": V1})
    d.reconcile(T0 + 11 * S)
    s = d.status
    assert (s.canary, s.aborted, s.revision) == (None, None, 2)
    assert (s.history[-1].outcome, s.history[-1].reason) == (RolloutOutcome.ROLLED_BACK, "Reverted")
    assert replicas(d, CANARY) == 0
    assert s.phase == "Healthy"
    d.cluster.settle(CANARY)
    quiet(d, T0 + 12 * S)


# --- time lives in status -----------------------------------------------------------------


def test_a_pause_resumes_after_a_restart_with_its_remaining_time() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)
    d.reconcile(t + S, readings(d, t + S, canary=0.01))
    d.cluster.settle(CANARY)
    pause_started = t + 2 * S
    d.reconcile(pause_started)
    assert d.status.canary.step_index == 3

    # A new operator process: only the object (with its status) and the cluster survive.
    restarted = Driver(
        ModelDeployment.model_validate(d.md.model_dump(mode="json", by_alias=True)), d.cluster
    )
    now = pause_started + 200 * S
    plan = restarted.reconcile(now)
    assert plan.events == []
    assert restarted.status.canary.step_index == 3
    assert cond(restarted, "Progressing")[2].endswith("pause 5m until 2026-11-22T04:06:02Z")
    # Background analysis is due (every minute); after it, the next wake-up is the next one.
    assert plan.requeue_after == 0
    assert measurement_due(restarted.md, now)
    plan = restarted.reconcile(now, readings(restarted, now, canary=0.01))
    assert plan.requeue_after == 60
    # Without analysis the wake-up is the pause's end: 100 s left.
    bare = restarted.md.model_dump(mode="json", by_alias=True, exclude_none=True)
    del bare["spec"]["rollout"]["canary"]["analysis"]
    bare["spec"]["rollout"]["canary"]["steps"][1] = {"pause": {}}
    plan = reconcile(ModelDeployment.model_validate(bare), d.cluster.observed(Source(V2)), now, D)
    assert plan.requeue_after == 100
    restarted.reconcile(pause_started + 299 * S)
    assert restarted.status.canary.step_index == 3
    restarted.reconcile(pause_started + 300 * S)
    assert restarted.status.canary.step_index == 4


def test_paused_by_spec_freezes_writes_measurements_and_timers() -> None:
    steps = [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 100}]
    d = Driver(make(rollout={"canary": {"steps": steps, "analysis": ANALYSIS}}))
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    pause_started = t + S
    d.reconcile(pause_started)
    assert d.status.canary.step_index == 1

    # Paused 100 s into the 5-minute pause.
    paused_at = pause_started + 100 * S
    d.edit(paused=True)
    plan = d.reconcile(paused_at)
    assert plan.events[-1].reason == "Paused"
    assert d.status.canary.paused_at == paused_at
    assert d.status.phase == "Paused"
    assert cond(d, "Paused")[1] == "PausedBySpec"
    assert plan.requeue_after is None
    assert not measurement_due(d.md, paused_at + timedelta(hours=1))

    # Nothing moves: not the pause, not a measurement handed in, not a drifted child.
    d.cluster.get("Deployment", CANARY)["spec"]["replicas"] = 3
    later = paused_at + timedelta(hours=1)
    plan = reconcile(d.md, d.cluster.observed(Source(V2), readings(d, later, canary=0.9)), later, D)
    assert (plan.creates, plan.patches, plan.events) == ([], [], [])
    assert plan.status is not None
    assert plan.status.canary.step_index == 1
    assert plan.status.canary.analysis.failures == 0
    d.cluster.get("Deployment", CANARY)["spec"]["replicas"] = 1
    quiet(d, later)

    # Resumed an hour later: the pause still has 200 s left.
    d.edit(paused=False)
    plan = d.reconcile(later)
    c = d.status.canary
    assert c is not None
    assert c.paused_at is None
    assert c.step_started_at == pause_started + timedelta(hours=1)
    assert plan.events[-1].reason == "Resumed"
    resume_end = (pause_started + timedelta(hours=1, seconds=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cond(d, "Progressing")[2].endswith(f"pause 5m until {resume_end}")
    # The last measurement is an hour old: one is due at once.
    assert plan.requeue_after == 0
    assert measurement_due(d.md, later)
    d.reconcile(later + 199 * S)
    assert d.status.canary.step_index == 1
    d.reconcile(later + 200 * S)
    assert d.status.canary.step_index == 2


def test_paused_before_anything_is_served_creates_nothing() -> None:
    d = Driver(make(paused=True))
    plan = d.reconcile(T0)
    assert (plan.creates, plan.patches) == ([], [])
    assert d.status.phase == "Paused"
    assert d.status.stable is None
    quiet(d, T0 + S)


# --- Gateway API --------------------------------------------------------------------------

ROUTE: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "web", "namespace": "nlp"},
    "spec": {
        "parentRefs": [{"name": "public"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
                "backendRefs": [
                    {"name": STABLE, "port": 8080, "weight": 100},
                    {"name": CANARY, "port": 8080, "weight": 0},
                ],
            }
        ],
    },
}
GATEWAY = {"gatewayAPI": {"httpRoute": "web"}}


def route_weights(d: Driver) -> list[int]:
    refs = d.cluster.get("HTTPRoute", "web")["spec"]["rules"][0]["backendRefs"]
    return [r["weight"] for r in refs]


def gateway_driver(steps: list[dict[str, Any]] | None = None) -> Driver:
    canary = {
        "steps": steps or [{"setWeight": 10}, {"setWeight": 50}, {"setWeight": 100}],
        "trafficRouting": GATEWAY,
    }
    d = Driver(make(rollout={"canary": canary}), route="web")
    d.cluster.put(ROUTE)
    d.cluster.accept_route("web")
    deployed(d)
    return d


def test_gateway_weights_follow_the_steps_once_pods_and_gateways_are_ready() -> None:
    d = gateway_driver()
    quiet(d, T0 + 5 * S)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    plan = d.reconcile(t)
    # Pods first: the route keeps all traffic on the stable until the canary can take it.
    assert [(p.kind, p.name) for p in plan.patches] == [("Deployment", CANARY)]
    assert route_weights(d) == [100, 0]
    d.cluster.settle(CANARY)
    version = d.cluster.get("HTTPRoute", "web")["metadata"]["resourceVersion"]
    plan = d.reconcile(t + S)
    assert [(p.kind, p.name) for p in plan.patches] == [("HTTPRoute", "web")]
    # Optimistic concurrency: the patch only applies to the route as it was read.
    assert plan.patches[0].patch["metadata"] == {"resourceVersion": version}
    assert route_weights(d) == [90, 10]
    assert plan.requeue_after == 10  # looks again even without a watch on HTTPRoutes
    # Written, but no Gateway has looked at the new generation yet: not reached.
    plan = d.reconcile(t + S)
    assert d.status.canary.step_index == 0
    assert cond(d, "Progressing")[2].endswith(
        "HTTPRoute web generation 2 not yet accepted with resolved refs by nlp/gw-0"
    )
    assert plan.requeue_after == 10  # looks again even without a watch on HTTPRoutes

    # A Gateway that cannot resolve the canary Service does not count.
    d.cluster.accept_route("web", resolved=False)
    d.reconcile(t + 2 * S)
    assert d.status.canary.step_index == 0
    d.cluster.accept_route("web")
    d.reconcile(t + 3 * S)
    c = d.status.canary
    assert c is not None
    assert (c.step_index, c.weight) == (1, 10)  # the route's weight, exactly
    assert replicas(d, CANARY) == 2  # capacity for 50 % of 4
    assert route_weights(d) == [90, 10]
    d.cluster.settle(CANARY)
    d.reconcile(t + 4 * S)
    assert route_weights(d) == [50, 50]


def test_a_route_edited_between_read_and_write_is_not_overwritten() -> None:
    d = gateway_driver()
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 60 * S)
    d.cluster.settle(CANARY)
    source = Source(V2)
    plan = reconcile(d.md, d.cluster.observed(source, route="web"), T0 + 61 * S, D)
    # The user edits the route before the patch lands: the patch must fail, not clobber it.
    edited = copy.deepcopy(d.cluster.get("HTTPRoute", "web"))
    edited["spec"]["rules"][0]["timeouts"] = {"request": "5s"}
    del edited["metadata"]["resourceVersion"]
    d.cluster.put(edited)
    with pytest.raises(Conflict):
        d.cluster.apply(plan)
    # The next reconcile starts from the new rules and keeps the user's edit.
    d.reconcile(T0 + 62 * S)
    rule = d.cluster.get("HTTPRoute", "web")["spec"]["rules"][0]
    assert rule["timeouts"] == {"request": "5s"}
    assert [r["weight"] for r in rule["backendRefs"]] == [90, 10]


def test_gateway_abort_sends_all_traffic_back_first() -> None:
    d = gateway_driver()
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 60 * S)
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 61 * S)
    d.cluster.accept_route("web")
    d.reconcile(T0 + 62 * S)
    assert route_weights(d) == [90, 10]
    d.annotate(ABORT_ANNOTATION, "x")
    plan = d.reconcile(T0 + 63 * S)
    assert [(p.kind, p.name) for p in plan.patches] == [
        ("HTTPRoute", "web"),
        ("Deployment", CANARY),
    ]
    assert route_weights(d) == [100, 0]
    assert replicas(d, CANARY) == 0
    assert stable_patches(d) == []


def test_gateway_promote_keeps_the_weights_until_the_stable_serves_the_new_model() -> None:
    d = gateway_driver([{"setWeight": 30}, {"pause": {}}])
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 60 * S)
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 61 * S)
    d.cluster.accept_route("web")
    d.reconcile(T0 + 62 * S)
    d.annotate(PROMOTE_ANNOTATION, "go")
    d.reconcile(T0 + 63 * S)
    assert route_weights(d) == [70, 30]
    d.cluster.settle(STABLE)
    plan = d.reconcile(T0 + 64 * S)
    assert [(p.kind, p.name) for p in plan.patches] == [
        ("HTTPRoute", "web"),
        ("Deployment", CANARY),
    ]
    assert route_weights(d) == [100, 0]
    assert d.status.canary is None


def test_gateway_with_no_gateway_reporting_says_so() -> None:
    d = Driver(
        make(rollout={"canary": {"steps": [{"setWeight": 10}], "trafficRouting": GATEWAY}}),
        route="web",
    )
    d.cluster.put(ROUTE)
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 60 * S)
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 61 * S)  # writes the weights
    d.reconcile(T0 + 62 * S)
    assert cond(d, "Progressing") == (
        "True",
        "WaitingForCanary",
        "revision 2 at step 1/1 (setWeight 10): no gateway reports on HTTPRoute web",
    )


def test_gateway_route_not_found() -> None:
    d = Driver(
        make(rollout={"canary": {"steps": [{"setWeight": 10}], "trafficRouting": GATEWAY}}),
        route="web",
    )
    d.reconcile(T0)
    d.cluster.settle_all()
    plan = d.reconcile(T0 + S)
    assert d.status.phase == "Degraded"
    assert cond(d, "Degraded") == ("True", "RouteNotFound", "HTTPRoute web not found")
    assert plan.events == []  # said once, when first seen
    assert d.events().count(("RouteNotFound", "HTTPRoute web not found")) == 1
    quiet(d, T0 + 2 * S)
    # A canary holds, and the deadline ends it.
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 11 * S)
    assert cond(d, "Progressing")[2].endswith("HTTPRoute web not found")
    d.reconcile(T0 + 610 * S)
    assert d.status.aborted is not None
    assert d.status.aborted.reason == "ProgressDeadlineExceeded"


# --- autoscaling --------------------------------------------------------------------------


def test_the_hpa_owns_the_stable_count_and_the_canary_follows_it() -> None:
    d = Driver(
        make(
            autoscaling={"minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 60}
        )
    )
    plan = d.reconcile(T0)
    assert ("HorizontalPodAutoscaler", "sentiment") in [(c.kind, c.name) for c in plan.creates]
    assert replicas(d, STABLE) == 2  # created at minReplicas, then left to the HPA
    # The HPA scales the stable to 6; the operator leaves the count alone.
    d.cluster.get("Deployment", STABLE)["spec"]["replicas"] = 6
    d.cluster.settle_all()
    d.reconcile(T0 + S)
    quiet(d, T0 + 2 * S)
    assert d.status.stable.replicas == 6

    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    assert replicas(d, CANARY) == 1  # 10 % of 6
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 11 * S)
    d.reconcile(T0 + 11 * S, readings(d, T0 + 11 * S, canary=0.0))
    assert replicas(d, CANARY) == 3  # 50 % of 6
    assert all("replicas" not in p.get("spec", {}) for p in stable_patches(d))

    # A changed HPA spec is patched; removing autoscaling deletes the HPA.
    d.edit(autoscaling={"minReplicas": 3, "maxReplicas": 10, "targetCPUUtilizationPercentage": 60})
    plan = d.reconcile(T0 + 12 * S)
    assert [(p.kind, p.name) for p in plan.patches] == [("HorizontalPodAutoscaler", "sentiment")]
    d.edit(autoscaling=None)
    plan = d.reconcile(T0 + 13 * S)
    assert [(x.kind, x.name) for x in plan.deletes] == [("HorizontalPodAutoscaler", "sentiment")]
    assert plan.deletes[0].uid is not None


# --- where the model comes from -----------------------------------------------------------


def test_a_trainingjobs_new_model_starts_a_rollout_with_lineage() -> None:
    d = Driver(make(model={"trainingJobRef": {"name": "run-7"}}))
    d.source = Source(None, "ModelNotReady", "waiting for TrainingJob run-7 to succeed")
    plan = d.reconcile(T0)
    assert (plan.creates, d.status.stable) == ([], None)
    assert d.status.phase == "Progressing"
    assert cond(d, "Ready") == (
        "False",
        "ModelNotReady",
        "waiting for TrainingJob run-7 to succeed",
    )
    assert cond(d, "Progressing")[1] == "ModelNotReady"
    assert d.events() == [("ModelNotReady", "waiting for TrainingJob run-7 to succeed")]
    quiet(d, T0 + S)

    d.source = Source(V1, training_job="run-7")
    deployed(d, T0 + 10 * S)
    assert d.status.stable.training_job == "run-7"

    # The policy or the user points it at a new run: no spec edit of ours involved.
    d.source = Source(V2, training_job="run-8")
    d.reconcile(T0 + 60 * S)
    c = d.status.canary
    assert c is not None
    assert (c.model, c.training_job) == (V2, "run-8")
    d.annotate(PROMOTE_ANNOTATION, "1")
    d.reconcile(T0 + 61 * S)
    d.cluster.settle_all()
    d.reconcile(T0 + 62 * S)
    assert d.status.stable.training_job == "run-8"
    assert d.status.history[-1].training_job == "run-8"


def test_a_missing_reference_keeps_serving_what_is_there() -> None:
    d = Driver(make())
    deployed(d)
    d.source = Source(None, "TrainingJobNotFound", "TrainingJob run-9 not found")
    plan = d.reconcile(T0 + 10 * S)
    assert (plan.creates, plan.patches, plan.deletes) == ([], [], [])
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "TrainingJobNotFound")]
    assert cond(d, "Ready") == ("False", "TrainingJobNotFound", "TrainingJob run-9 not found")
    assert cond(d, "Degraded")[1] == "TrainingJobNotFound"
    assert d.status.phase == "Degraded"
    assert d.status.stable.model == V1
    quiet(d, T0 + 11 * S)


def test_a_missing_reference_does_not_stop_a_running_canary() -> None:
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    d.source = Source(None, "TrainingJobNotFound", "gone")
    d.cluster.settle(CANARY)
    d.reconcile(T0 + 11 * S)
    assert d.status.canary is not None
    assert d.status.canary.step_index == 1


# --- someone else's objects ---------------------------------------------------------------


def test_a_child_name_taken_by_another_owner_is_not_touched() -> None:
    d = Driver(make())
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": STABLE,
            "labels": {"mlops.dev/variant": "stable"},
            "ownerReferences": [{"kind": "Rollout", "uid": "argo-uid", "controller": True}],
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": []}}},
    }
    d.cluster.put(foreign)
    plan = d.reconcile(T0)
    assert (plan.creates, plan.patches, plan.deletes) == ([], [], [])
    assert d.status.phase == "Degraded"
    assert cond(d, "Degraded") == (
        "True",
        "NotOwned",
        "Deployment sentiment-stable exists and is not controlled by this ModelDeployment",
    )
    assert d.reasons() == ["NotOwned"]
    quiet(d, T0 + S)


# --- history ------------------------------------------------------------------------------


def test_history_keeps_the_last_ten() -> None:
    d = Driver(make(rollout=None))
    deployed(d)
    for i in range(2, 15):
        d.edit(model={"uri": f"s3://m/v{i}"})
        d.reconcile(T0 + i * 10 * S)
    history = d.status.history or []
    assert len(history) == HISTORY_LIMIT
    assert [h.revision for h in history] == list(range(5, 15))


@pytest.mark.parametrize("n", [0])
def test_no_stable_replicas_replaces_at_once(n: int) -> None:
    d = Driver(make(replicas=n))
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 10 * S)
    assert d.status.canary is None
    assert d.cluster.model(STABLE) == V2
    assert (
        d.status.history[-1].message
        == "replaced revision 1 at once (no stable replicas to compare with)"
    )


def test_an_analysis_step_completed_by_a_background_measurement_says_it_passed() -> None:
    # A pause of whole intervals: the background measurement due as the pause ends
    # completes the pause and the analysis step after it in one reconcile.
    steps = [{"setWeight": 50}, {"pause": {"duration": "2m"}}, {"analysis": {}}, {"setWeight": 100}]
    d = Driver(make(rollout={"canary": {"steps": steps, "analysis": ANALYSIS}}))
    deployed(d)
    d.edit(model={"uri": V2})
    t = T0 + 60 * S
    d.reconcile(t)
    d.cluster.settle(CANARY)
    d.reconcile(t + S)  # setWeight 50 reached: the pause starts, background analysis runs
    d.reconcile(t + S, readings(d, t + S, canary=0.01))
    assert ("AnalysisPassed", "error-rate = 0.01 (canary; stable 0.01)") in d.events()
    d.reconcile(t + 61 * S, readings(d, t + 61 * S, canary=0.01))  # quiet background pass
    before = len(d.events())
    d.reconcile(t + 121 * S, readings(d, t + 121 * S, canary=0.01))  # the pause ends
    told = d.events()[before:]
    reasons = [reason for reason, _ in told]
    assert "StepCompleted" in reasons
    assert any("(analysis) completed" in message for _, message in told), told
    analysis_done = next(i for i, (_, m) in enumerate(told) if "(analysis) completed" in m)
    assert "AnalysisPassed" in reasons[:analysis_done], told


def test_a_step_start_is_stored_rounded_up_so_a_pause_never_ends_early() -> None:
    from mlops_operator.core.serving.reconcile import whole_second

    assert whole_second(T0) == T0
    assert whole_second(T0 + timedelta(milliseconds=1)) == T0 + S
    d = Driver(make())
    deployed(d)
    d.edit(model={"uri": V2})
    d.reconcile(T0 + 60 * S + timedelta(milliseconds=900))
    assert d.status.canary is not None
    assert d.status.canary.step_started_at == T0 + 61 * S
