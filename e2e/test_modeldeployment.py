"""ModelDeployment end to end: canary rollouts on the real control plane, judged by a real
Prometheus that scrapes values the test sets.

The operator runs as its own process. The real Deployment controller makes the pods, KWOK
plays the kubelet, and Prometheus scrapes the test's exporter every second, so what the
analysis sees is exactly ``model_error_ratio{namespace, name, variant}`` as the test
publishes it. Nothing here writes the status of a Deployment or pod. Each test asserts what
a user sees: status, conditions, Events, the Deployments, their pods and their MODEL_URI.

The Prometheus-stopped test is last in the file: that Prometheus is shared with every
session on the cluster, so it runs after the others and stops it only briefly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from e2e.modeldeployments import (
    ErrorRatio,
    GatewayStandIn,
    ModelDeployments,
    Recorder,
    Routes,
    analysis,
    http_route,
    manifest,
    model_of,
    parse_time,
    pod_annotations,
)
from e2e.objects import condition, event_time
from e2e.operator_process import OperatorProcess
from e2e.trainingjobs import COMPLETE_DELAY, TrainingJobs
from e2e.trainingjobs import manifest as trainingjob
from localcluster.exporter import Exporter
from localcluster.kwok import NEVER_READY_ANNOTATION, READY_DELAY_ANNOTATION
from localcluster.prometheus import PrometheusServer
from localcluster.waiting import wait_for
from mlops_operator.api.keys import ABORT_ANNOTATION, PROMOTE_ANNOTATION, REVISION_LABEL

OPERATOR_MANAGER = "mlops-operator"  # its user agent, hence its field manager


@pytest.fixture
def mds(k8s: client.ApiClient, namespace: str, operator: OperatorProcess) -> ModelDeployments:
    """ModelDeployments in the test's namespace, with the operator running."""
    return ModelDeployments(k8s, namespace)


@pytest.fixture
def errors(exporter: Exporter, namespace: str) -> Callable[[str], ErrorRatio]:
    """``errors(md)``: the error ratio of ModelDeployment ``md``, per variant."""
    return lambda name: ErrorRatio(exporter, namespace, name)


def models(name: str) -> Iterator[str]:
    version = 0
    while True:
        version += 1
        yield f"s3://models/{name}/v{version}"


def in_order(seen: list[Any], wanted: list[Any]) -> bool:
    """Whether ``wanted`` occurs in ``seen`` in that order (not necessarily adjacent)."""
    it = iter(seen)
    return all(any(x == w for x in it) for w in wanted)


def stable_snapshot(mds: ModelDeployments, name: str) -> tuple[Any, ...]:
    """What must not change about the stable during a canary: the Deployment's uid,
    generation (any spec change bumps it: scaling, a new template), replicas, model, and
    its pods."""
    d = mds.deployment(name, "stable")
    return (
        d.metadata.uid,
        d.metadata.generation,
        d.spec.replicas,
        model_of(d),
        mds.pod_names(name, "stable"),
    )


def test_good_canary_goes_10_50_100_with_analysis_and_is_promoted(
    mds: ModelDeployments, errors: Callable[[str], ErrorRatio], prometheus: PrometheusServer
) -> None:
    name = "good"
    v1, v2 = "s3://models/good/v1", "s3://models/good/v2"
    ratio = errors(name)
    ratio.set("stable", 0.01)
    ratio.set("canary", 0.02)
    steps: list[dict[str, Any]] = [
        {"setWeight": 10},
        {"pause": {"duration": "2s"}},
        {"analysis": {}},
        {"setWeight": 50},
        {"pause": {"duration": "2s"}},
        {"analysis": {}},
        {"setWeight": 100},
    ]
    mds.create(
        manifest(name, v1, replicas=4, steps=steps, analysis=analysis(prometheus.url), deadline=60)
    )
    first = mds.wait_stable(name, v1)
    assert first["stable"]["revision"] == 1
    assert model_of(mds.deployment(name, "stable")) == v1
    wait_for(lambda: len(mds.pods(name, "stable")) == 4, 30, "4 stable pods")

    with Recorder(mds, name) as rec:
        mds.set_model(name, v2)
        done = mds.wait_stable(name, v2, timeout=60)

    # Replica routing with 4 stable replicas: 1, 2, then 4 canary pods; each weight counted
    # only once its pods were ready, as the share of ready pods: 1/5, 2/6, 4/8.
    assert in_order(rec.values("canary_replicas"), [0, 1, 2, 4]), rec.values("canary_replicas")
    weights = [s["weight"] for s in rec.samples if s["canary"] == v2]
    assert in_order(weights, [20, 33, 50]), weights
    assert rec.values("stable")[:2] == [v1, v2], rec.values("stable")

    completed = mds.messages(name, "StepCompleted")
    assert completed == [
        "step 1/7 (setWeight 10) completed at weight 10",
        "step 2/7 (pause 2s) completed at weight 10",
        "step 3/7 (analysis) completed at weight 10",
        "step 4/7 (setWeight 50) completed at weight 50",
        "step 5/7 (pause 2s) completed at weight 50",
        "step 6/7 (analysis) completed at weight 50",
        "step 7/7 (setWeight 100) completed at weight 100",
    ]
    # Both analysis steps measured and passed; nothing failed or went without data.
    measured = [s for s in rec.samples if s["canary"] == v2 and s["successes"] is not None]
    assert max(s["successes"] for s in measured) >= 2
    assert {(s["failures"], s["inconclusive"]) for s in measured} == {(0, 0)}
    passed = mds.messages(name, "AnalysisPassed")
    assert passed
    assert "error-ratio = 0.02 (canary; stable 0.01)" in passed[0]

    # Promoted: the stable serves v2, the canary is gone, history says so.
    assert done["stable"] == {"model": v2, "revision": 2, "replicas": 4, "readyReplicas": 4}
    assert "canary" not in done
    assert [(h["revision"], h["model"], h["outcome"], h["reason"]) for h in done["history"]] == [
        (1, v1, "Promoted", "Initial"),
        (2, v2, "Promoted", "Promoted"),
    ]
    assert condition(done, "Ready")["status"] == "True"
    assert condition(done, "Degraded")["status"] == "False"
    stable = mds.deployment(name, "stable")
    assert model_of(stable) == v2
    assert stable.spec.template.metadata.labels[REVISION_LABEL] == "2"
    assert mds.deployment(name, "canary").spec.replicas == 0
    wait_for(lambda: not mds.pods(name, "canary"), 30, "the canary's pods to go")
    pods = mds.pods(name, "stable")
    assert len(pods) == 4
    assert {model_of_pod(p) for p in pods} == {v2}
    reasons = mds.reasons(name)
    assert in_order(reasons, ["Deployed", "RolloutStarted", "Promoting", "Promoted"]), reasons
    assert "Aborted" not in reasons


def model_of_pod(pod: Any) -> str | None:
    env = pod.spec.containers[0].env or []
    return next((e.value for e in env if e.name == "MODEL_URI"), None)


def test_bad_canary_is_aborted_and_the_stable_is_untouched(
    mds: ModelDeployments, errors: Callable[[str], ErrorRatio], prometheus: PrometheusServer
) -> None:
    name = "bad"
    v1, v2 = "s3://models/bad/v1", "s3://models/bad/v2"
    ratio = errors(name)
    ratio.set("stable", 0.01)
    ratio.set("canary", 0.2)
    mds.create(
        manifest(
            name,
            v1,
            steps=[{"setWeight": 50}, {"analysis": {}}, {"setWeight": 100}],
            analysis=analysis(prometheus.url),
            deadline=60,
        )
    )
    mds.wait_stable(name, v1)
    wait_for(lambda: len(mds.pods(name, "stable")) == 2, 30, "2 stable pods")
    before = stable_snapshot(mds, name)

    with Recorder(mds, name) as rec:
        mds.set_model(name, v2)
        status = mds.wait_phase(name, "Degraded", timeout=30)
        time.sleep(2)  # and it stays aborted: the refused model is not tried again

    assert stable_snapshot(mds, name) == before  # same pods, same model, never scaled
    assert rec.values("stable") == [v1]
    assert not any(s["promoting"] for s in rec.samples)
    assert any(s["canary"] == v2 for s in rec.samples)  # there was a canary

    status = mds.status(name)
    assert status["phase"] == "Degraded"
    assert "canary" not in status
    assert status["stable"]["model"] == v1
    degraded = condition(status, "Degraded")
    assert degraded["status"] == "True"
    assert degraded["reason"] == "AnalysisFailed"
    assert f"model {v2} (revision 2) aborted" in degraded["message"]
    assert "error-ratio = 0.2 outside [max 0.05] (canary; stable 0.01)" in degraded["message"]
    assert status["aborted"]["reason"] == "AnalysisFailed"
    assert status["aborted"]["model"] == v2
    last = status["history"][-1]
    assert (last["model"], last["outcome"], last["reason"]) == (v2, "Aborted", "AnalysisFailed")
    assert condition(status, "Ready")["status"] == "True"  # the stable still serves

    canary = mds.deployment(name, "canary")
    assert canary.spec.replicas == 0
    wait_for(lambda: not mds.pods(name, "canary"), 30, "the canary's pods to go")
    aborted = mds.wait_event(name, "Aborted")
    assert aborted.type == "Warning"
    assert "AnalysisFailed" in aborted.message
    assert "error-ratio = 0.2" in aborted.message
    assert mds.reasons(name).count("RolloutStarted") == 1


def test_no_data_holds_without_promoting_then_aborts_with_nodata_at_the_deadline(
    mds: ModelDeployments, errors: Callable[[str], ErrorRatio], prometheus: PrometheusServer
) -> None:
    name = "nodata"
    v1, v2 = "s3://models/nodata/v1", "s3://models/nodata/v2"
    deadline = 6
    errors(name).set("stable", 0.01)  # and no canary series at all
    mds.create(
        manifest(
            name,
            v1,
            steps=[{"setWeight": 50}, {"analysis": {}}, {"setWeight": 100}],
            analysis=analysis(prometheus.url),
            deadline=deadline,
        )
    )
    mds.wait_stable(name, v1)
    before = stable_snapshot(mds, name)

    with Recorder(mds, name) as rec:
        mds.set_model(name, v2)
        holding = mds.wait(
            name,
            lambda s: (c := condition(s, "Progressing")) is not None and c["reason"] == "NoData",
            "Progressing with reason NoData",
        )
        progressing = condition(holding, "Progressing")
        assert "step 2/3 (analysis)" in progressing["message"]
        assert "holding: no data for metric error-ratio (canary)" in progressing["message"]
        assert holding["phase"] == "Progressing"
        assert holding["canary"]["stepIndex"] == 1
        step_started = parse_time(holding["canary"]["stepStartedAt"])
        status = mds.wait_phase(name, "Degraded", timeout=deadline + 10)

    canary_samples = [s for s in rec.samples if s["canary"] == v2]
    assert canary_samples
    assert not any(s["promoting"] for s in rec.samples)
    assert {s["step"] for s in canary_samples} <= {0, 1}  # never past the analysis
    assert {s["weight"] for s in canary_samples if s["step"] == 1} == {33}  # 1 of 3 pods
    assert rec.values("stable") == [v1]
    assert stable_snapshot(mds, name) == before

    assert status["aborted"]["reason"] == "NoData"
    assert f"did not complete within {deadline}s" in status["aborted"]["message"]
    took = (parse_time(status["aborted"]["time"]) - step_started).total_seconds()
    assert deadline <= took <= deadline + 3, took
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == "NoData"
    assert "no data for metric error-ratio (canary)" in degraded["message"]
    last = status["history"][-1]
    assert (last["model"], last["outcome"], last["reason"]) == (v2, "Aborted", "NoData")
    inconclusive = mds.wait_event(name, "AnalysisInconclusive")
    assert inconclusive.type == "Warning"
    assert "no data for metric error-ratio (canary)" in inconclusive.message
    assert "NoData" in mds.wait_event(name, "Aborted").message
    assert "Promoting" not in mds.reasons(name)
    assert mds.deployment(name, "canary").spec.replicas == 0


def test_canary_pods_that_never_become_ready_abort_at_the_progress_deadline(
    mds: ModelDeployments, k8s: client.ApiClient, namespace: str
) -> None:
    name = "unready"
    v1, v2 = "s3://models/unready/v1", "s3://models/unready/v2"
    deadline = 5
    with pod_annotations(k8s, namespace, "canary", {NEVER_READY_ANNOTATION: "true"}):
        mds.create(
            manifest(name, v1, steps=[{"setWeight": 50}, {"setWeight": 100}], deadline=deadline)
        )
        mds.wait_stable(name, v1)
        before = stable_snapshot(mds, name)
        mds.set_model(name, v2)
        started = parse_time(mds.wait_canary(name, v2)["canary"]["startedAt"])

        def running_unready() -> list[Any]:
            pods = mds.pods(name, "canary")
            return [
                p
                for p in pods
                if p.status.phase == "Running"
                and any(c.type == "Ready" and c.status == "False" for c in p.status.conditions)
            ]

        pods = wait_for(running_unready, 20, "a canary pod Running but not Ready")
        assert pods[0].metadata.annotations[NEVER_READY_ANNOTATION] == "true"
        holding = mds.status(name)
        assert holding["canary"]["weight"] == 0  # not ready: it serves nothing
        assert "canary 0/1 pods ready" in condition(holding, "Progressing")["message"]
        status = mds.wait_phase(name, "Degraded", timeout=deadline + 15)

    assert status["aborted"]["reason"] == "ProgressDeadlineExceeded"
    took = (parse_time(status["aborted"]["time"]) - started).total_seconds()
    assert deadline - 1 <= took <= deadline + 3, took
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == "ProgressDeadlineExceeded"
    assert "step 1/2 (setWeight 50) did not complete within 5s" in degraded["message"]
    assert "canary 0/1 pods ready" in degraded["message"]
    assert "ProgressDeadlineExceeded" in mds.wait_event(name, "Aborted").message
    assert mds.deployment(name, "canary").spec.replicas == 0
    wait_for(lambda: not mds.pods(name, "canary"), 30, "the canary's pods to go")
    assert stable_snapshot(mds, name) == before


def managers(obj: dict[str, Any]) -> set[tuple[str, str]]:
    """``(manager, subresource)`` of each managedFields entry."""
    return {(e["manager"], e.get("subresource", "")) for e in obj["metadata"]["managedFields"]}


def test_manual_promote_and_abort_by_annotation_once_per_value(mds: ModelDeployments) -> None:
    name = "manual"
    v = models(name)
    v1 = next(v)
    # Wait for a human at 50 %: a pause without a duration.
    mds.create(manifest(name, v1, steps=[{"setWeight": 50}, {"pause": {}}], deadline=60))
    mds.wait_stable(name, v1)
    edits = 1  # spec versions the test wrote, to check the operator wrote none

    def canary_waiting(model: str) -> dict[str, Any]:
        status = mds.wait_canary(name, model, step=1)
        paused = mds.wait(
            name,
            lambda s: (c := condition(s, "Paused")) is not None and c["status"] == "True",
            "Paused=True",
        )
        assert paused["phase"] == "Paused"
        assert condition(paused, "Paused")["reason"] == "WaitingForPromote"
        return status

    # Promote twice in a row, each with a new value.
    for value in ("p1", "p2"):
        model = next(v)
        mds.set_model(name, model)
        edits += 1
        canary_waiting(model)
        mds.annotate(name, {PROMOTE_ANNOTATION: value})
        status = mds.wait_stable(name, model)
        assert status["handledPromote"] == value
        assert model_of(mds.deployment(name, "stable")) == model
        mds.wait_event(name, "Promoting", f"promoted by annotation {PROMOTE_ANNOTATION}={value}")

    # The value handled last is still there: the next canary is not promoted by it.
    held = next(v)
    mds.set_model(name, held)
    edits += 1
    canary_waiting(held)
    time.sleep(2)
    status = mds.status(name)
    assert status["canary"]["model"] == held
    assert status["canary"]["stepIndex"] == 1
    assert status["phase"] == "Paused"
    assert status["handledPromote"] == "p2"

    # Abort twice in a row, each with a new value.
    stable = status["stable"]["model"]
    for value in ("a1", "a2"):
        if value == "a2":
            held = next(v)  # a new model: a new chance
            mds.set_model(name, held)
            edits += 1
            canary_waiting(held)
        mds.annotate(name, {ABORT_ANNOTATION: value})
        status = mds.wait_phase(name, "Degraded")
        assert status["aborted"]["reason"] == "ManualAbort"
        assert status["aborted"]["model"] == held
        assert status["handledAbort"] == value
        assert status["stable"]["model"] == stable
        assert "canary" not in status
        degraded = condition(status, "Degraded")
        assert f"aborted by annotation {ABORT_ANNOTATION}={value}" in degraded["message"]
        mds.wait_event(name, "Aborted", f"{ABORT_ANNOTATION}={value}")
        assert mds.deployment(name, "canary").spec.replicas == 0

    # A repeated abort value does nothing either.
    last = next(v)
    mds.set_model(name, last)
    edits += 1
    canary_waiting(last)
    time.sleep(2)
    status = mds.status(name)
    assert status["canary"]["model"] == last
    assert status["phase"] == "Paused"
    assert "aborted" not in status
    # And a new promote value still works.
    mds.annotate(name, {PROMOTE_ANNOTATION: "p3"})
    done = mds.wait_stable(name, last)

    outcomes = [(h["outcome"], h["reason"]) for h in done["history"]]
    assert outcomes == [
        ("Promoted", "Initial"),
        ("Promoted", "Promoted"),
        ("Promoted", "Promoted"),
        ("Aborted", "ManualAbort"),
        ("Aborted", "ManualAbort"),
        ("Promoted", "Promoted"),
    ]
    assert len(mds.messages(name, "Promoting")) == 3
    assert len(mds.messages(name, "Aborted")) == 2

    # GitOps-safe: the annotations are as the user left them, and the operator wrote
    # neither metadata nor spec (its only writes are to the status subresource).
    md = mds.get(name)
    annotations = md["metadata"].get("annotations") or {}
    assert annotations[PROMOTE_ANNOTATION] == "p3"
    assert annotations[ABORT_ANNOTATION] == "a2"
    assert not [k for k in annotations if k not in (PROMOTE_ANNOTATION, ABORT_ANNOTATION)]
    assert not md["metadata"].get("finalizers")
    assert md["metadata"]["generation"] == edits
    owners = managers(md)
    assert (OPERATOR_MANAGER, "status") in owners, owners
    assert {m for m, sub in owners if m == OPERATOR_MANAGER} == {OPERATOR_MANAGER}
    assert {sub for m, sub in owners if m == OPERATOR_MANAGER} == {"status"}, owners
    assert len({m for m, sub in owners if sub != "status"}) == 1, owners  # the test's alone


def test_a_trainingjobs_new_model_rolls_out_with_no_spec_edit(
    mds: ModelDeployments, tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    name = "served"
    run = "train"
    mds.create(
        manifest(
            name,
            {"trainingJobRef": {"name": run}},
            steps=[{"setWeight": 50}, {"pause": {"duration": "1s"}}, {"setWeight": 100}],
            deadline=60,
        )
    )
    # The run does not exist yet: nothing is served, and the user is told why.
    status = mds.wait(
        name,
        lambda s: (c := condition(s, "Ready")) is not None and c["reason"] == "TrainingJobNotFound",
        "Ready=False with reason TrainingJobNotFound",
    )
    ready = condition(status, "Ready")
    assert ready["status"] == "False"
    assert ready["message"] == f"TrainingJob {run} not found"
    assert "stable" not in status
    assert mds.deployment(name, "stable") is None
    mds.wait_event(name, "TrainingJobNotFound")

    def train(uri: str) -> None:
        tjs.create(
            trainingjob(
                run, gpusPerNode=1, output={"modelUri": uri}, annotations={COMPLETE_DELAY: "1s"}
            )
        )

    v1, v2 = "s3://models/train/run-1", "s3://models/train/run-2"
    train(v1)
    status = mds.wait_stable(name, v1, timeout=60)
    assert status["stable"]["trainingJob"] == run
    assert condition(status, "Ready")["status"] == "True"
    assert model_of(mds.deployment(name, "stable")) == v1
    generation = mds.get(name)["metadata"]["generation"]

    # The pipeline trains again under the same name: the TrainingJob is applied anew with
    # a new output. The ModelDeployment's spec is not touched.
    tjs.delete(run)
    wait_for(lambda: not tjs.exists(run), 30, "the old run to be gone")
    with Recorder(mds, name) as rec:
        train(v2)
        tjs.wait_phase(run, "Succeeded", timeout=60)
        done = mds.wait_stable(name, v2, timeout=60)

    assert mds.get(name)["metadata"]["generation"] == generation  # no spec edit
    assert any(s["canary"] == v2 and s["step"] is not None for s in rec.samples)  # a canary
    last = done["history"][-1]
    assert (last["model"], last["outcome"], last["trainingJob"]) == (v2, "Promoted", run)
    assert done["stable"]["trainingJob"] == run
    assert model_of(mds.deployment(name, "stable")) == v2
    mds.wait_event(name, "RolloutStarted", f"canary of model {v2}")


def replace_canary(
    mds: ModelDeployments, k8s: client.ApiClient, namespace: str, name: str
) -> tuple[dict[str, Any], dict[str, Any], Recorder, tuple[Any, ...]]:
    """v1 stable, v2 canary waiting at a pause, then v3: returns the status once v3 waits
    there too, v2's status at its pause, what was recorded, and the stable before."""
    v1, v2, v3 = (f"s3://models/{name}/v{i}" for i in (1, 2, 3))
    # Canary pods take 2 s to become ready, so step 0 (setWeight 50) is seen waiting.
    with pod_annotations(k8s, namespace, "canary", {READY_DELAY_ANNOTATION: "2s"}):
        mds.create(manifest(name, v1, steps=[{"setWeight": 50}, {"pause": {}}], deadline=60))
        mds.wait_stable(name, v1)
        before = stable_snapshot(mds, name)
        mds.set_model(name, v2)
        first = mds.wait_canary(name, v2, step=1)
        with Recorder(mds, name) as rec:
            mds.set_model(name, v3)
            status = mds.wait_canary(name, v3, step=1)
    return status, first, rec, before


def test_a_new_model_mid_canary_restarts_the_canary_at_step_0(
    mds: ModelDeployments, k8s: client.ApiClient, namespace: str
) -> None:
    name = "restart"
    v2, v3 = "s3://models/restart/v2", "s3://models/restart/v3"
    status, first, rec, before = replace_canary(mds, k8s, namespace, name)
    assert first["canary"]["revision"] == 2
    assert status["canary"]["revision"] == 3
    assert parse_time(status["canary"]["startedAt"]) >= parse_time(first["canary"]["startedAt"])
    v3_steps = [s["step"] for s in rec.samples if s["canary"] == v3]
    assert v3_steps[0] == 0, v3_steps  # back at step 0...
    assert status["canary"]["stepIndex"] == 1  # ...then on from there
    superseded = status["history"][-1]
    assert (superseded["model"], superseded["outcome"], superseded["reason"]) == (
        v2,
        "Aborted",
        "Superseded",
    )
    assert "aborted" not in status  # superseded is not a refusal
    canary = mds.deployment(name, "canary")
    assert model_of(canary) == v3
    wait_for(
        lambda: [p.metadata.labels[REVISION_LABEL] for p in mds.pods(name, "canary")] == ["3"],
        30,
        "one canary pod, of revision 3",
    )
    assert stable_snapshot(mds, name) == before
    mds.wait_event(name, "RolloutStarted", f"canary of model {v3} (revision 3)")


def test_a_replaced_canary_serves_no_weight_until_its_own_pods_are_ready(
    mds: ModelDeployments, k8s: client.ApiClient, namespace: str
) -> None:
    name = "reweigh"
    v3 = "s3://models/reweigh/v3"
    _, _, rec, _ = replace_canary(mds, k8s, namespace, name)
    # While v3's pod is not ready, only v2's pod serves: v3 takes no traffic yet.
    waiting = [s["weight"] for s in rec.samples if s["canary"] == v3 and s["step"] == 0]
    assert waiting
    assert set(waiting) == {0}, waiting


def test_a_killed_operator_resumes_each_kind_of_step_where_it_was(
    mds: ModelDeployments,
    operator: OperatorProcess,
    errors: Callable[[str], ErrorRatio],
    prometheus: PrometheusServer,
    k8s: client.ApiClient,
    namespace: str,
) -> None:
    name = "resume"
    v1, v2 = "s3://models/resume/v1", "s3://models/resume/v2"
    # Long enough that the operator is back before it ends, even on a busy machine.
    pause = 20
    ratio = errors(name)
    ratio.set("stable", 0.01)
    # The canary fails its measurements (tolerated up to 100 times) until the test fixes
    # it: the analysis step then keeps measuring again, and is there to be killed at.
    ratio.set("canary", 0.2)
    steps: list[dict[str, Any]] = [
        {"setWeight": 50},
        {"pause": {"duration": f"{pause}s"}},
        {"analysis": {}},
        {"setWeight": 100},
    ]

    def canary_state() -> tuple[Any, ...]:
        d = mds.deployment(name, "canary")
        return d.metadata.generation, d.spec.replicas, mds.pod_names(name, "canary")

    # Canary pods become ready 6 s after they start: time to kill mid-setWeight.
    with pod_annotations(k8s, namespace, "canary", {READY_DELAY_ANNOTATION: "6s"}):
        mds.create(
            manifest(
                name,
                v1,
                steps=steps,
                analysis=analysis(prometheus.url, failure_limit=100),
                deadline=60,
            )
        )
        mds.wait_stable(name, v1)
        stable = stable_snapshot(mds, name)
        mds.set_model(name, v2)

        with Recorder(mds, name) as rec:
            # 1. setWeight: the canary's pod exists and is not ready yet.
            at_weight = mds.wait_canary(name, v2, step=0)
            wait_for(lambda: mds.pods(name, "canary"), 10, "a canary pod")
            canary_before = canary_state()
            operator.kill()
            operator.start()
            after = mds.status(name)["canary"]
            if after["stepIndex"] == 0:  # (the pod may have become ready meanwhile)
                assert after["stepStartedAt"] == at_weight["canary"]["stepStartedAt"]
            assert canary_state()[:2] == canary_before[:2]  # not rewritten, not rescaled

            # 2. pause: killed 1 s in; it still ends `pause` s after it began.
            at_pause = mds.wait_canary(name, v2, step=1, timeout=30)
            pause_started = parse_time(at_pause["canary"]["stepStartedAt"])
            assert at_pause["canary"]["weight"] == 33
            assert canary_state() == canary_before  # the very same pod, never replaced
            time.sleep(1)
            operator.kill()
            operator.start()
            back = mds.status(name)["canary"]
            assert back["stepIndex"] == 1, "the operator took longer to start than the pause"
            assert back["stepStartedAt"] == at_pause["canary"]["stepStartedAt"]
            mds.wait_canary(name, v2, step=2, timeout=pause + 10)
            ended = event_time(mds.wait_event(name, "StepCompleted", f"pause {pause}s"))
            took = (ended - pause_started).total_seconds()
            assert pause <= took <= pause + 2.5, took  # not pause + the time it was down

            # 3. analysis: failing and measuring again when killed; fixed while it is down.
            failing = mds.wait(
                name,
                lambda s: (
                    (c := condition(s, "Progressing")) is not None
                    and c["reason"] == "AnalysisFailed"
                ),
                "measuring again after a failure at the analysis step",
            )
            failures = failing["canary"]["analysis"]["failures"]
            assert failing["canary"]["stepIndex"] == 2
            operator.kill()
            try:
                ratio.set("canary", 0.01)
            finally:
                operator.start()
            done = mds.wait_stable(name, v2, timeout=30)

    assert canary_state()[1] == 0
    at_analysis = [s for s in rec.samples if s["canary"] == v2 and s["step"] == 2]
    assert {s["started"] for s in at_analysis} == {failing["canary"]["stepStartedAt"]}
    counts = [s["failures"] for s in rec.samples if s["canary"] == v2 and s["failures"]]
    assert counts == sorted(counts)  # never reset by a restart
    assert counts[-1] >= failures
    # The same weight from the first step to the last: 1 canary pod of 3.
    assert {s["weight"] for s in rec.samples if s["canary"] == v2 and s["step"] in (1, 2)} == {33}
    assert stable_snapshot(mds, name)[0] == stable[0]
    last = done["history"][-1]
    assert (last["model"], last["outcome"]) == (v2, "Promoted")
    assert mds.messages(name, "StepCompleted") == [
        "step 1/4 (setWeight 50) completed at weight 50",
        f"step 2/4 (pause {pause}s) completed at weight 50",
        "step 3/4 (analysis) completed at weight 50",
        "step 4/4 (setWeight 100) completed at weight 100",
    ]
    assert mds.reasons(name).count("RolloutStarted") == 1
    assert "Aborted" not in mds.reasons(name)


def test_gateway_api_route_weights_follow_the_steps_and_go_back_on_abort(
    mds: ModelDeployments, k8s: client.ApiClient, namespace: str, gateway_api: list[str]
) -> None:
    name = "routed"
    route = "routed-web"
    v1, v2 = "s3://models/routed/v1", "s3://models/routed/v2"
    routes = Routes(k8s, namespace)
    routes.create(http_route(route, name))
    mds.create(
        manifest(
            name,
            v1,
            steps=[{"setWeight": 30}, {"setWeight": 60}, {"pause": {}}],
            deadline=120,
            http_route=route,
        )
    )
    mds.wait_stable(name, v1)
    assert routes.weights(route, name) == (100, 0)

    mds.set_model(name, v2)
    # No gateway controller runs here: the weights are written, nobody reports on the
    # route, and the rollout holds at its first step, saying why.
    holding = mds.wait(
        name,
        lambda s: (
            (c := condition(s, "Progressing")) is not None
            and "no gateway reports on HTTPRoute" in c["message"]
        ),
        "Progressing saying no gateway reports on the route",
        timeout=30,
    )
    assert (
        f"no gateway reports on HTTPRoute {route}" in condition(holding, "Progressing")["message"]
    )
    assert holding["canary"]["stepIndex"] == 0
    assert routes.weights(route, name) == (70, 30)
    assert not (routes.get(route).get("status") or {}).get("parents")
    time.sleep(2)
    assert mds.status(name)["canary"]["stepIndex"] == 0

    # The test now plays the gateway controller: it writes the route's status.parents
    # (a Gateway API route's status, as its controller would), accepting each generation.
    with GatewayStandIn(routes, route) as gateway:
        status = mds.wait(
            name,
            lambda s: (s.get("canary") or {}).get("stepIndex") == 2,
            "the canary at its pause, after 30 and 60",
            timeout=40,
        )
        assert routes.weights(route, name) == (40, 60)
        assert status["canary"]["weight"] == 60
        assert status["phase"] == "Paused"
        assert len(gateway.accepted) >= 2  # one generation per weight change
        mds.annotate(name, {ABORT_ANNOTATION: "now"})
        status = mds.wait_phase(name, "Degraded")
    assert status["aborted"]["reason"] == "ManualAbort"
    assert routes.weights(route, name) == (100, 0)  # all traffic back to the stable at once
    assert mds.deployment(name, "canary").spec.replicas == 0
    assert mds.messages(name, "StepCompleted") == [
        "step 1/3 (setWeight 30) completed at weight 30",
        "step 2/3 (setWeight 60) completed at weight 60",
    ]


def test_prometheus_stopped_mid_analysis_holds_and_promotes_once_it_is_back(
    mds: ModelDeployments,
    errors: Callable[[str], ErrorRatio],
    prometheus: PrometheusServer,
    k8s: client.ApiClient,
    namespace: str,
) -> None:
    name = "promdown"
    v1, v2 = "s3://models/promdown/v1", "s3://models/promdown/v2"
    ratio = errors(name)
    ratio.set("stable", 0.01)
    ratio.set("canary", 0.01)
    # Canary pods become ready 4 s after they start: Prometheus is stopped meanwhile, so the
    # analysis step that follows measures with Prometheus away.
    with pod_annotations(k8s, namespace, "canary", {READY_DELAY_ANNOTATION: "4s"}):
        mds.create(
            manifest(
                name,
                v1,
                steps=[{"setWeight": 50}, {"analysis": {}}, {"setWeight": 100}],
                analysis=analysis(prometheus.url),
                deadline=60,
            )
        )
        mds.wait_stable(name, v1)

        with Recorder(mds, name) as rec:
            mds.set_model(name, v2)
            mds.wait_canary(name, v2, step=0)
            # Shared with other sessions on this cluster: stopped for a few seconds only.
            with prometheus.stopped():
                holding = mds.wait(
                    name,
                    lambda s: (
                        (c := s.get("canary") or {}).get("stepIndex") == 1
                        and (c.get("analysis") or {}).get("lastResult") == "Inconclusive"
                    ),
                    "holding at the analysis step with Prometheus away",
                    timeout=15,
                )
                time.sleep(1.5)
                still = mds.status(name)
            back = time.time()
            done = mds.wait_stable(name, v2, timeout=30)

    progressing = condition(holding, "Progressing")
    assert progressing["reason"] == "NoData"
    assert "step 2/3 (analysis)" in progressing["message"]
    assert "error-ratio" in progressing["message"]
    assert still["canary"]["stepIndex"] == 1
    assert not still["canary"].get("promoting")
    assert still["canary"]["analysis"]["failures"] == 0  # unreachable is not a failure
    assert still["canary"]["analysis"]["successes"] == 0
    assert still["canary"]["analysis"]["inconclusive"] >= 2  # measured again, held again
    assert still["phase"] == "Progressing"
    assert not any(s["promoting"] for s in rec.samples if s["time"] < back)
    assert all(s["step"] in (None, 0, 1) for s in rec.samples if s["time"] < back)
    inconclusive = mds.wait_event(name, "AnalysisInconclusive")
    assert inconclusive.type == "Warning"
    assert "error-ratio" in inconclusive.message
    last = done["history"][-1]
    assert (last["model"], last["outcome"]) == (v2, "Promoted")
    assert "Aborted" not in mds.reasons(name)
    assert "step 2/3 (analysis) completed at weight 50" in mds.messages(name, "StepCompleted")
