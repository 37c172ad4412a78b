"""TrainingJob: parsing raw bodies, defaults, round-trip, errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.api.common import Condition
from mlops_operator.api.parse import InvalidSpec
from mlops_operator.api.trainingjob import (
    Framework,
    ModelRef,
    NodeCounts,
    TrainingJobPhase,
    TrainingJobSpec,
    TrainingJobStatus,
    TriggeredBy,
    changed_immutable_fields,
    parse_trainingjob,
)

BODY: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {
        "name": "llm",
        "namespace": "ml",
        "uid": "1234",
        "generation": 2,
        "resourceVersion": "99",
        "creationTimestamp": "2026-11-22T04:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
    },
    "spec": {
        "image": "train:1",
        "command": ["torchrun"],
        "args": ["train.py"],
        "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "framework": "pytorch",
        "nodes": 2,
        "procsPerNode": 8,
        "gpusPerNode": 4,
        "resources": {"limits": {"memory": "1Gi"}},
        "dataset": {"uri": "s3://d", "version": "v1"},
        "hyperparameters": {"lr": "0.1"},
        "output": {"modelUri": "s3://m"},
        "checkpoint": {"uri": "s3://c"},
        "backoffLimit": 2,
        "activeDeadlineSeconds": 3600,
        "ttlSecondsAfterFinished": 60,
        "suspend": True,
        "queueName": "gpu-queue",
        "priorityClassName": "high",
        "serviceAccountName": "trainer",
        "podTemplate": {
            "metadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}},
            "spec": {"nodeSelector": {"gpu": "h100"}},
        },
    },
    "status": {
        "phase": "Running",
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Running",
                "status": "True",
                "reason": "PodsRunning",
                "message": "2/2 pods running",
                "lastTransitionTime": "2026-11-22T04:01:00Z",
                "observedGeneration": 2,
            }
        ],
        "startTime": "2026-11-22T04:00:30Z",
        "attempts": 1,
        "nodes": {"active": 2, "ready": 2, "succeeded": 0, "failed": 0},
        "triggeredBy": {
            "retrainPolicy": "drift",
            "reason": "Drift",
            "value": "0.42",
            "time": "2026-11-22T03:59:00Z",
        },
    },
}


def test_every_field_is_parsed() -> None:
    tj = parse_trainingjob(BODY)
    spec = tj.spec
    assert tj.metadata.name == "llm"
    assert tj.metadata.generation == 2
    assert spec.framework is Framework.PYTORCH
    assert (spec.nodes, spec.procs_per_node, spec.gpus_per_node) == (2, 8, 4)
    assert spec.env == [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    assert spec.resources == {"limits": {"memory": "1Gi"}}
    assert spec.dataset is not None
    assert spec.dataset.version == "v1"
    assert spec.output is not None
    assert spec.output.model_uri == "s3://m"
    assert spec.checkpoint is not None
    assert spec.checkpoint.uri == "s3://c"
    assert spec.hyperparameters == {"lr": "0.1"}
    assert (spec.backoff_limit, spec.active_deadline_seconds, spec.ttl_seconds_after_finished) == (
        2,
        3600,
        60,
    )
    assert spec.suspend is True
    assert (spec.queue_name, spec.priority_class_name, spec.service_account_name) == (
        "gpu-queue",
        "high",
        "trainer",
    )
    assert spec.pod_template is not None
    assert spec.pod_template.metadata is not None
    assert spec.pod_template.metadata.labels == {"team": "a"}
    assert spec.pod_template.spec == {"nodeSelector": {"gpu": "h100"}}
    status = tj.status
    assert status.phase is TrainingJobPhase.RUNNING
    assert status.conditions[0].last_transition_time == datetime(2026, 11, 22, 4, 1, tzinfo=UTC)
    assert status.nodes == NodeCounts(active=2, ready=2)
    assert status.triggered_by == TriggeredBy(
        retrain_policy="drift",
        reason="Drift",
        value="0.42",
        time=datetime(2026, 11, 22, 3, 59, tzinfo=UTC),
    )


def test_round_trip_is_lossless() -> None:
    dumped = parse_trainingjob(BODY).model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped == BODY


def test_defaults() -> None:
    tj = parse_trainingjob({"metadata": {"name": "a"}, "spec": {"image": "x"}})
    assert tj.model_dump(by_alias=True, exclude_none=True, mode="json") == {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "a"},
        "spec": {
            "image": "x",
            "framework": "generic",
            "nodes": 1,
            "gpusPerNode": 0,
            "backoffLimit": 0,
            "suspend": False,
        },
        "status": {"conditions": []},
    }


@pytest.mark.parametrize(
    ("procs", "gpus", "effective"), [(None, 0, 1), (None, 4, 4), (2, 4, 2), (3, 0, 3)]
)
def test_effective_procs_per_node(procs: int | None, gpus: int, effective: int) -> None:
    spec = TrainingJobSpec(image="x", procs_per_node=procs, gpus_per_node=gpus)
    assert spec.effective_procs_per_node == effective


def test_status_dump_for_a_status_patch() -> None:
    status = TrainingJobStatus(
        phase=TrainingJobPhase.SUCCEEDED,
        observed_generation=1,
        completion_time=datetime(2026, 11, 22, 5, 0, 0, 999, tzinfo=UTC),
        model=ModelRef(uri="s3://m"),
        conditions=[
            Condition(
                type="Succeeded",
                status="True",
                reason="Completed",
                last_transition_time=datetime(2026, 11, 22, 5, tzinfo=UTC),
            )
        ],
    )
    assert status.model_dump(by_alias=True, exclude_none=True, mode="json") == {
        "phase": "Succeeded",
        "observedGeneration": 1,
        "completionTime": "2026-11-22T05:00:00Z",
        "model": {"uri": "s3://m"},
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Completed",
                "message": "",
                "lastTransitionTime": "2026-11-22T05:00:00Z",
            }
        ],
    }


def test_unknown_fields_are_ignored() -> None:
    tj = parse_trainingjob({"spec": {"image": "x", "fromTheFuture": 1}, "status": {"new": 2}})
    assert "fromTheFuture" not in tj.spec.model_dump(by_alias=True)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, "spec.image: is required"),
        ({"image": "x", "nodes": 0}, "spec.nodes: must be >= 1"),
        ({"image": "x", "nodes": "two"}, "spec.nodes: must be an integer"),
        ({"image": "x", "gpusPerNode": -1}, "spec.gpusPerNode: must be >= 0"),
        ({"image": "x", "procsPerNode": 0}, "spec.procsPerNode: must be >= 1"),
        (
            {"image": "x", "framework": "jax"},
            "spec.framework: must be one of 'pytorch' or 'generic'",
        ),
        ({"image": "x", "env": [{"value": "v"}]}, "spec.env[0]: an env var needs a name"),
        ({"image": "x", "output": {}}, "spec.output.modelUri: is required"),
        ({"image": "x", "dataset": {"version": "1"}}, "spec.dataset.uri: is required"),
        ({"image": "x", "backoffLimit": -1}, "spec.backoffLimit: must be >= 0"),
        ({"image": "x", "activeDeadlineSeconds": 0}, "spec.activeDeadlineSeconds: must be >= 1"),
        (
            {"image": "x", "hyperparameters": {"lr": 0.1}},
            "spec.hyperparameters.lr: must be a string",
        ),
        ({"image": "x", "serviceAccountName": "Bad_Name"}, "spec.serviceAccountName: must match"),
        ({"image": "x", "suspend": "maybe"}, "spec.suspend: must be a boolean"),
    ],
)
def test_invalid_spec_names_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidSpec) as exc:
        parse_trainingjob({"spec": spec})
    assert str(exc.value).startswith(expected)


def test_missing_spec() -> None:
    with pytest.raises(InvalidSpec, match=r"^spec: is required$"):
        parse_trainingjob({"metadata": {"name": "a"}})


def test_changed_immutable_fields() -> None:
    old = parse_trainingjob(BODY).spec
    new = old.model_copy(
        update={"image": "train:2", "suspend": False, "backoff_limit": 5, "procs_per_node": None}
    )
    assert changed_immutable_fields(old, new) == ["image", "procsPerNode"]
    assert changed_immutable_fields(old, old.model_copy(deep=True)) == []


@pytest.mark.parametrize("name", ["r" * 49, "7b-run", "Run", "run-"])
def test_a_name_that_cannot_name_the_children_is_invalid(name: str) -> None:
    with pytest.raises(InvalidSpec, match=r"metadata\.name .* DNS-1035 label of at most 48"):
        parse_trainingjob({"metadata": {"name": name}, "spec": {"image": "x"}})


def test_the_longest_name_still_fits_pod_hostnames() -> None:
    tj = parse_trainingjob(
        {"metadata": {"name": "r" * 48}, "spec": {"image": "x", "backoffLimit": 99, "nodes": 9999}}
    )
    hostname = f"{tj.metadata.name}-a{tj.spec.backoff_limit + 1}-{tj.spec.nodes - 1}"
    assert len(hostname) <= 63
