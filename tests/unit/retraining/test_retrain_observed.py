"""RunState: a policy's TrainingJob, read from the raw object the operator's cache holds."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from mlops_operator.core.retraining.observed import RunState, run_state

POLICY_UID = "0b8e4c1d-5a6f-4e2b-9c3d-7f1a2b3c4d5e"

SUCCEEDED: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {
        "name": "churn-d-0tovxs0",
        "namespace": "ml",
        "uid": "9f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
        "creationTimestamp": "2026-11-22T04:15:02Z",
        "labels": {
            "app.kubernetes.io/managed-by": "mlops-operator",
            "mlops.dev/retrainpolicy": "churn",
        },
        "annotations": {
            "mlops.dev/trigger-reason": "Drift",
            "mlops.dev/trigger-value": "0.42",
            "mlops.dev/trigger-time": "2026-11-22T04:15:00Z",
            "mlops.dev/trigger-query": "max(drift_score{model='churn'})",
        },
        "ownerReferences": [
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "RetrainPolicy",
                "name": "churn",
                "uid": POLICY_UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {"image": "ghcr.io/acme/churn-train:1.4", "nodes": 1},
    "status": {
        "phase": "Succeeded",
        "conditions": [
            {
                "type": "Created",
                "status": "True",
                "reason": "JobCreated",
                "message": "attempt 1: Job churn-d-0tovxs0-a1",
                "lastTransitionTime": "2026-11-22T04:15:02Z",
            },
            {
                "type": "Running",
                "status": "False",
                "reason": "Completed",
                "message": "attempt 1 completed",
                "lastTransitionTime": "2026-11-22T04:52:40Z",
            },
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Completed",
                "message": "attempt 1 completed; model at s3://models/churn/7",
                "lastTransitionTime": "2026-11-22T04:52:40Z",
            },
        ],
        "startTime": "2026-11-22T04:15:09Z",
        "completionTime": "2026-11-22T04:52:40Z",
        "attempts": 1,
        "model": {"uri": "s3://models/churn/7"},
        "metrics": {
            "accuracy": 0.93,
            "val_loss": 0.21,
            "epochs": 12,
            "note": "ok",
            "ok": True,
            "f1": float("nan"),
        },
    },
}


def test_a_successful_run() -> None:
    assert run_state(SUCCEEDED) == RunState(
        name="churn-d-0tovxs0",
        uid="9f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
        owner_uid=POLICY_UID,
        created=datetime(2026, 11, 22, 4, 15, 2, tzinfo=UTC),
        reason="Drift",
        value="0.42",
        time=datetime(2026, 11, 22, 4, 15, tzinfo=UTC),
        query="max(drift_score{model='churn'})",
        phase="Succeeded",
        succeeded=True,
        failed=False,
        completion_time=datetime(2026, 11, 22, 4, 52, 40, tzinfo=UTC),
        message="attempt 1 completed; model at s3://models/churn/7",
        model_uri="s3://models/churn/7",
        # numbers only: text, booleans and NaN are no metrics
        metrics=(("accuracy", 0.93), ("epochs", 12.0), ("val_loss", 0.21)),
        deleting=False,
    )
    state = run_state(SUCCEEDED)
    assert state.finished
    assert state.ended == datetime(2026, 11, 22, 4, 52, 40, tzinfo=UTC)
    assert state.metric("accuracy") == 0.93
    assert state.metric("f1") is None


def test_a_failed_run_keeps_why() -> None:
    body = copy.deepcopy(SUCCEEDED)
    body["status"] = {
        "phase": "Failed",
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "attempt 1 failed: node 0 exited with code 1",
                "lastTransitionTime": "2026-11-22T04:20:00Z",
            }
        ],
        "completionTime": "2026-11-22T04:20:00Z",
    }
    state = run_state(body)
    assert (state.succeeded, state.failed, state.finished) == (False, True, True)
    assert state.message == "attempt 1 failed: node 0 exited with code 1"
    assert state.model_uri is None
    assert state.metrics == ()


def test_a_running_run() -> None:
    body = copy.deepcopy(SUCCEEDED)
    body["status"] = {"phase": "Running", "conditions": [], "attempts": 1}
    state = run_state(body)
    assert not state.finished
    assert state.ended is None
    assert state.completion_time is None


def test_a_new_run_without_status() -> None:
    body = copy.deepcopy(SUCCEEDED)
    del body["status"]
    body["metadata"]["deletionTimestamp"] = "2026-11-22T05:00:00Z"
    state = run_state(body)
    assert (state.phase, state.finished, state.deleting) == (None, False, True)


def test_a_finished_run_without_completion_time_ends_at_its_creation() -> None:
    body = copy.deepcopy(SUCCEEDED)
    del body["status"]["completionTime"]
    assert run_state(body).ended == datetime(2026, 11, 22, 4, 15, 2, tzinfo=UTC)


def test_only_the_controller_owner_counts() -> None:
    body = copy.deepcopy(SUCCEEDED)
    body["metadata"]["ownerReferences"] = [
        {"kind": "Team", "name": "t", "uid": "not-the-controller"},
        {"kind": "RetrainPolicy", "name": "churn", "uid": "u2", "controller": True},
    ]
    assert run_state(body).owner_uid == "u2"
    del body["metadata"]["ownerReferences"]
    assert run_state(body).owner_uid is None


def test_hand_edited_annotations_do_not_crash() -> None:
    body = copy.deepcopy(SUCCEEDED)
    body["metadata"]["annotations"] = {"mlops.dev/trigger-time": "yesterday"}
    body["status"]["metrics"] = ["accuracy", 0.9]
    state = run_state(body)
    assert (state.reason, state.time, state.metrics) == (None, None, ())
