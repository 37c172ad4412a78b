"""Compact views of a TrainingJob's Jobs and pods, built from raw API objects."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.api.keys import ATTEMPT_LABEL, MANAGED_BY, OPERATOR, TRAININGJOB_LABEL
from mlops_operator.core.training.observed import (
    JobState,
    Observed,
    PodState,
    create_failure,
    job_state,
    pod_state,
    termination_message,
)

UID = "3d0c5d8e-6f4b-4a34-9a0e-2f1b7c9e8d10"


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, 22, hh, mm, ss, tzinfo=UTC)


def raw_job(
    attempt: str | None = "1",
    *,
    suspend: bool = False,
    status: dict[str, Any] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """A batch/v1 Job as the apiserver returns it for one attempt of run ``llm``."""
    labels = {
        MANAGED_BY: OPERATOR,
        TRAININGJOB_LABEL: "llm",
    }
    if attempt is not None:
        labels[ATTEMPT_LABEL] = attempt
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"llm-a{attempt}",
            "namespace": "ml",
            "uid": UID,
            "resourceVersion": "90210",
            "generation": 1,
            "creationTimestamp": "2026-11-22T04:00:00Z",
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "mlops.dev/v1alpha1",
                    "kind": "TrainingJob",
                    "name": "llm",
                    "uid": "0f0e",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            **meta,
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": 2,
            "parallelism": 2,
            "backoffLimit": 0,
            "suspend": suspend,
            "podReplacementPolicy": "TerminatingOrFailed",
            "template": {"metadata": {}, "spec": {"containers": [{"name": "trainer"}]}},
        },
        "status": status or {},
    }


def condition(type_: str, reason: str, message: str, status: str = "True") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastProbeTime": "2026-11-22T05:00:00Z",
        "lastTransitionTime": "2026-11-22T05:00:00Z",
    }


# --- Jobs ---------------------------------------------------------------------------------


def test_running_job() -> None:
    body = raw_job(
        status={
            "startTime": "2026-11-22T04:00:05Z",
            "active": 2,
            "ready": 2,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    )
    assert job_state(body) == JobState(
        name="llm-a1",
        uid=UID,
        attempt=1,
        suspended=False,
        active=2,
        ready=2,
        start_time=at(4, 0, 5),
    )


def test_complete_job() -> None:
    body = raw_job(
        status={
            "conditions": [
                condition(
                    "SuccessCriteriaMet", "CompletionsReached", "Reached expected completions"
                ),
                condition("Complete", "CompletionsReached", "Reached expected completions"),
            ],
            "startTime": "2026-11-22T04:00:05Z",
            "completionTime": "2026-11-22T09:12:44Z",
            "succeeded": 2,
            "completedIndexes": "0-1",
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    )
    state = job_state(body)
    assert state == JobState(
        name="llm-a1",
        uid=UID,
        attempt=1,
        suspended=False,
        succeeded=2,
        complete=True,
        start_time=at(4, 0, 5),
        completion_time=at(9, 12, 44),
    )
    assert state.finished


def test_job_failed_with_backoff_limit_exceeded() -> None:
    body = raw_job(
        "2",
        status={
            "conditions": [
                condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
                condition(
                    "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                ),
            ],
            "startTime": "2026-11-22T04:00:05Z",
            "failed": 1,
            "succeeded": 0,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        },
    )
    state = job_state(body)
    assert state == JobState(
        name="llm-a2",
        uid=UID,
        attempt=2,
        suspended=False,
        failed=1,
        failed_reason="BackoffLimitExceeded",
        failed_message="Job has reached the specified backoff limit",
        start_time=at(4, 0, 5),
    )
    assert state.finished
    assert not state.complete


def test_job_failed_with_deadline_exceeded() -> None:
    body = raw_job(
        status={
            "conditions": [
                condition(
                    "FailureTarget",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ),
                condition(
                    "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
                ),
            ],
            "startTime": "2026-11-22T04:00:05Z",
            "failed": 2,
            "ready": 0,
        }
    )
    state = job_state(body)
    assert state is not None
    assert state.failed_reason == "DeadlineExceeded"
    assert state.failed_message == "Job was active longer than specified deadline"
    assert state.failed == 2
    assert state.finished


def test_failure_target_alone_is_not_yet_failed() -> None:
    """Kubernetes >= 1.31 sets FailureTarget first, Failed once the pods are gone."""
    body = raw_job(
        status={
            "conditions": [
                condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
            ],
            "startTime": "2026-11-22T04:00:05Z",
            "failed": 1,
            "active": 1,
            "terminating": 1,
        }
    )
    state = job_state(body)
    assert state is not None
    assert state.failed_reason is None
    assert not state.finished


def test_failed_condition_without_reason_still_counts_as_failed() -> None:
    body = raw_job(status={"conditions": [{"type": "Failed", "status": "True"}]})
    state = job_state(body)
    assert state is not None
    assert (state.failed_reason, state.failed_message) == ("Failed", "")


def test_conditions_that_are_not_true_are_ignored() -> None:
    body = raw_job(
        status={
            "conditions": [
                condition("Suspended", "JobResumed", "Job resumed", status="False"),
                condition("Failed", "BackoffLimitExceeded", "stale", status="False"),
                condition("Complete", "CompletionsReached", "stale", status="False"),
            ],
            "startTime": "2026-11-22T06:00:00Z",
            "active": 2,
        }
    )
    state = job_state(body)
    assert state is not None
    assert not state.suspended
    assert not state.complete
    assert state.failed_reason is None


def test_suspended_job_queued_by_kueue() -> None:
    body = raw_job(
        suspend=True,
        status={"conditions": [condition("Suspended", "JobSuspended", "Job suspended")]},
    )
    body["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "team-a-gpus"
    assert job_state(body) == JobState(name="llm-a1", uid=UID, attempt=1, suspended=True)


def test_job_being_deleted() -> None:
    body = raw_job(
        deletionTimestamp="2026-11-22T05:00:00Z",
        status={"startTime": "2026-11-22T04:00:05Z", "active": 2, "ready": 2},
    )
    state = job_state(body)
    assert state is not None
    assert state.deleting


def test_brand_new_job_without_status() -> None:
    body = raw_job()
    del body["status"]
    assert job_state(body) == JobState(name="llm-a1", uid=UID, attempt=1, suspended=False)


def test_times_with_offsets_are_converted_to_utc() -> None:
    body = raw_job(status={"startTime": "2026-11-22T06:00:05+02:00"})
    state = job_state(body)
    assert state is not None
    assert state.start_time == at(4, 0, 5)


@pytest.mark.parametrize("attempt", [None, "", "first", "a1"])
def test_job_without_a_usable_attempt_label_is_not_ours(attempt: str | None) -> None:
    assert job_state(raw_job(attempt)) is None


def test_job_without_labels_is_not_ours() -> None:
    body = raw_job()
    body["metadata"]["labels"] = None
    assert job_state(body) is None
    del body["metadata"]
    assert job_state(body) is None


# --- pods ---------------------------------------------------------------------------------


def raw_pod(
    index: int = 0,
    attempt: str | None = "1",
    *,
    status: dict[str, Any],
    suffix: str = "x7k2p",
) -> dict[str, Any]:
    """A worker pod of an Indexed Job, as the apiserver returns it."""
    labels = {
        MANAGED_BY: OPERATOR,
        TRAININGJOB_LABEL: "llm",
        "batch.kubernetes.io/job-completion-index": str(index),
        "batch.kubernetes.io/controller-uid": UID,
        "batch.kubernetes.io/job-name": f"llm-a{attempt}",
        "job-name": f"llm-a{attempt}",
    }
    if attempt is not None:
        labels[ATTEMPT_LABEL] = attempt
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"llm-a{attempt}-{index}-{suffix}",
            "generateName": f"llm-a{attempt}-{index}-",
            "namespace": "ml",
            "uid": f"pod-{index}",
            "labels": labels,
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
            "finalizers": ["batch.kubernetes.io/job-tracking"],
        },
        "spec": {"hostname": f"llm-a{attempt}-{index}", "subdomain": "llm"},
        "status": status,
    }


SCHEDULER_MESSAGE = (
    "0/6 nodes are available: 2 Insufficient nvidia.com/gpu, 4 node(s) didn't match "
    "Pod's node affinity/selector. preemption: 0/6 nodes are available: 6 Preemption is "
    "not helpful for scheduling."
)


def test_unschedulable_pod_carries_the_schedulers_message() -> None:
    body = raw_pod(
        1,
        status={
            "phase": "Pending",
            "qosClass": "Burstable",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": SCHEDULER_MESSAGE,
                    "lastProbeTime": None,
                    "lastTransitionTime": "2026-11-22T04:00:02Z",
                }
            ],
        },
    )
    assert pod_state(body) == PodState(
        name="llm-a1-1-x7k2p",
        attempt=1,
        index=1,
        phase="Pending",
        unschedulable=SCHEDULER_MESSAGE,
    )


def test_running_pod() -> None:
    body = raw_pod(
        0,
        status={
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
            ],
            "containerStatuses": [
                {
                    "name": "trainer",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": "2026-11-22T04:00:20Z"}},
                    "lastState": {},
                }
            ],
        },
    )
    assert pod_state(body) == PodState(name="llm-a1-0-x7k2p", attempt=1, index=0, phase="Running")


def test_failed_pod_reports_the_non_zero_exit_code_and_reason() -> None:
    body = raw_pod(
        1,
        "2",
        status={
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "log-shipper",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {"exitCode": 0, "reason": "Completed"},
                    },
                },
                {
                    "name": "trainer",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": 137,
                            "reason": "OOMKilled",
                            "startedAt": "2026-11-22T04:00:20Z",
                            "finishedAt": "2026-11-22T05:31:07Z",
                            "containerID": "containerd://abc",
                        }
                    },
                    "lastState": {},
                },
            ],
        },
    )
    assert pod_state(body) == PodState(
        name="llm-a2-1-x7k2p",
        attempt=2,
        index=1,
        phase="Failed",
        exit_code=137,
        terminated_reason="OOMKilled",
    )


def test_succeeded_pod_has_no_exit_code() -> None:
    body = raw_pod(
        0,
        status={
            "phase": "Succeeded",
            "containerStatuses": [
                {"name": "trainer", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ],
        },
    )
    state = pod_state(body)
    assert state is not None
    assert (state.phase, state.exit_code, state.terminated_reason) == ("Succeeded", None, None)


def test_pod_without_status_is_pending_and_without_index_annotation_is_node_zero() -> None:
    body = raw_pod(3, status={})
    del body["status"]
    del body["metadata"]["annotations"]
    assert pod_state(body) == PodState(name="llm-a1-3-x7k2p", attempt=1, index=0, phase="Pending")


METRICS = '{"metrics": {"accuracy": 0.93}}'


def test_succeeded_pod_carries_the_main_containers_termination_message() -> None:
    # The sidecar is listed first (the kubelet does not keep the spec's order) and wrote
    # its own message: the trainer's is the one that counts.
    body = raw_pod(
        0,
        status={
            "phase": "Succeeded",
            "containerStatuses": [
                {
                    "name": "log-shipper",
                    "state": {"terminated": {"exitCode": 0, "message": "flushed 3 files"}},
                },
                {
                    "name": "trainer",
                    "state": {
                        "terminated": {"exitCode": 0, "reason": "Completed", "message": METRICS}
                    },
                },
            ],
        },
    )
    state = pod_state(body)
    assert state == PodState(
        name="llm-a1-0-x7k2p",
        attempt=1,
        index=0,
        phase="Succeeded",
        termination_message=METRICS,
    )


def test_termination_message_of_a_pod_without_a_trainer_container_is_the_first() -> None:
    body = raw_pod(
        0,
        status={
            "phase": "Succeeded",
            "containerStatuses": [
                {"name": "main", "state": {"terminated": {"exitCode": 0, "message": "hello"}}},
                {"name": "other", "state": {"terminated": {"exitCode": 0, "message": "bye"}}},
            ],
        },
    )
    state = pod_state(body)
    assert state is not None
    assert state.termination_message == "hello"


@pytest.mark.parametrize(
    "container",
    [
        {"name": "trainer", "state": {"terminated": {"exitCode": 0}}},
        {"name": "trainer", "state": {"terminated": None}},
        {"name": "trainer", "state": {"running": {}}},
        {"name": "trainer", "state": None},
        {"name": "trainer"},
    ],
    ids=["no-message", "null-terminated", "running", "null-state", "no-state"],
)
def test_pod_without_a_termination_message(container: dict[str, Any]) -> None:
    state = pod_state(raw_pod(0, status={"phase": "Running", "containerStatuses": [container]}))
    assert state is not None
    assert state.termination_message is None


def test_the_termination_message_read_is_rank_zeros_that_succeeded() -> None:
    pods = [
        PodState("llm-a1-1-b", 1, 1, "Succeeded", termination_message="rank 1"),
        PodState("llm-a1-0-a", 1, 0, "Failed", exit_code=1, termination_message="old"),
        PodState("llm-a1-0-c", 1, 0, "Succeeded", termination_message=METRICS),
    ]
    assert termination_message(pods) == METRICS
    assert termination_message(pods[:2]) is None
    assert termination_message([]) is None


# --- FailedCreate Events ----------------------------------------------------------------

JOB = JobState(name="llm-a1", uid="job-uid-1", attempt=1, suspended=False)
NO_SA = (
    'Error creating: pods "llm-a1-0-" is forbidden: error looking up service account '
    'ml/trainer: serviceaccount "trainer" not found'
)
QUOTA = (
    'Error creating: pods "llm-a1-1-" is forbidden: exceeded quota: gpus, requested: '
    "requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=8, limited: "
    "requests.nvidia.com/gpu=8"
)


def core_event(
    message: str, last: str, *, uid: str = "job-uid-1", reason: str = "FailedCreate"
) -> dict[str, Any]:
    """A core/v1 Event the Job controller posts, as the apiserver returns it."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "llm-a1.1879", "namespace": "ml", "creationTimestamp": last},
        "involvedObject": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": "llm-a1",
            "namespace": "ml",
            "uid": uid,
        },
        "reason": reason,
        "message": message,
        "source": {"component": "job-controller"},
        "firstTimestamp": "2026-11-22T04:00:01Z",
        "lastTimestamp": last,
        "count": 3,
        "type": "Warning",
    }


def test_create_failure_is_the_newest_failed_create_event_of_the_job() -> None:
    events = [
        core_event(QUOTA, "2026-11-22T04:05:00Z"),
        core_event(NO_SA, "2026-11-22T04:01:00Z"),
        core_event("Created pod: llm-a1-0-x", "2026-11-22T04:09:00Z", reason="SuccessfulCreate"),
    ]
    assert create_failure(events, JOB) == QUOTA
    assert create_failure(events[1:], JOB) == NO_SA


def test_create_failure_ignores_events_of_an_older_job_with_the_same_name() -> None:
    events = [core_event(NO_SA, "2026-11-22T04:01:00Z", uid="job-uid-of-a-deleted-run")]
    assert create_failure(events, JOB) is None
    assert create_failure([], JOB) is None


def test_create_failure_reads_events_k8s_io_v1_too() -> None:
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "llm-a1.1879", "creationTimestamp": "2026-11-22T04:00:01Z"},
        "regarding": {"kind": "Job", "name": "llm-a1", "uid": "job-uid-1"},
        "reason": "FailedCreate",
        "note": NO_SA,
        "eventTime": None,
        "deprecatedLastTimestamp": "2026-11-22T04:03:00Z",
        "series": {"count": 4, "lastObservedTime": "2026-11-22T04:07:00.123456Z"},
    }
    older = core_event(QUOTA, "2026-11-22T04:06:00Z")
    assert create_failure([event, older], JOB) == NO_SA
    broken = {**event, "series": None, "deprecatedLastTimestamp": "yesterday"}
    assert create_failure([broken, older], JOB) == QUOTA  # no usable time: the oldest


@pytest.mark.parametrize("attempt", [None, "latest"])
def test_pod_without_a_usable_attempt_label_is_not_ours(attempt: str | None) -> None:
    assert pod_state(raw_pod(0, attempt, status={"phase": "Running"})) is None


# --- Observed ------------------------------------------------------------------------------


def test_observed_finds_jobs_by_attempt_and_sorts_pods_by_index() -> None:
    a1 = JobState(name="llm-a1", uid="1", attempt=1, suspended=False, failed_reason="Failed")
    a2 = JobState(name="llm-a2", uid="2", attempt=2, suspended=False, active=2)
    pods = (
        PodState(name="llm-a2-1-b", attempt=2, index=1, phase="Running"),
        PodState(name="llm-a1-0-a", attempt=1, index=0, phase="Failed", exit_code=1),
        PodState(name="llm-a2-0-c", attempt=2, index=0, phase="Running"),
    )
    seen = Observed(jobs=(a1, a2), pods=pods, service=True)
    assert seen.job(1) is a1
    assert seen.job(2) is a2
    assert seen.job(3) is None
    assert [p.name for p in seen.pods_of(2)] == ["llm-a2-0-c", "llm-a2-1-b"]
    assert [p.name for p in seen.pods_of(1)] == ["llm-a1-0-a"]
    assert seen.pods_of(3) == []


def test_states_are_values() -> None:
    """The operator compares and hashes them (kopf index entries)."""
    body = raw_job(status={"active": 1})
    assert job_state(body) == job_state(copy.deepcopy(body))
    assert hash(job_state(body)) == hash(job_state(copy.deepcopy(body)))
