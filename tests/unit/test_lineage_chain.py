"""The lineage chain, from the served model back to the drift that caused it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.lineage import Row, rows
from mlops_operator.lineage import table

T = "2026-12-01T10:00:00Z"


def md(stable: dict[str, Any] | None = None) -> ModelDeployment:
    status: dict[str, Any] = {}
    if stable is not None:
        status["stable"] = stable
        status["history"] = [
            {
                "revision": stable.get("revision", 1),
                "model": stable["model"],
                "outcome": "Promoted",
                "time": T,
            }
        ]
    return ModelDeployment.model_validate(
        {
            "metadata": {"name": "sentiment", "namespace": "ml"},
            "spec": {
                "model": {"retrainPolicyRef": {"name": "drift"}},
                "server": {"image": "serve:1"},
            },
            "status": status,
        }
    )


def tj(triggered: bool = True) -> TrainingJob:
    status: dict[str, Any] = {
        "phase": "Succeeded",
        "attempts": 1,
        "completionTime": T,
        "metrics": {"accuracy": 0.93, "val_loss": 0.21},
    }
    if triggered:
        status["triggeredBy"] = {
            "retrainPolicy": "drift",
            "reason": "Drift",
            "value": "0.31",
            "time": T,
            "query": "max(drift)",
        }
    return TrainingJob.model_validate(
        {
            "metadata": {"name": "drift-d-abc", "namespace": "ml"},
            "spec": {
                "image": "train:1",
                "dataset": {"uri": "s3://data", "version": "v7"},
                "hyperparameters": {"lr": "3e-4"},
            },
            "status": status,
        }
    )


def policy() -> RetrainPolicy:
    return RetrainPolicy.model_validate(
        {
            "metadata": {"name": "drift", "namespace": "ml"},
            "spec": {
                "trainingJobTemplate": {"spec": {"image": "train:1"}},
                "triggers": {"manual": {}},
            },
            "status": {
                "latestModel": {
                    "uri": "s3://m/v8",
                    "trainingJob": "drift-d-abc",
                    "time": datetime(2026, 12, 1, 10, tzinfo=UTC),
                }
            },
        }
    )


def test_the_whole_chain_from_model_to_drift_value() -> None:
    chain = rows(
        md({"model": "s3://m/v8", "revision": 3, "trainingJob": "drift-d-abc"}), tj(), policy()
    )
    assert chain == [
        Row(
            "served model",
            "ModelDeployment ml/sentiment",
            "s3://m/v8; revision 3; promoted 2026-12-01T10:00:00Z",
        ),
        Row(
            "produced by",
            "TrainingJob ml/drift-d-abc",
            "Succeeded; finished 2026-12-01T10:00:00Z; attempts 1",
        ),
        Row("dataset", "", "s3://data @ v7"),
        Row("hyperparameters", "", "lr=3e-4"),
        Row("metrics", "", "accuracy=0.93, val_loss=0.21"),
        Row(
            "triggered by",
            "RetrainPolicy ml/drift",
            "Drift; value 0.31; at 2026-12-01T10:00:00Z; query max(drift)",
        ),
        Row(
            "policy's latest",
            "RetrainPolicy ml/drift",
            "s3://m/v8; from drift-d-abc; at 2026-12-01T10:00:00Z",
        ),
    ]
    printed = table(chain).splitlines()
    assert printed[0].split() == ["STEP", "OBJECT", "DETAIL"]
    assert printed[1].startswith("served model")
    assert "value 0.31" in printed[6]


def test_a_model_given_by_uri_has_no_run_behind_it() -> None:
    chain = rows(md({"model": "s3://m/v1", "revision": 1}))
    assert chain[-1] == Row("produced by", "-", "not recorded (the model was given by URI)")


def test_a_deleted_run_ends_the_chain_and_says_so() -> None:
    chain = rows(md({"model": "s3://m/v1", "revision": 1, "trainingJob": "gone"}), None)
    assert chain[-1] == Row("produced by", "TrainingJob ml/gone", "(not found: deleted?)")


def test_a_run_started_by_hand_has_no_trigger() -> None:
    chain = rows(
        md({"model": "s3://m/v1", "revision": 1, "trainingJob": "drift-d-abc"}), tj(triggered=False)
    )
    assert chain[-1] == Row("triggered by", "-", "created by hand (no RetrainPolicy)")


def test_nothing_served_yet() -> None:
    assert rows(md())[0].detail == "(nothing served yet)"
