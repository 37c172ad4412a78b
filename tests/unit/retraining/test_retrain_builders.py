"""The TrainingJob a policy starts for a trigger, compared whole."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.retrainpolicy import RetrainPolicy, TriggerReason, parse_retrainpolicy
from mlops_operator.api.trainingjob import parse_trainingjob
from mlops_operator.core.retraining import builders
from mlops_operator.core.retraining.triggers import Trigger

UID = "0b8e4c1d-5a6f-4e2b-9c3d-7f1a2b3c4d5e"
BODY: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "RetrainPolicy",
    "metadata": {
        "name": "churn",
        "namespace": "ml",
        "uid": UID,
        "generation": 1,
        "labels": {"mlops.dev/modeldeployment": "churn-serving", "team": "growth"},
    },
    "spec": {
        "trainingJobTemplate": {
            "metadata": {
                "labels": {"team": "growth", "app.kubernetes.io/managed-by": "argocd"},
                "annotations": {
                    "owner": "growth@acme.example",
                    "mlops.dev/trigger-reason": "Manual",  # ours win
                },
            },
            "spec": {
                "image": "ghcr.io/acme/churn-train:1.4",
                "gpusPerNode": 1,
                "dataset": {"uri": "s3://data/churn", "version": "2026-11"},
                "hyperparameters": {"lr": "0.001"},
                "output": {"modelUri": "s3://models/churn/"},
                "checkpoint": {"uri": "s3://ckpt/churn"},
            },
        },
        "triggers": {
            "drift": {
                "prometheus": {"address": "http://prometheus.monitoring:9090"},
                "query": "max(drift_score{model='churn'})",
                "threshold": 0.3,
                "for": "15m",
            }
        },
    },
}
DRIFT = Trigger(
    reason=TriggerReason.DRIFT,
    name="churn-d-0tovxs0",
    time=datetime(2026, 11, 22, 4, 15, tzinfo=UTC),
    value="0.42",
    summary="the drift breach since 2026-11-22T04:00:00Z",
    query="max(drift_score{model='churn'})",
    key=datetime(2026, 11, 22, 4, 0, tzinfo=UTC),
)


def policy(body: dict[str, Any] = BODY) -> RetrainPolicy:
    return parse_retrainpolicy(body)


def test_a_drift_run() -> None:
    assert builders.training_job(policy(), DRIFT) == {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {
            "name": "churn-d-0tovxs0",
            "namespace": "ml",
            "labels": {
                "team": "growth",
                "app.kubernetes.io/managed-by": "mlops-operator",
                # inherited from the policy: lineage up to the ModelDeployment
                "mlops.dev/modeldeployment": "churn-serving",
                "mlops.dev/retrainpolicy": "churn",
            },
            "annotations": {
                "owner": "growth@acme.example",
                "mlops.dev/trigger-reason": "Drift",
                "mlops.dev/trigger-time": "2026-11-22T04:15:00Z",
                "mlops.dev/trigger-value": "0.42",
                "mlops.dev/trigger-query": "max(drift_score{model='churn'})",
            },
            "ownerReferences": [
                {
                    "apiVersion": "mlops.dev/v1alpha1",
                    "kind": "RetrainPolicy",
                    "name": "churn",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "image": "ghcr.io/acme/churn-train:1.4",
            "framework": "generic",
            "nodes": 1,
            "gpusPerNode": 1,
            "dataset": {"uri": "s3://data/churn", "version": "2026-11"},
            "hyperparameters": {"lr": "0.001"},
            # Each run writes its own model and checkpoints, under its own name.
            "output": {"modelUri": "s3://models/churn/churn-d-0tovxs0"},
            "checkpoint": {"uri": "s3://ckpt/churn/churn-d-0tovxs0"},
            "backoffLimit": 0,
            "suspend": False,
        },
    }


def test_a_schedule_run_without_template_metadata() -> None:
    body = copy.deepcopy(BODY)
    del body["spec"]["trainingJobTemplate"]["metadata"]
    del body["metadata"]["labels"]
    trigger = Trigger(
        reason=TriggerReason.SCHEDULE,
        name="churn-s-0tovxs0",
        time=datetime(2026, 11, 22, 4, 0, tzinfo=UTC),
        value="2026-11-22T04:00:00Z",
        summary="the schedule at 2026-11-22T04:00:00Z",
        key=datetime(2026, 11, 22, 4, 0, tzinfo=UTC),
    )
    manifest = builders.training_job(policy(body), trigger)
    assert manifest["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "mlops-operator",
        "mlops.dev/retrainpolicy": "churn",
    }
    assert manifest["metadata"]["annotations"] == {
        "mlops.dev/trigger-reason": "Schedule",
        "mlops.dev/trigger-time": "2026-11-22T04:00:00Z",
        "mlops.dev/trigger-value": "2026-11-22T04:00:00Z",
    }


def test_the_manifest_is_a_valid_trainingjob() -> None:
    run = parse_trainingjob(builders.training_job(policy(), DRIFT))
    assert run.metadata.name == "churn-d-0tovxs0"
    template = policy().spec.training_job_template.spec
    assert run.spec.output is not None
    assert run.spec.output.model_uri == "s3://models/churn/churn-d-0tovxs0"
    assert run.spec.model_copy(update={"output": None, "checkpoint": None}) == (
        template.model_copy(update={"output": None, "checkpoint": None})
    )


def test_the_manifest_shares_nothing_with_the_policy() -> None:
    p = policy()
    manifest = builders.training_job(p, DRIFT)
    manifest["spec"]["hyperparameters"]["lr"] = "1"
    manifest["metadata"]["labels"]["team"] = "x"
    assert p.spec.training_job_template.spec.hyperparameters == {"lr": "0.001"}
    template_meta = p.spec.training_job_template.metadata
    assert template_meta is not None
    assert template_meta.labels == {
        "team": "growth",
        "app.kubernetes.io/managed-by": "argocd",
    }
