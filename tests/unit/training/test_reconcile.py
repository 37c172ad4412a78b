"""Scenarios of one TrainingJob reconcile: spec + observed children + now -> the Plan.

Each test builds the TrainingJob from a realistic body, the children from realistic raw
Job and Pod objects (through the same functions the operator's caches use), and asserts
what the user would see: the writes, ``status`` and the Events.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.api.keys import (
    ATTEMPT_LABEL,
    MANAGED_BY,
    OPERATOR,
    RETRAINPOLICY_LABEL,
    TRAININGJOB_LABEL,
    TRIGGER_QUERY_ANNOTATION,
    TRIGGER_REASON_ANNOTATION,
    TRIGGER_TIME_ANNOTATION,
    TRIGGER_VALUE_ANNOTATION,
)
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.plan import Create, Delete, Event, Patch, Plan
from mlops_operator.core.training import builders
from mlops_operator.core.training.observed import (
    JobState,
    Observed,
    PodState,
    job_state,
    pod_state,
)
from mlops_operator.core.training.reconcile import (
    PODS_GRACE,
    PODS_RECHECK,
    QUEUE_GRACE,
    Reads,
    invalid,
    reads,
    reconcile,
)
from mlops_operator.settings import TrainingDefaults

D = TrainingDefaults()
TJ_UID = "5c2e0a8b-91d4-4f3a-8e6b-2d7c1f0a9b34"
T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # the TrainingJob is created
START = T0 + timedelta(seconds=5)  # attempt 1's pods start
DEADLINE = 7200
MODEL = "s3://ml-models/llm/run-7"
CHECKPOINT = "s3://ml-checkpoints/llm/run-7"
SCHEDULER_MESSAGE = (
    "0/6 nodes are available: 2 Insufficient nvidia.com/gpu, 4 node(s) didn't match "
    "Pod's node affinity/selector. preemption: 0/6 nodes are available: 6 Preemption is "
    "not helpful for scheduling."
)

BODY: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {
        "name": "llm",
        "namespace": "ml",
        "uid": TJ_UID,
        "generation": 1,
        "resourceVersion": "1001",
        "creationTimestamp": "2026-11-22T04:00:00Z",
    },
    "spec": {
        "image": "ghcr.io/example/llm-train:2.1.0",
        "command": ["torchrun"],
        "args": ["/app/train.py"],
        "framework": "pytorch",
        "nodes": 2,
        "gpusPerNode": 4,
        "dataset": {"uri": "s3://ml-data/web-text", "version": "v7"},
        "output": {"modelUri": MODEL},
        "checkpoint": {"uri": CHECKPOINT},
        "backoffLimit": 2,
        "activeDeadlineSeconds": DEADLINE,
    },
}


# --- builders of inputs -------------------------------------------------------------------


def make_tj(status: dict[str, Any] | None = None, **spec: Any) -> TrainingJob:
    """The run ``llm``, with spec fields replaced (None removes one) and a status."""
    raw = copy.deepcopy(BODY)
    for key, value in spec.items():
        if value is None:
            raw["spec"].pop(key, None)
        else:
            raw["spec"][key] = value
    if status is not None:
        raw["status"] = status
    return TrainingJob.model_validate(raw)


def with_status(tj: TrainingJob, plan: Plan[Any]) -> TrainingJob:
    """The TrainingJob as the next reconcile reads it, after the plan's status was written."""
    raw = tj.model_dump(by_alias=True, exclude_none=True, mode="json")
    raw["status"] = copy.deepcopy(dumped(plan))
    return TrainingJob.model_validate(raw)


def dumped(plan: Plan[Any]) -> dict[str, Any] | None:
    """The plan's status as the wire shape the operator would write."""
    if plan.status is None:
        return None
    out: dict[str, Any] = plan.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return out


def ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def cond(
    type_: str, status: str, reason: str, message: str, when: datetime, generation: int = 1
) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": ts(when),
        "observedGeneration": generation,
    }


def k8s_condition(type_: str, reason: str, message: str, when: datetime) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": ts(when),
        "lastTransitionTime": ts(when),
    }


def job(
    attempt: int,
    *,
    suspend: bool = False,
    start: datetime | None = START,
    active: int = 0,
    ready: int = 0,
    succeeded: int = 0,
    failed: int = 0,
    conditions: list[dict[str, Any]] | None = None,
    completion: datetime | None = None,
    deleting: bool = False,
) -> JobState:
    """Attempt ``attempt``'s Job as the Job controller reports it, through the cache's view."""
    status: dict[str, Any] = {"terminating": 0, "uncountedTerminatedPods": {}}
    for key, value in (("active", active), ("succeeded", succeeded), ("failed", failed)):
        if value:
            status[key] = value
    status["ready"] = ready
    if start is not None:
        status["startTime"] = ts(start)
    if completion is not None:
        status["completionTime"] = ts(completion)
    if conditions:
        status["conditions"] = conditions
    metadata: dict[str, Any] = {
        "name": f"llm-a{attempt}",
        "namespace": "ml",
        "uid": f"job-uid-{attempt}",
        "labels": {
            MANAGED_BY: OPERATOR,
            TRAININGJOB_LABEL: "llm",
            ATTEMPT_LABEL: str(attempt),
        },
    }
    if deleting:
        metadata["deletionTimestamp"] = ts(START)
    state = job_state(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata,
            "spec": {"completionMode": "Indexed", "completions": 2, "suspend": suspend},
            "status": status,
        }
    )
    assert state is not None
    return state


def running(attempt: int = 1, ready: int = 2, start: datetime = START) -> JobState:
    return job(attempt, active=2, ready=ready, start=start)


def failed(
    attempt: int, when: datetime, reason: str = "BackoffLimitExceeded", message: str = ""
) -> JobState:
    message = message or {
        "BackoffLimitExceeded": "Job has reached the specified backoff limit",
        "DeadlineExceeded": "Job was active longer than specified deadline",
    }.get(reason, "")
    return job(
        attempt,
        failed=1,
        conditions=[
            k8s_condition("FailureTarget", reason, message, when),
            k8s_condition("Failed", reason, message, when),
        ],
    )


def complete(attempt: int, when: datetime) -> JobState:
    msg = "Reached expected completions"
    return job(
        attempt,
        succeeded=2,
        completion=when,
        conditions=[
            k8s_condition("SuccessCriteriaMet", "CompletionsReached", msg, when),
            k8s_condition("Complete", "CompletionsReached", msg, when),
        ],
    )


def suspended(attempt: int = 1, start: datetime | None = None) -> JobState:
    return job(
        attempt,
        suspend=True,
        start=start,
        conditions=[k8s_condition("Suspended", "JobSuspended", "Job suspended", T0)],
    )


def pod(attempt: int, index: int, status: dict[str, Any]) -> PodState:
    state = pod_state(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"llm-a{attempt}-{index}-x7k2p",
                "namespace": "ml",
                "labels": {
                    MANAGED_BY: OPERATOR,
                    TRAININGJOB_LABEL: "llm",
                    ATTEMPT_LABEL: str(attempt),
                    "batch.kubernetes.io/job-completion-index": str(index),
                },
                "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
            },
            "status": status,
        }
    )
    assert state is not None
    return state


def running_pod(attempt: int, index: int) -> PodState:
    return pod(
        attempt,
        index,
        {
            "phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {"name": "trainer", "ready": True, "state": {"running": {"startedAt": ts(START)}}}
            ],
        },
    )


def unschedulable_pod(attempt: int, index: int) -> PodState:
    return pod(
        attempt,
        index,
        {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": SCHEDULER_MESSAGE,
                    "lastTransitionTime": ts(START),
                }
            ],
        },
    )


def failed_pod(attempt: int, index: int, code: int, reason: str) -> PodState:
    return pod(
        attempt,
        index,
        {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "trainer",
                    "ready": False,
                    "state": {"terminated": {"exitCode": code, "reason": reason}},
                }
            ],
        },
    )


def seen(*jobs: JobState, pods: tuple[PodState, ...] = (), service: bool = True) -> Observed:
    return Observed(jobs=jobs, pods=pods, service=service)


def created_status(attempt: int = 1) -> dict[str, Any]:
    """What the first reconcile wrote: attempt 1's Job was created at T0."""
    return {
        "phase": "Pending",
        "conditions": [
            cond("Created", "True", "JobCreated", f"attempt {attempt}: Job llm-a{attempt}", T0),
            cond("Running", "False", "NodesStarting", "0/2 nodes ready", T0),
        ],
        "observedGeneration": 1,
        "attempts": attempt,
        "nodes": {"active": 0, "ready": 0, "succeeded": 0, "failed": 0},
    }


def running_status(attempts: int = 1) -> dict[str, Any]:
    """A run whose attempt ``attempts`` had all nodes ready at START + 60s."""
    return {
        "phase": "Running",
        "conditions": [
            cond("Created", "True", "JobCreated", f"attempt {attempts}: Job llm-a{attempts}", T0),
            cond(
                "Running", "True", "AllNodesReady", "2/2 nodes ready", START + timedelta(seconds=60)
            ),
        ],
        "observedGeneration": 1,
        "startTime": ts(START),
        "attempts": attempts,
        "nodes": {"active": 2, "ready": 2, "succeeded": 0, "failed": 0},
    }


def condition(plan: Plan, type_: str) -> dict[str, Any]:
    assert dumped(plan) is not None
    found = [c for c in dumped(plan)["conditions"] if c["type"] == type_]
    assert len(found) == 1, f"want exactly one {type_} condition in {dumped(plan)['conditions']}"
    return found[0]


def condition_types(plan: Plan[Any]) -> list[str]:
    assert dumped(plan) is not None
    return [c["type"] for c in dumped(plan)["conditions"]]


# --- a new run ----------------------------------------------------------------------------


def test_new_run_creates_service_and_first_job() -> None:
    tj = make_tj()
    plan = reconcile(tj, Observed(), T0, D)
    assert plan.creates == [
        Create(builders.service(tj, D)),
        Create(builders.job(tj, 1, D, suspend=False, active_deadline_seconds=DEADLINE)),
    ]
    assert [(c.kind, c.name) for c in plan.creates] == [("Service", "llm-nodes"), ("Job", "llm-a1")]
    assert dumped(plan) == created_status()
    assert plan.events == [
        Event("Normal", "Created", "started attempt 1 (2 nodes x 4 GPUs, framework pytorch)")
    ]
    assert (plan.patches, plan.deletes, plan.requeue_after) == ([], [], None)


def test_new_single_node_cpu_run_says_so_in_the_created_event() -> None:
    tj = make_tj(framework="generic", nodes=1, gpusPerNode=0)
    plan = reconcile(tj, Observed(), T0, D)
    assert plan.events == [
        Event("Normal", "Created", "started attempt 1 (1 node, framework generic)")
    ]


def test_a_single_node_generic_run_gets_no_service() -> None:
    # Its one pod meets no one: no Service, one write and one cached object less per run.
    tj = make_tj(framework="generic", nodes=1)
    plan = reconcile(tj, Observed(), T0, D)
    assert [(c.kind, c.name) for c in plan.creates] == [("Job", "llm-a1")]
    pod = plan.creates[0].manifest["spec"]["template"]["spec"]
    assert "subdomain" not in pod
    assert "ports" not in pod["containers"][0]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"framework": "pytorch", "nodes": 1}, "torchrun's master"),
        ({"framework": "generic", "nodes": 2}, "two nodes"),
    ],
)
def test_a_run_with_a_rendezvous_gets_its_service(spec: dict[str, Any], why: str) -> None:
    tj = make_tj(**spec)
    plan = reconcile(tj, Observed(), T0, D)
    assert [(c.kind, c.name) for c in plan.creates] == [
        ("Service", "llm-nodes"),
        ("Job", "llm-a1"),
    ], why
    pod = plan.creates[1].manifest["spec"]["template"]["spec"]
    assert pod["subdomain"] == "llm-nodes"


def test_the_reconcile_after_creation_writes_no_new_status() -> None:
    # The Job now in the cache, its pods not yet started: nothing a user sees has moved,
    # so the status stays as written (one status write saved per run).
    tj = make_tj(status=created_status())
    plan = reconcile(tj, seen(JobState("llm-a1", "u1", 1, suspended=False)), T0, D)
    assert plan.creates == []
    assert dumped(plan) == created_status()


def test_existing_service_is_not_recreated() -> None:
    tj = make_tj()
    plan = reconcile(tj, Observed(service=True), T0, D)
    assert [(c.kind, c.name) for c in plan.creates] == [("Job", "llm-a1")]
    assert dumped(plan) == created_status()


def test_missing_service_is_recreated_for_a_running_run() -> None:
    tj = make_tj(status=running_status())
    plan = reconcile(tj, seen(running(), service=False), START + timedelta(minutes=5), D)
    assert plan.creates == [Create(builders.service(tj, D))]


def test_run_created_suspended_creates_a_suspended_job() -> None:
    tj = make_tj(suspend=True)
    plan = reconcile(tj, Observed(service=True), T0, D)
    assert plan.creates[0].manifest["spec"]["suspend"] is True
    assert plan.patches == []
    # One Event: it never had pods to stop.
    assert plan.events == [
        Event(
            "Normal",
            "Created",
            "created attempt 1 (2 nodes x 4 GPUs, framework pytorch), suspended",
        )
    ]


def test_generation_is_recorded_in_status_and_conditions() -> None:
    raw = copy.deepcopy(BODY)
    raw["metadata"]["generation"] = 4
    plan = reconcile(TrainingJob.model_validate(raw), Observed(), T0, D)
    assert dumped(plan) is not None
    assert dumped(plan)["observedGeneration"] == 4
    assert {c["observedGeneration"] for c in dumped(plan)["conditions"]} == {4}


# --- a live attempt -----------------------------------------------------------------------


def test_job_with_all_nodes_ready_is_running() -> None:
    tj = make_tj(status=created_status())
    now = START + timedelta(minutes=1)
    plan = reconcile(tj, seen(running()), now, D)
    assert dumped(plan) == {
        "phase": "Running",
        "conditions": [
            cond("Created", "True", "JobCreated", "attempt 1: Job llm-a1", T0),
            cond("Running", "True", "AllNodesReady", "2/2 nodes ready", now),
        ],
        "observedGeneration": 1,
        "startTime": ts(START),
        "attempts": 1,
        "nodes": {"active": 2, "ready": 2, "succeeded": 0, "failed": 0},
    }
    assert (plan.creates, plan.patches, plan.deletes, plan.events) == ([], [], [], [])


def test_requeue_after_is_the_time_left_before_the_deadline() -> None:
    tj = make_tj(status=running_status())
    now = START + timedelta(seconds=1000.25)
    plan = reconcile(tj, seen(running()), now, D)
    assert plan.requeue_after == pytest.approx(DEADLINE - 1000.25)


def test_no_deadline_no_requeue() -> None:
    tj = make_tj(status=running_status(), activeDeadlineSeconds=None)
    plan = reconcile(tj, seen(running()), START + timedelta(days=3), D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Running"
    assert plan.requeue_after is None


def test_nodes_still_starting_is_pending() -> None:
    tj = make_tj(status=created_status())
    now = START + timedelta(seconds=20)
    plan = reconcile(tj, seen(running(ready=1), pods=(running_pod(1, 0),)), now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Pending"
    assert condition(plan, "Running") == cond(
        "Running", "False", "NodesStarting", "1/2 nodes ready", T0
    )
    assert dumped(plan)["nodes"] == {"active": 2, "ready": 1, "succeeded": 0, "failed": 0}


def test_unschedulable_pods_explain_why_the_run_waits() -> None:
    tj = make_tj(status=created_status())
    now = START + timedelta(seconds=30)
    observed = seen(
        job(1, active=2, ready=1),
        pods=(unschedulable_pod(1, 1), running_pod(1, 0)),
    )
    plan = reconcile(tj, observed, now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Pending"
    running_condition = condition(plan, "Running")
    assert running_condition["status"] == "False"
    assert running_condition["reason"] == "Unschedulable"
    # Behaviour change (bounded pod reads): one pod is named, the pods are not counted.
    assert running_condition["message"] == (
        f"1/2 nodes ready; pod llm-a1-1-x7k2p cannot be scheduled: {SCHEDULER_MESSAGE}"
    )
    assert SCHEDULER_MESSAGE in running_condition["message"]
    assert plan.creates == []


def test_unschedulable_pods_raise_a_warning_event() -> None:
    tj = make_tj(status=created_status())
    observed = seen(job(1, active=2), pods=(unschedulable_pod(1, 0), unschedulable_pod(1, 1)))
    plan = reconcile(tj, observed, START + timedelta(seconds=30), D)
    assert plan.events == [
        Event(
            "Warning",
            "Unschedulable",
            f"0/2 nodes ready; pod llm-a1-0-x7k2p cannot be scheduled: {SCHEDULER_MESSAGE}",
        )
    ]


def test_unschedulable_after_admission_from_the_queue_raises_a_warning_event() -> None:
    status = created_status()
    status["phase"] = "Queued"
    tj = make_tj(status=status, queueName="team-a-gpus")
    observed = seen(job(1, active=2), pods=(unschedulable_pod(1, 0), unschedulable_pod(1, 1)))
    plan = reconcile(tj, observed, START + timedelta(seconds=30), D)
    assert plan.events == [
        Event(
            "Warning",
            "Unschedulable",
            f"0/2 nodes ready; pod llm-a1-0-x7k2p cannot be scheduled: {SCHEDULER_MESSAGE}",
        )
    ]


def test_a_running_attempt_with_a_finished_node_stays_running() -> None:
    tj = make_tj(status=running_status())
    observed = seen(job(1, active=1, ready=1, succeeded=1))
    plan = reconcile(tj, observed, START + timedelta(hours=1), D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Running"
    assert condition(plan, "Running")["status"] == "True"


# --- success ------------------------------------------------------------------------------


def test_complete_job_succeeds_with_the_model_uri() -> None:
    tj = make_tj(status=running_status())
    done = START + timedelta(seconds=5000)
    now = done + timedelta(seconds=2)
    plan = reconcile(tj, seen(complete(1, done)), now, D)
    message = f"attempt 1 completed; model at {MODEL}"
    assert dumped(plan) == {
        "phase": "Succeeded",
        "conditions": [
            cond("Created", "True", "JobCreated", "attempt 1: Job llm-a1", T0),
            cond("Running", "False", "Completed", message, now),
            cond("Succeeded", "True", "Completed", message, now),
        ],
        "observedGeneration": 1,
        "startTime": ts(START),
        "completionTime": ts(done),
        "attempts": 1,
        "nodes": {"active": 0, "ready": 0, "succeeded": 2, "failed": 0},
        "model": {"uri": MODEL},
        "metrics": {},  # read once: the pod wrote no termination message
    }
    assert plan.events == [Event("Normal", "Succeeded", message)]
    assert (plan.creates, plan.patches, plan.deletes, plan.requeue_after) == ([], [], [], None)


def test_success_without_output_records_no_model() -> None:
    tj = make_tj(status=running_status(), output=None)
    done = START + timedelta(seconds=5000)
    plan = reconcile(tj, seen(complete(1, done)), done, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Succeeded"
    assert "model" not in dumped(plan)
    assert plan.events == [Event("Normal", "Succeeded", "attempt 1 completed")]


def test_success_of_a_restarted_attempt_clears_restarting() -> None:
    status = running_status(attempts=2)
    status["conditions"].append(
        cond(
            "Restarting",
            "False",
            "AllNodesReady",
            "2/2 nodes ready",
            START + timedelta(seconds=900),
        )
    )
    tj = make_tj(status=status)
    done = START + timedelta(seconds=5000)
    plan = reconcile(tj, seen(failed(1, START), complete(2, done)), done, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Succeeded"
    assert condition(plan, "Restarting") == cond(
        "Restarting", "False", "Finished", "the run finished", START + timedelta(seconds=900)
    )


def test_run_that_completed_before_its_deadline_succeeds_even_if_seen_late() -> None:
    tj = make_tj(status=running_status())
    done = START + timedelta(seconds=DEADLINE - 200)
    plan = reconcile(tj, seen(complete(1, done)), START + timedelta(seconds=DEADLINE + 100), D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Succeeded"
    assert dumped(plan)["model"] == {"uri": MODEL}


# --- failure and restarts -----------------------------------------------------------------


def test_failed_attempt_restarts_the_whole_run_from_the_checkpoint() -> None:
    tj = make_tj(status=running_status())
    broke = START + timedelta(seconds=1000)
    now = broke + timedelta(milliseconds=500)
    observed = seen(failed(1, broke), pods=(failed_pod(1, 1, 1, "Error"),))
    plan = reconcile(tj, observed, now, D)

    remaining = DEADLINE - 1000.5
    assert plan.creates == [
        Create(builders.job(tj, 2, D, suspend=False, active_deadline_seconds=6200))
    ]
    new_job = plan.creates[0].manifest
    assert new_job["metadata"]["name"] == "llm-a2"
    assert new_job["spec"]["activeDeadlineSeconds"] == 6200  # what is left, rounded up
    env = {
        e["name"]: e.get("value")
        for e in new_job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["CHECKPOINT_URI"] == CHECKPOINT
    assert env["TRAININGJOB_ATTEMPT"] == "2"
    assert plan.requeue_after == pytest.approx(remaining)

    assert dumped(plan) == {
        "phase": "Restarting",
        "conditions": [
            # Still True: its lastTransitionTime stays at the first creation.
            cond("Created", "True", "JobCreated", "attempt 2: Job llm-a2", T0),
            cond("Running", "False", "NodesStarting", "0/2 nodes ready", now),
            cond("Restarting", "True", "Restarting", "attempt 2 is starting", now),
        ],
        "observedGeneration": 1,
        "startTime": ts(START),
        "attempts": 2,
        "nodes": {"active": 0, "ready": 0, "succeeded": 0, "failed": 0},
    }
    assert plan.events == [
        Event(
            "Warning",
            "Restarting",
            "attempt 1 failed: node 1 (pod llm-a1-1-x7k2p) exited with code 1 (Error); "
            f"starting attempt 2 of 3 from checkpoint {CHECKPOINT}",
        )
    ]
    assert (plan.patches, plan.deletes) == ([], [])


def test_restart_without_checkpoint_or_pods_names_the_jobs_reason() -> None:
    tj = make_tj(status=running_status(), checkpoint=None)
    now = START + timedelta(seconds=100)
    plan = reconcile(tj, seen(failed(1, now)), now, D)
    assert plan.events == [
        Event(
            "Warning",
            "Restarting",
            "attempt 1 failed: BackoffLimitExceeded: Job has reached the specified backoff "
            "limit; starting attempt 2 of 3",
        )
    ]
    assert [c.name for c in plan.creates] == ["llm-a2"]


def test_restarted_attempt_that_runs_is_running_and_no_longer_restarting() -> None:
    tj = make_tj(status=running_status())
    broke = START + timedelta(seconds=1000)
    first = reconcile(tj, seen(failed(1, broke)), broke, D)
    tj2 = with_status(tj, first)
    now = broke + timedelta(minutes=2)
    plan = reconcile(tj2, seen(failed(1, broke), running(2, start=broke)), now, D)
    assert plan.creates == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Running"
    assert dumped(plan)["attempts"] == 2
    assert dumped(plan)["startTime"] == ts(START)  # the first attempt's start
    assert condition(plan, "Running") == cond(
        "Running", "True", "AllNodesReady", "2/2 nodes ready", now
    )
    assert condition(plan, "Restarting") == cond(
        "Restarting", "False", "AllNodesReady", "2/2 nodes ready", now
    )


def test_restarted_attempt_still_starting_is_restarting() -> None:
    tj = make_tj(status=running_status())
    broke = START + timedelta(seconds=1000)
    tj2 = with_status(tj, reconcile(tj, seen(failed(1, broke)), broke, D))
    now = broke + timedelta(seconds=30)
    observed = seen(
        failed(1, broke),
        job(2, active=2, start=broke),
        pods=(unschedulable_pod(2, 0), unschedulable_pod(2, 1)),
    )
    plan = reconcile(tj2, observed, now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Restarting"
    assert condition(plan, "Running")["reason"] == "Unschedulable"
    assert condition(plan, "Restarting")["status"] == "True"


def test_failed_last_attempt_fails_the_run() -> None:
    status = running_status(attempts=3)
    tj = make_tj(status=status)
    broke = START + timedelta(seconds=3000)
    observed = seen(
        failed(1, START + timedelta(seconds=1000)),
        failed(2, START + timedelta(seconds=2000)),
        failed(3, broke),
        pods=(failed_pod(3, 0, 137, "OOMKilled"),),
    )
    now = broke + timedelta(seconds=1)
    plan = reconcile(tj, observed, now, D)
    message = (
        "attempt 3 failed: node 0 (pod llm-a3-0-x7k2p) exited with code 137 (OOMKilled); "
        "no attempts left (backoffLimit 2)"
    )
    assert plan.creates == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert dumped(plan)["completionTime"] == ts(now)
    assert dumped(plan)["attempts"] == 3
    assert condition(plan, "Failed") == cond("Failed", "True", "BackoffLimitExceeded", message, now)
    assert condition(plan, "Running") == cond(
        "Running", "False", "BackoffLimitExceeded", message, now
    )
    assert "Succeeded" not in condition_types(plan)
    assert plan.events == [Event("Warning", "BackoffLimitExceeded", message)]
    assert plan.deletes == []  # the failed Job's pods are already stopped
    assert plan.requeue_after is None


def test_without_backoff_limit_the_first_failure_is_final() -> None:
    tj = make_tj(status=running_status(), backoffLimit=None)
    now = START + timedelta(seconds=60)
    plan = reconcile(tj, seen(failed(1, now), pods=(failed_pod(1, 0, 2, "Error"),)), now, D)
    assert plan.creates == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert condition(plan, "Failed")["reason"] == "BackoffLimitExceeded"
    assert condition(plan, "Failed")["message"].endswith("no attempts left (backoffLimit 0)")


# --- deadline -----------------------------------------------------------------------------


def test_passing_the_deadline_fails_the_run_and_stops_its_job() -> None:
    tj = make_tj(status=running_status())
    now = START + timedelta(seconds=DEADLINE)
    plan = reconcile(tj, seen(running(), pods=(running_pod(1, 0), running_pod(1, 1))), now, D)
    message = f"the run exceeded activeDeadlineSeconds ({DEADLINE}s)"
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert dumped(plan)["completionTime"] == ts(now)
    assert condition(plan, "Failed") == cond("Failed", "True", "DeadlineExceeded", message, now)
    assert condition(plan, "Running") == cond("Running", "False", "DeadlineExceeded", message, now)
    assert Delete("Job", "llm-a1", "job-uid-1") in plan.deletes
    assert set(plan.deletes) == {Delete("Job", "llm-a1", "job-uid-1")}
    assert plan.events == [Event("Warning", "DeadlineExceeded", message)]
    assert plan.creates == []


def test_passing_the_deadline_deletes_the_running_job_once() -> None:
    tj = make_tj(status=running_status())
    plan = reconcile(tj, seen(running()), START + timedelta(seconds=DEADLINE + 1), D)
    assert plan.deletes == [Delete("Job", "llm-a1", "job-uid-1")]


def test_just_before_the_deadline_the_run_goes_on() -> None:
    tj = make_tj(status=running_status())
    plan = reconcile(tj, seen(running()), START + timedelta(seconds=DEADLINE - 1), D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Running"
    assert plan.deletes == []
    assert plan.requeue_after == pytest.approx(1.0)


def test_a_job_already_being_deleted_is_not_deleted_again() -> None:
    tj = make_tj(status=running_status())
    j = job(1, active=2, ready=2, deleting=True)
    plan = reconcile(tj, seen(j), START + timedelta(seconds=DEADLINE + 1), D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert plan.deletes == []


def test_jobs_own_deadline_failure_fails_the_run_without_a_restart() -> None:
    tj = make_tj(status=running_status())
    now = START + timedelta(seconds=DEADLINE - 3)  # the Job's clock ran a little ahead
    plan = reconcile(tj, seen(failed(1, now, "DeadlineExceeded")), now, D)
    assert plan.creates == []
    assert plan.deletes == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert condition(plan, "Failed")["reason"] == "DeadlineExceeded"
    assert dumped(plan)["attempts"] == 1


def test_start_time_is_taken_from_the_first_job_that_started() -> None:
    tj = make_tj(status=created_status(attempt=2))
    now = START + timedelta(seconds=1200)
    observed = seen(failed(1, START + timedelta(seconds=1000)), running(2, start=now))
    plan = reconcile(tj, observed, now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["startTime"] == ts(START)
    assert plan.requeue_after == pytest.approx(DEADLINE - 1200)


def test_suspended_time_does_not_count_toward_the_deadline() -> None:
    status = running_status()
    status["phase"] = "Suspended"
    status["conditions"].append(
        cond(
            "Suspended",
            "True",
            "Suspended",
            "suspended by spec.suspend",
            START + timedelta(seconds=1000),
        )
    )
    tj = make_tj(status=status, suspend=True)
    # Active for 1000 s, then suspended for three hours.
    now = START + timedelta(seconds=1000 + 3 * 3600)
    plan = reconcile(tj, seen(suspended(1, start=START)), now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Suspended"
    assert "Failed" not in condition_types(plan)


# --- suspend, resume, Kueue ----------------------------------------------------------------


def test_suspending_a_running_job_patches_it_and_shows_suspended() -> None:
    tj = make_tj(status=running_status(), suspend=True)
    now = START + timedelta(minutes=30)
    plan = reconcile(tj, seen(running()), now, D)
    assert plan.patches == [Patch("Job", "llm-a1", {"spec": {"suspend": True}})]
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Suspended"
    assert condition(plan, "Suspended") == cond(
        "Suspended", "True", "Suspended", "suspended by spec.suspend", now
    )
    assert condition(plan, "Running") == cond(
        "Running", "False", "Suspended", "suspended by spec.suspend", now
    )
    assert plan.events == [Event("Normal", "Suspended", "suspended: pods stopped")]
    assert (plan.creates, plan.deletes) == ([], [])


def test_a_suspended_job_is_not_patched_again() -> None:
    tj = make_tj(status=running_status(), suspend=True)
    now = START + timedelta(minutes=30)
    first = reconcile(tj, seen(running()), now, D)
    later = now + timedelta(seconds=10)
    plan = reconcile(with_status(tj, first), seen(suspended(1)), later, D)
    assert plan.patches == []
    assert plan.events == []
    assert dumped(plan) is not None
    assert dumped(first) is not None
    assert dumped(plan)["phase"] == "Suspended"
    # Only the node counts move (the pods are gone); conditions are untouched.
    assert dumped(plan)["conditions"] == dumped(first)["conditions"]
    assert dumped(plan)["nodes"] == {"active": 0, "ready": 0, "succeeded": 0, "failed": 0}


def test_resuming_patches_the_job_and_says_resumed() -> None:
    status = running_status()
    status["phase"] = "Suspended"
    suspended_at = START + timedelta(minutes=30)
    status["conditions"] = [
        cond("Created", "True", "JobCreated", "attempt 1: Job llm-a1", T0),
        cond("Running", "False", "Suspended", "suspended by spec.suspend", suspended_at),
        cond("Suspended", "True", "Suspended", "suspended by spec.suspend", suspended_at),
    ]
    tj = make_tj(status=status, suspend=False)
    now = START + timedelta(hours=1)
    plan = reconcile(tj, seen(suspended(1)), now, D)
    # The Job's own deadline restarts on resume, so it gets what the run has left:
    # 2 h budget + 30 min suspended - 1 h since the start.
    assert plan.patches == [
        Patch("Job", "llm-a1", {"spec": {"suspend": False, "activeDeadlineSeconds": 5400}})
    ]
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Pending"
    assert dumped(plan)["suspendedSeconds"] == 1800
    assert condition(plan, "Suspended") == cond("Suspended", "False", "Resumed", "resumed", now)
    assert condition(plan, "Running") == cond(
        "Running", "False", "Resuming", "resuming", suspended_at
    )
    assert plan.events == [Event("Normal", "Resumed", "resumed")]


def test_with_a_queue_a_suspended_job_is_queued_and_left_to_kueue() -> None:
    tj = make_tj(status=created_status(), queueName="team-a-gpus")
    now = T0 + timedelta(seconds=3)
    plan = reconcile(tj, seen(suspended(1)), now, D)
    assert plan.patches == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Queued"
    message = "waiting for Kueue to admit it from queue team-a-gpus"
    assert condition(plan, "Queued") == cond("Queued", "True", "WaitingForAdmission", message, now)
    assert condition(plan, "Running") == cond(
        "Running", "False", "WaitingForAdmission", message, T0
    )
    assert "startTime" not in dumped(plan)
    # No deadline clock before the run starts; a look at Kueue's reason in QUEUE_GRACE.
    assert plan.requeue_after == QUEUE_GRACE


def test_admitted_by_kueue_the_run_leaves_the_queue() -> None:
    tj = make_tj(status=created_status(), queueName="team-a-gpus")
    queued = reconcile(tj, seen(suspended(1)), T0 + timedelta(seconds=3), D)
    now = START + timedelta(minutes=1)
    plan = reconcile(with_status(tj, queued), seen(running()), now, D)
    assert plan.patches == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Running"
    assert condition(plan, "Queued") == cond("Queued", "False", "Admitted", "admitted", now)


def test_suspending_a_queued_run_does_not_touch_the_job() -> None:
    tj = make_tj(status=created_status(), queueName="team-a-gpus", suspend=True)
    plan = reconcile(tj, seen(suspended(1)), T0 + timedelta(seconds=3), D)
    assert plan.patches == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Suspended"


def test_a_finished_job_is_never_patched() -> None:
    tj = make_tj(status=running_status(), suspend=True)
    done = START + timedelta(seconds=5000)
    plan = reconcile(tj, seen(complete(1, done)), done, D)
    assert plan.patches == []
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Succeeded"


# --- after the end ------------------------------------------------------------------------


def succeeded_status(done: datetime) -> dict[str, Any]:
    message = f"attempt 1 completed; model at {MODEL}"
    return {
        "phase": "Succeeded",
        "conditions": [
            cond("Created", "True", "JobCreated", "attempt 1: Job llm-a1", T0),
            cond("Running", "False", "Completed", message, done),
            cond("Succeeded", "True", "Completed", message, done),
        ],
        "observedGeneration": 1,
        "startTime": ts(START),
        "completionTime": ts(done),
        "attempts": 1,
        "nodes": {"active": 0, "ready": 0, "succeeded": 2, "failed": 0},
        "model": {"uri": MODEL},
        "metrics": {},
    }


def test_success_with_ttl_asks_to_look_again_when_it_expires() -> None:
    tj = make_tj(status=running_status(), ttlSecondsAfterFinished=3600)
    done = START + timedelta(seconds=5000)
    plan = reconcile(tj, seen(complete(1, done)), done + timedelta(seconds=10), D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Succeeded"
    assert plan.requeue_after == pytest.approx(3590)
    assert plan.deletes == []


def test_terminal_run_before_its_ttl_waits_for_the_time_left() -> None:
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=succeeded_status(done), ttlSecondsAfterFinished=3600)
    plan = reconcile(tj, seen(complete(1, done)), done + timedelta(seconds=600), D)
    assert plan.requeue_after == pytest.approx(3000)
    assert plan.deletes == []
    assert dumped(plan) == succeeded_status(done)
    assert plan.events == []


def test_terminal_run_past_its_ttl_deletes_itself() -> None:
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=succeeded_status(done), ttlSecondsAfterFinished=3600)
    plan = reconcile(tj, seen(complete(1, done)), done + timedelta(seconds=3600), D)
    assert plan.deletes == [Delete("TrainingJob", "llm", TJ_UID)]
    assert plan.creates == []
    assert plan.events == []


def test_failed_run_with_zero_ttl_deletes_itself_at_once() -> None:
    tj = make_tj(status=running_status(), ttlSecondsAfterFinished=0, backoffLimit=0)
    now = START + timedelta(seconds=60)
    plan = reconcile(tj, seen(failed(1, now)), now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert plan.deletes == [Delete("TrainingJob", "llm", TJ_UID)]


def test_terminal_run_without_ttl_is_left_alone() -> None:
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=succeeded_status(done))
    plan = reconcile(tj, seen(complete(1, done)), done + timedelta(days=30), D)
    assert dumped(plan) == succeeded_status(done)
    assert (plan.creates, plan.patches, plan.deletes, plan.events) == ([], [], [], [])
    assert plan.requeue_after is None


@pytest.mark.parametrize(
    ("observed", "deletes"),
    [
        (Observed(), []),
        (seen(), []),
        (seen(failed(1, START)), []),
        (seen(complete(1, START), failed(2, START)), []),
        # An unfinished Job of a finished run is a straggler: it is stopped, nothing more.
        (seen(complete(1, START), running(2)), [Delete("Job", "llm-a2", "job-uid-2")]),
        (seen(suspended(1)), [Delete("Job", "llm-a1", "job-uid-1")]),
    ],
    ids=[
        "nothing",
        "service-only",
        "failed-job",
        "failed-later-attempt",
        "running-later-attempt",
        "suspended-job",
    ],
)
def test_succeeded_stays_succeeded_whatever_the_jobs_do(
    observed: Observed, deletes: list[Delete]
) -> None:
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=succeeded_status(done), suspend=True)
    plan = reconcile(tj, observed, done + timedelta(minutes=5), D)
    assert dumped(plan) == succeeded_status(done)
    assert (plan.creates, plan.patches, plan.events) == ([], [], [])
    assert plan.deletes == deletes


def test_failed_run_stays_failed_and_stops_a_straggling_job() -> None:
    now = START + timedelta(seconds=100)
    first = reconcile(
        make_tj(status=running_status(), backoffLimit=0), seen(failed(1, now)), now, D
    )
    tj = with_status(make_tj(backoffLimit=0), first)
    # Someone (or a crashed operator) left a second attempt running.
    plan = reconcile(tj, seen(failed(1, now), running(2)), now + timedelta(minutes=1), D)
    assert dumped(plan) == dumped(first)
    assert plan.creates == []
    assert plan.deletes == [Delete("Job", "llm-a2", "job-uid-2")]
    assert plan.events == []


# --- idempotency and restart safety -------------------------------------------------------

BROKE = START + timedelta(seconds=1000)
SCENARIOS: dict[str, tuple[dict[str, Any], Observed]] = {
    "running": ({}, seen(running(), pods=(running_pod(1, 0), running_pod(1, 1)))),
    "starting": ({}, seen(running(ready=1), pods=(running_pod(1, 0),))),
    "unschedulable": (
        {},
        seen(job(1, active=2), pods=(unschedulable_pod(1, 0), unschedulable_pod(1, 1))),
    ),
    "queued": ({"queueName": "team-a-gpus"}, seen(suspended(1))),
    "suspended": ({"suspend": True}, seen(suspended(1, start=START))),
    "restarting": ({}, seen(failed(1, BROKE), job(2, active=2, start=BROKE))),
    "restarted-running": ({}, seen(failed(1, BROKE), running(2, start=BROKE))),
    "succeeded": ({}, seen(complete(1, BROKE))),
    "failed": ({"backoffLimit": 0}, seen(failed(1, BROKE))),
    "deadline": ({"activeDeadlineSeconds": 600}, seen(running())),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_feeding_the_status_back_changes_nothing(name: str) -> None:
    spec, observed = SCENARIOS[name]
    tj = make_tj(status=created_status(), **spec)
    now = BROKE + timedelta(seconds=5)
    first = reconcile(tj, observed, now, D)
    again = reconcile(with_status(tj, first), observed, now + timedelta(seconds=30), D)
    assert dumped(again) == dumped(first)
    assert again.creates == []
    assert again.events == []
    # And once more, to be sure it is a fixed point.
    third = reconcile(with_status(tj, again), observed, now + timedelta(seconds=60), D)
    assert dumped(third) == dumped(first)


def test_operator_restart_between_creating_a_job_and_writing_status() -> None:
    """status.attempts=1, but the Jobs say attempt 2 exists: no new Job, attempts 2."""
    tj = make_tj(status=running_status(attempts=1))
    now = BROKE + timedelta(minutes=3)
    plan = reconcile(tj, seen(failed(1, BROKE), running(2, start=BROKE)), now, D)
    assert plan.creates == []
    assert dumped(plan) is not None
    assert dumped(plan)["attempts"] == 2
    assert dumped(plan)["phase"] == "Running"


def test_operator_restart_while_the_next_attempt_is_starting() -> None:
    tj = make_tj(status=running_status(attempts=1))
    now = BROKE + timedelta(seconds=10)
    plan = reconcile(tj, seen(failed(1, BROKE), job(2, active=2, start=BROKE)), now, D)
    assert plan.creates == []
    assert dumped(plan) is not None
    assert (dumped(plan)["attempts"], dumped(plan)["phase"]) == (2, "Restarting")


def test_status_ahead_of_the_cache_recreates_the_same_job_never_a_third() -> None:
    """status.attempts=2 was written, but the cache still shows only the failed a1."""
    tj = make_tj(status=running_status())
    first = reconcile(tj, seen(failed(1, BROKE)), BROKE, D)
    tj2 = with_status(tj, first)
    plan = reconcile(tj2, seen(failed(1, BROKE)), BROKE + timedelta(seconds=1), D)
    assert [c.name for c in plan.creates] == ["llm-a2"]  # AlreadyExists counts as done
    assert dumped(plan) is not None
    assert dumped(plan)["attempts"] == 2
    assert plan.events == []  # the restart was announced once


def test_transition_time_stays_when_a_conditions_status_does_not_change() -> None:
    tj = make_tj(status=created_status())
    now = START + timedelta(seconds=40)
    observed = seen(job(1, active=2), pods=(unschedulable_pod(1, 0), unschedulable_pod(1, 1)))
    plan = reconcile(tj, observed, now, D)
    running_condition = condition(plan, "Running")
    assert (running_condition["status"], running_condition["reason"]) == ("False", "Unschedulable")
    assert running_condition["lastTransitionTime"] == ts(T0)
    assert condition(plan, "Created")["lastTransitionTime"] == ts(T0)


def test_transition_time_moves_when_a_conditions_status_changes() -> None:
    tj = make_tj(status=created_status())
    now = START + timedelta(seconds=40)
    plan = reconcile(tj, seen(running()), now, D)
    assert condition(plan, "Running")["lastTransitionTime"] == ts(now)
    assert condition(plan, "Created")["lastTransitionTime"] == ts(T0)


def test_reconcile_does_not_modify_its_input() -> None:
    tj = make_tj(status=running_status())
    before = tj.model_dump(by_alias=True, mode="json")
    reconcile(tj, seen(failed(1, BROKE)), BROKE, D)
    assert tj.model_dump(by_alias=True, mode="json") == before


# --- invalid spec -------------------------------------------------------------------------


def test_invalid_spec_fails_the_run_once() -> None:
    tj = make_tj(status=running_status())
    now = START + timedelta(minutes=1)
    status = invalid(tj.status, 3, "Job llm-a1 was refused: spec.template...: Invalid", now)
    dumped = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped["phase"] == "Failed"
    assert dumped["completionTime"] == ts(now)
    assert dumped["observedGeneration"] == 3
    failed_condition = next(c for c in dumped["conditions"] if c["type"] == "Failed")
    assert failed_condition == cond(
        "Failed", "True", "InvalidSpec", "Job llm-a1 was refused: spec.template...: Invalid", now, 3
    )
    # A second time changes nothing but the generation it speaks about.
    later = invalid(status, 3, "something else", now + timedelta(hours=1))
    assert later == status
    assert tj.status.phase is not None
    assert tj.status.phase.value == "Running"  # the input is not modified


def test_invalid_spec_never_overrides_a_finished_run() -> None:
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=succeeded_status(done))
    status = invalid(tj.status, 2, "bad", done + timedelta(hours=1))
    dumped = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped["phase"] == "Succeeded"
    assert dumped["observedGeneration"] == 2
    assert dumped["conditions"] == succeeded_status(done)["conditions"]


# --- the extra reads: pods, FailedCreate Events, the metrics pod ----------------------


def test_pods_are_not_wanted_while_an_attempt_starts_normally() -> None:
    tj = make_tj(status=running_status())
    assert reads(tj, (running(ready=0),), START + timedelta(seconds=2)) == Reads()
    assert reads(tj, (running(ready=2),), START + timedelta(minutes=5)) == Reads()
    assert reads(tj, (suspended(1, START),), START + timedelta(minutes=5)) == Reads()
    assert reads(tj, (), START + timedelta(minutes=5)) == Reads()


def test_pods_of_a_slow_attempt_are_wanted_after_the_grace() -> None:
    tj = make_tj(status=running_status())
    jobs = (failed(1, START), running(attempt=2, ready=1))
    assert reads(tj, jobs, START + timedelta(seconds=PODS_GRACE)) == Reads(pods_of_attempt=2)
    assert (
        reads(tj, jobs, START + timedelta(seconds=PODS_GRACE)).pods_of_attempt == 2
    )  # until replaced


def test_events_of_a_job_without_pods_are_wanted_after_the_grace() -> None:
    # The Job controller has made no pod: its FailedCreate Events say why.
    tj = make_tj(status=created_status())
    no_pods = job(1, active=0, start=START)
    assert reads(tj, (no_pods,), START + timedelta(seconds=PODS_GRACE - 1)) == Reads()
    assert reads(tj, (no_pods,), START + timedelta(seconds=PODS_GRACE)) == Reads(
        job_events="llm-a1"
    )
    # Not before the Job has started, nor while Kueue holds it, nor for a finished run.
    assert reads(tj, (job(1, start=None),), START + timedelta(minutes=5)) == Reads()
    assert reads(tj, (suspended(1),), START + timedelta(minutes=5)) == Reads()
    last = make_tj(status=created_status(), backoffLimit=0)
    failed_run = with_status(last, reconcile(last, seen(failed(1, START)), START, D))
    assert failed_run.status.phase == "Failed"
    assert reads(failed_run, (no_pods,), START + timedelta(minutes=5)) == Reads()


def test_the_metrics_pod_is_wanted_once_the_attempt_completed() -> None:
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=running_status())
    jobs = (failed(1, START), complete(2, done))
    assert reads(tj, jobs, done) == Reads(metrics_pod_of=2)
    # Also for a run that succeeded before metrics were recorded.
    before = {k: v for k, v in succeeded_status(done).items() if k != "metrics"}
    assert reads(make_tj(status=before), (complete(1, done),), done) == Reads(metrics_pod_of=1)
    # Once recorded, never again.
    assert reads(make_tj(status=succeeded_status(done)), (complete(1, done),), done) == Reads()
    # A failed run has no metrics to read.
    last = make_tj(status=running_status(), backoffLimit=0)
    failed_run = with_status(last, reconcile(last, seen(failed(1, START)), START, D))
    assert failed_run.status.phase == "Failed"
    assert reads(failed_run, (complete(1, done),), done) == Reads()


def test_a_finished_run_reads_nothing_for_a_straggling_attempt() -> None:
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=succeeded_status(done))
    jobs = (complete(1, done), job(2, active=2, start=START))
    assert reads(tj, jobs, done + timedelta(minutes=5)) == Reads()


def test_a_starting_attempt_is_looked_at_again_when_its_grace_ends() -> None:
    tj = make_tj(status=running_status(), activeDeadlineSeconds=None)
    plan = reconcile(tj, seen(running(ready=0)), START + timedelta(seconds=2), D)
    assert plan.requeue_after == pytest.approx(PODS_GRACE - 2)
    later = reconcile(tj, seen(running(ready=0)), START + timedelta(minutes=1), D)
    assert later.requeue_after == PODS_RECHECK
    assert reconcile(tj, seen(running()), START + timedelta(minutes=1), D).requeue_after is None


def test_a_failed_run_shows_the_node_counts_of_its_last_attempt() -> None:
    tj = make_tj(status=running_status(), backoffLimit=0)
    broke = START + timedelta(seconds=30)
    last = JobState(
        "llm-a1",
        "u1",
        1,
        suspended=False,
        active=0,
        ready=0,
        succeeded=1,
        failed=1,
        failed_reason="PodFailurePolicy",
        failed_message="exit 1",
        start_time=START,
    )
    plan = reconcile(tj, seen(last), broke, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert dumped(plan)["nodes"] == {"active": 0, "ready": 0, "succeeded": 1, "failed": 1}


# --- Kueue: the deadline clock stops while the run waits in the queue ---------------------

QUEUE = "team-a-gpus"
EVICTED_MESSAGE = (
    "attempt 1 was evicted by Kueue (preempted, or its workload stopped); "
    f"waiting to be admitted again from queue {QUEUE}"
)


def admitted_status() -> dict[str, Any]:
    """A queued run that Kueue admitted at START; all its nodes ready since START + 60 s."""
    status = running_status()
    status["conditions"].append(cond("Queued", "False", "Admitted", "admitted", START))
    return status


def test_a_run_evicted_by_kueue_is_queued_again_not_failed_nor_restarted() -> None:
    tj = make_tj(status=admitted_status(), queueName=QUEUE)
    evicted = START + timedelta(seconds=1000)
    # Kueue suspended the Job again and cleared its startTime; its pods are gone.
    plan = reconcile(tj, seen(suspended(1)), evicted, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Queued"
    assert dumped(plan)["attempts"] == 1
    assert condition(plan, "Queued") == cond("Queued", "True", "Evicted", EVICTED_MESSAGE, evicted)
    assert condition(plan, "Running") == cond(
        "Running", "False", "Evicted", EVICTED_MESSAGE, evicted
    )
    assert {"Failed", "Restarting", "Succeeded"}.isdisjoint(condition_types(plan))
    assert plan.events == [Event("Normal", "Evicted", EVICTED_MESSAGE)]
    assert (plan.creates, plan.patches, plan.deletes) == ([], [], [])  # Kueue's to resume
    assert plan.requeue_after == QUEUE_GRACE  # the deadline clock is stopped; Kueue's reason


def test_an_evicted_run_waits_in_the_queue_past_its_deadline_without_failing() -> None:
    tj = make_tj(status=admitted_status(), queueName=QUEUE)
    evicted = START + timedelta(seconds=1000)
    first = reconcile(tj, seen(suspended(1)), evicted, D)
    # Three hours later the wall clock is far past START + 2 h; the run was active 1000 s.
    later = evicted + timedelta(hours=3)
    plan = reconcile(with_status(tj, first), seen(suspended(1)), later, D)
    assert dumped(plan) == dumped(first)  # the same stint in the queue: nothing moves
    assert plan.events == []
    assert plan.requeue_after == PODS_RECHECK  # only to look at Kueue's reason again


def test_readmitted_the_queued_time_is_added_to_suspended_seconds() -> None:
    tj = make_tj(status=admitted_status(), queueName=QUEUE)
    evicted = START + timedelta(seconds=1000)
    queued = with_status(tj, reconcile(tj, seen(suspended(1)), evicted, D))
    readmitted = evicted + timedelta(hours=3)
    # The Job controller restarted the Job at re-admission; we look 30 s later.
    now = readmitted + timedelta(seconds=30)
    plan = reconcile(queued, seen(job(1, active=2, start=readmitted)), now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Pending"  # attempt 1 starts again: no restart
    assert dumped(plan)["attempts"] == 1
    assert dumped(plan)["suspendedSeconds"] == 3 * 3600  # until the Job started again
    assert condition(plan, "Queued") == cond("Queued", "False", "Admitted", "admitted", now)
    assert plan.events == []
    # Active 1000 s before the eviction and 30 s since: 2 h - 1030 s are left.
    running_again = reconcile(with_status(queued, plan), seen(running(start=readmitted)), now, D)
    assert running_again.requeue_after == pytest.approx(DEADLINE - 1030)
    assert dumped(running_again) is not None
    assert dumped(running_again)["suspendedSeconds"] == 3 * 3600  # counted once


def test_after_readmission_the_deadline_counts_only_active_time() -> None:
    status = admitted_status()
    status["suspendedSeconds"] = 3 * 3600
    tj = make_tj(status=status, queueName=QUEUE)
    readmitted = START + timedelta(seconds=1000 + 3 * 3600)
    just_before = START + timedelta(seconds=DEADLINE + 3 * 3600 - 1)
    plan = reconcile(tj, seen(running(start=readmitted)), just_before, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Running"
    at_deadline = reconcile(
        tj, seen(running(start=readmitted)), START + timedelta(seconds=DEADLINE + 3 * 3600), D
    )
    assert dumped(at_deadline) is not None
    assert condition(at_deadline, "Failed")["reason"] == "DeadlineExceeded"


def test_a_run_evicted_after_its_deadline_passed_fails() -> None:
    # The operator was down when the run ran out of time; Kueue evicted it afterwards.
    tj = make_tj(status=admitted_status(), queueName=QUEUE)
    now = START + timedelta(seconds=DEADLINE + 600)
    plan = reconcile(tj, seen(suspended(1)), now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Failed"
    assert condition(plan, "Failed")["reason"] == "DeadlineExceeded"
    assert plan.deletes == [Delete("Job", "llm-a1", "job-uid-1")]


def test_a_later_attempt_waiting_in_the_queue_does_not_spend_the_deadline() -> None:
    tj = make_tj(status=admitted_status(), queueName=QUEUE)
    broke = START + timedelta(seconds=1000)
    restart = reconcile(tj, seen(failed(1, broke)), broke, D)
    # Attempt 2 is created suspended for Kueue, with what the run has left.
    assert [c.name for c in restart.creates] == ["llm-a2"]
    assert restart.creates[0].manifest["spec"]["suspend"] is True
    assert restart.creates[0].manifest["spec"]["activeDeadlineSeconds"] == DEADLINE - 1000
    assert dumped(restart) is not None
    assert dumped(restart)["phase"] == "Queued"
    message = f"waiting for Kueue to admit it from queue {QUEUE}"
    assert condition(restart, "Queued") == cond(
        "Queued", "True", "WaitingForAdmission", message, broke
    )
    assert restart.requeue_after is None
    tj2 = with_status(tj, restart)

    # Two hours in the queue: the wall clock passes START + 2 h, the run does not fail.
    waiting = reconcile(tj2, seen(failed(1, broke), suspended(2)), broke + timedelta(hours=2), D)
    assert dumped(waiting) == dumped(restart)

    admitted = broke + timedelta(hours=2)
    now = admitted + timedelta(seconds=30)
    plan = reconcile(tj2, seen(failed(1, broke), running(2, start=admitted)), now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Running"
    assert dumped(plan)["attempts"] == 2
    assert dumped(plan)["suspendedSeconds"] == 2 * 3600
    assert plan.requeue_after == pytest.approx(DEADLINE - 1030)


def test_a_queued_run_suspended_then_resumed_is_not_evicted() -> None:
    tj = make_tj(status=created_status(), queueName=QUEUE)
    queued = with_status(tj, reconcile(tj, seen(suspended(1)), T0 + timedelta(seconds=3), D))
    paused = queued.model_copy(update={"spec": queued.spec.model_copy(update={"suspend": True})})
    held = reconcile(paused, seen(suspended(1)), T0 + timedelta(minutes=1), D)
    # Taken out of the queue by the user, not admitted by Kueue.
    assert condition(held, "Queued")["reason"] == "Suspended"
    resumed = reconcile(with_status(tj, held), seen(suspended(1)), T0 + timedelta(minutes=2), D)
    assert dumped(resumed) is not None
    assert dumped(resumed)["phase"] == "Queued"
    assert condition(resumed, "Queued")["reason"] == "WaitingForAdmission"
    assert [e.reason for e in resumed.events] == ["Resumed"]


def test_suspended_by_spec_then_requeued_counts_both_pauses_once() -> None:
    tj = make_tj(status=admitted_status(), queueName=QUEUE)
    s1 = START + timedelta(seconds=1000)
    suspended_tj = tj.model_copy(update={"spec": tj.spec.model_copy(update={"suspend": True})})
    first = reconcile(suspended_tj, seen(running()), s1, D)
    assert first.patches == [Patch("Job", "llm-a1", {"spec": {"suspend": True}})]
    # Unsuspended an hour later: the Job stays suspended until Kueue admits it again.
    s2 = s1 + timedelta(hours=1)
    back = reconcile(with_status(tj, first), seen(suspended(1)), s2, D)
    assert dumped(back) is not None
    assert dumped(back)["phase"] == "Queued"
    assert condition(back, "Queued")["reason"] == "WaitingForAdmission"
    assert dumped(back)["suspendedSeconds"] == 3600
    assert back.patches == []
    s3 = s2 + timedelta(hours=2)
    plan = reconcile(with_status(tj, back), seen(job(1, active=2, start=s3)), s3, D)
    assert dumped(plan) is not None
    assert dumped(plan)["suspendedSeconds"] == 3 * 3600


def test_a_queued_run_that_never_started_counts_no_suspended_time() -> None:
    tj = make_tj(status=created_status(), queueName=QUEUE)
    queued = with_status(tj, reconcile(tj, seen(suspended(1)), T0 + timedelta(seconds=3), D))
    admitted = T0 + timedelta(hours=5)
    plan = reconcile(queued, seen(running(start=admitted)), admitted + timedelta(seconds=20), D)
    assert dumped(plan) is not None
    assert dumped(plan)["startTime"] == ts(admitted)
    assert "suspendedSeconds" not in dumped(plan)
    assert plan.requeue_after == pytest.approx(DEADLINE - 20)


@pytest.mark.parametrize("name", ["evicted", "readmitted"])
def test_kueue_states_are_fixed_points(name: str) -> None:
    tj = make_tj(status=admitted_status(), queueName=QUEUE)
    evicted = START + timedelta(seconds=1000)
    observed = {
        "evicted": seen(suspended(1)),
        "readmitted": seen(running(start=evicted + timedelta(hours=1))),
    }[name]
    queued = with_status(tj, reconcile(tj, seen(suspended(1)), evicted, D))
    now = evicted + timedelta(hours=1, seconds=10)
    first = reconcile(queued, observed, now, D)
    again = reconcile(with_status(queued, first), observed, now + timedelta(seconds=30), D)
    assert dumped(again) == dumped(first)
    assert again.events == []


# --- the Job controller cannot create the pods ---------------------------------------------

NO_SA = (
    'Error creating: pods "llm-a1-0-" is forbidden: error looking up service account '
    'ml/trainer: serviceaccount "trainer" not found'
)
NO_SA_MESSAGE = f"the Job controller cannot create the pods of Job llm-a1: {NO_SA}"


def failing_to_create(attempt: int = 1, start: datetime = START) -> Observed:
    """The attempt's Job started, has no pod, and the controller read its FailedCreate."""
    jobs = (job(attempt, start=start),)
    if attempt > 1:
        jobs = (failed(1, start), *jobs)
    return Observed(jobs=jobs, service=True, create_failure=NO_SA)


def test_failed_create_is_the_reason_the_run_waits() -> None:
    tj = make_tj(status=created_status())
    now = START + timedelta(seconds=30)
    plan = reconcile(tj, failing_to_create(), now, D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Pending"
    assert condition(plan, "Running") == cond("Running", "False", "FailedCreate", NO_SA_MESSAGE, T0)
    assert plan.events == [Event("Warning", "FailedCreate", NO_SA_MESSAGE)]
    assert plan.requeue_after == PODS_RECHECK  # and looked at again


def test_failed_create_is_announced_once() -> None:
    tj = make_tj(status=created_status())
    now = START + timedelta(seconds=30)
    first = reconcile(tj, failing_to_create(), now, D)
    again = reconcile(with_status(tj, first), failing_to_create(), now + timedelta(minutes=1), D)
    assert dumped(again) == dumped(first)
    assert again.events == []


def test_once_pods_exist_the_failed_create_reason_goes() -> None:
    tj = make_tj(status=created_status())
    first = reconcile(tj, failing_to_create(), START + timedelta(seconds=30), D)
    # The ServiceAccount was created: the controller now makes the pods.
    now = START + timedelta(minutes=2)
    plan = reconcile(with_status(tj, first), seen(job(1, active=2, start=START)), now, D)
    assert condition(plan, "Running")["reason"] == "NodesStarting"
    assert plan.events == []


def test_failed_create_of_a_restarted_attempt_shows_restarting() -> None:
    tj = make_tj(status=running_status(attempts=2))
    plan = reconcile(tj, failing_to_create(2), START + timedelta(seconds=30), D)
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Restarting"
    assert condition(plan, "Running")["reason"] == "FailedCreate"
    assert condition(plan, "Running")["message"].endswith(NO_SA)


@pytest.mark.parametrize(
    "current",
    [job(1, active=1, start=START), job(1, start=None)],
    ids=["has-pods", "not-started"],
)
def test_failed_create_counts_only_for_a_started_job_without_pods(current: JobState) -> None:
    tj = make_tj(status=created_status())
    observed = Observed(jobs=(current,), service=True, create_failure=NO_SA)
    plan = reconcile(tj, observed, START + timedelta(seconds=30), D)
    assert condition(plan, "Running")["reason"] == "NodesStarting"


def test_a_refusal_longer_than_a_condition_holds_is_cut() -> None:
    tj = make_tj(status=created_status())
    huge = "admission webhook denied the request: " + "y" * 40_000
    observed = Observed(jobs=(job(1, start=START),), service=True, create_failure=huge)
    plan = reconcile(tj, observed, START + timedelta(seconds=30), D)
    message = condition(plan, "Running")["message"]
    assert len(message) == 32768
    assert message.endswith("... (truncated)")


# --- metrics from the rank-0 termination message --------------------------------------------


def succeeded_with(message: str | None, status: dict[str, Any] | None = None) -> Plan[Any]:
    """The reconcile that sees attempt 1 complete, its rank-0 pod's message read."""
    done = START + timedelta(seconds=5000)
    tj = make_tj(status=status or running_status())
    observed = Observed(jobs=(complete(1, done),), service=True, termination_message=message)
    return reconcile(tj, observed, done, D)


def test_success_records_the_metrics_of_the_termination_message() -> None:
    plan = succeeded_with('{"metrics": {"accuracy": 0.93, "val_loss": 0.21, "epochs": 3}}')
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Succeeded"
    assert dumped(plan)["metrics"] == {"accuracy": 0.93, "val_loss": 0.21, "epochs": 3.0}
    assert [e.reason for e in plan.events] == ["Succeeded"]


def test_malformed_metrics_are_a_warning_never_a_failure() -> None:
    plan = succeeded_with("accuracy=0.93")
    assert dumped(plan) is not None
    assert dumped(plan)["phase"] == "Succeeded"
    assert dumped(plan)["model"] == {"uri": MODEL}
    assert dumped(plan)["metrics"] == {}  # recorded: the message is not read again
    warning = plan.events[-1]
    assert (warning.type, warning.reason) == ("Warning", "MetricsUnreadable")
    assert warning.message.startswith(
        "no metrics recorded: the termination message of node 0 is not JSON ("
    )
    assert warning.message.endswith('expected {"metrics": {"<name>": <number>, ...}}')


def test_metrics_that_are_not_numbers_are_left_out_with_a_note() -> None:
    plan = succeeded_with(
        '{"metrics": {"accuracy": 0.93, "converged": true, "best": "epoch 3", "loss": NaN}}'
    )
    assert dumped(plan) is not None
    assert dumped(plan)["metrics"] == {"accuracy": 0.93}
    assert plan.events[-1] == Event(
        "Warning",
        "MetricsIgnored",
        "metrics that are not finite numbers were left out: converged (a boolean), "
        "best (a string), loss (not a finite number)",
    )


def test_a_run_that_succeeded_before_metrics_existed_records_them_once() -> None:
    done = START + timedelta(seconds=5000)
    before = {k: v for k, v in succeeded_status(done).items() if k != "metrics"}
    tj = make_tj(status=before)
    message = '{"metrics": {"accuracy": 0.9}}'
    observed = Observed(jobs=(complete(1, done),), service=True, termination_message=message)
    plan = reconcile(tj, observed, done + timedelta(hours=1), D)
    assert dumped(plan) == {**before, "metrics": {"accuracy": 0.9}}
    assert plan.events == []
    # Recorded: another message (a later read) changes nothing.
    other = Observed(jobs=(complete(1, done),), service=True, termination_message="{}")
    again = reconcile(with_status(tj, plan), other, done + timedelta(hours=2), D)
    assert dumped(again) == dumped(plan)
    assert again.events == []


def test_a_failed_run_records_no_metrics() -> None:
    tj = make_tj(status=running_status(), backoffLimit=0)
    now = START + timedelta(seconds=60)
    observed = Observed(
        jobs=(failed(1, now),), service=True, termination_message='{"metrics": {"a": 1}}'
    )
    plan = reconcile(tj, observed, now, D)
    assert dumped(plan) is not None
    assert "metrics" not in dumped(plan)


# --- triggeredBy: the RetrainPolicy trigger, copied once -----------------------------------

TRIGGER_ANNOTATIONS = {
    TRIGGER_REASON_ANNOTATION: "Drift",
    TRIGGER_VALUE_ANNOTATION: "0.31",
    TRIGGER_TIME_ANNOTATION: "2026-11-22T03:58:00Z",
    TRIGGER_QUERY_ANNOTATION: 'avg(model_drift_score{model="llm"})',
}


def retrained(annotations: dict[str, str], status: dict[str, Any] | None = None) -> TrainingJob:
    raw = copy.deepcopy(BODY)
    raw["metadata"]["labels"] = {RETRAINPOLICY_LABEL: "llm-drift"}
    raw["metadata"]["annotations"] = annotations
    if status is not None:
        raw["status"] = status
    return TrainingJob.model_validate(raw)


def test_the_first_status_write_carries_the_trigger() -> None:
    plan = reconcile(retrained(TRIGGER_ANNOTATIONS), Observed(), T0, D)
    assert dumped(plan) == {
        **created_status(),
        "triggeredBy": {
            "retrainPolicy": "llm-drift",
            "reason": "Drift",
            "value": "0.31",
            "time": "2026-11-22T03:58:00Z",
            "query": 'avg(model_drift_score{model="llm"})',
        },
    }


def test_the_trigger_in_status_never_follows_later_edits() -> None:
    first = reconcile(retrained(TRIGGER_ANNOTATIONS), Observed(), T0, D)
    edited = retrained({**TRIGGER_ANNOTATIONS, TRIGGER_VALUE_ANNOTATION: "0"}, dumped(first))
    plan = reconcile(edited, seen(running()), START + timedelta(minutes=1), D)
    assert dumped(plan) is not None
    assert dumped(plan)["triggeredBy"]["value"] == "0.31"


def test_a_run_no_policy_created_has_no_trigger() -> None:
    assert "triggeredBy" not in (dumped(reconcile(make_tj(), Observed(), T0, D)) or {})
    # The policy's label alone (inherited, or put by hand) is no trigger.
    plan = reconcile(retrained({}), Observed(), T0, D)
    assert "triggeredBy" not in (dumped(plan) or {})


def test_a_malformed_trigger_time_is_left_out() -> None:
    annotations = {TRIGGER_REASON_ANNOTATION: "Manual", TRIGGER_TIME_ANNOTATION: "yesterday"}
    plan = reconcile(retrained(annotations), Observed(), T0, D)
    assert dumped(plan) is not None
    assert dumped(plan)["triggeredBy"] == {"retrainPolicy": "llm-drift", "reason": "Manual"}


def test_one_unschedulable_pod_of_a_bounded_read_explains_a_huge_run() -> None:
    # The controller read one page of Pending pods and stopped at the first Unschedulable.
    tj = make_tj(status=created_status(), nodes=9999)
    observed = seen(job(1, active=9999, ready=12), pods=(unschedulable_pod(1, 4711),))
    plan = reconcile(tj, observed, START + timedelta(seconds=30), D)
    assert condition(plan, "Running")["message"] == (
        f"12/9999 nodes ready; pod llm-a1-4711-x7k2p cannot be scheduled: {SCHEDULER_MESSAGE}"
    )


def test_a_refused_child_write_shows_as_running_false_until_retried() -> None:
    from mlops_operator.core.training.reconcile import write_failed

    tj = make_tj()
    status = write_failed(tj.status, 1, "Job llm-a1: 403 Forbidden: exceeded quota", START)
    running = next(c for c in status.conditions if c.type == "Running")
    assert (running.status, running.reason) == ("False", "WriteFailed")
    assert "exceeded quota" in running.message
    assert status.phase == tj.status.phase  # not a failure of the run


def test_a_refused_child_write_leaves_a_finished_run_alone() -> None:
    from mlops_operator.core.training.reconcile import write_failed

    done = invalid(make_tj().status, 1, "bad", START)
    assert write_failed(done, 1, "403", START) == done


def test_a_queued_run_reads_and_shows_kueues_own_reason() -> None:
    from mlops_operator.core.training.observed import kueue_reason

    tj = make_tj(queueName=QUEUE)
    first = reconcile(tj, seen(suspended(1)), T0, D)
    queued = with_status(tj, first)
    assert reads(queued, (suspended(1),), T0 + timedelta(seconds=1)).workloads_of is None
    wanted = reads(queued, (suspended(1),), T0 + timedelta(seconds=QUEUE_GRACE))
    assert wanted.workloads_of == suspended(1).uid
    why = (
        "couldn't assign flavors to pod set main: insufficient quota for nvidia.com/gpu "
        "in flavor default, request > maximum capacity (8 > 4)"
    )
    workload = {
        "status": {
            "conditions": [
                {"type": "QuotaReserved", "status": "False", "reason": "Pending", "message": why}
            ]
        }
    }
    assert kueue_reason([workload]) == why
    assert kueue_reason([{"status": {}}]) is None
    later = T0 + timedelta(seconds=QUEUE_GRACE)
    plan = reconcile(
        queued, Observed(jobs=(suspended(1),), service=True, queue_message=why), later, D
    )
    message = condition(plan, "Queued")["message"]
    assert message == f"waiting for Kueue to admit it from queue {QUEUE}: {why}"
    assert plan.requeue_after == PODS_RECHECK
