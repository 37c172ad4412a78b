"""Resolving ``spec.model`` against the TrainingJob or RetrainPolicy it follows."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.serving.source import Source, resolve

T = "2026-11-22T04:00:00Z"


def md(model: dict[str, Any]) -> ModelDeployment:
    return ModelDeployment.model_validate(
        {
            "metadata": {"name": "s", "namespace": "n"},
            "spec": {"model": model, "server": {"image": "i"}},
        }
    )


def tj(status: dict[str, Any]) -> TrainingJob:
    return TrainingJob.model_validate(
        {"metadata": {"name": "run-7", "namespace": "n"}, "spec": {"image": "t"}, "status": status}
    )


def cond(type_: str) -> dict[str, Any]:
    return {"type": type_, "status": "True", "reason": type_, "lastTransitionTime": T}


def policy(latest: dict[str, Any] | None) -> RetrainPolicy:
    body: dict[str, Any] = {
        "metadata": {"name": "nightly", "namespace": "n"},
        "spec": {
            "trainingJobTemplate": {"spec": {"image": "t"}},
            "triggers": {"schedule": {"cron": "0 3 * * *"}},
        },
        "status": {"latestModel": latest} if latest else {},
    }
    return RetrainPolicy.model_validate(body)


def test_a_uri_is_served_as_is() -> None:
    assert resolve(md({"uri": "s3://m/v1"})) == Source("s3://m/v1")


def test_a_trainingjob_that_succeeded_gives_its_model_and_its_name() -> None:
    job = tj({"conditions": [cond("Succeeded")], "model": {"uri": "s3://m/run-7"}})
    assert resolve(md({"trainingJobRef": {"name": "run-7"}}), job) == Source(
        "s3://m/run-7", training_job="run-7"
    )


@pytest.mark.parametrize(
    ("job", "reason", "message"),
    [
        (None, "TrainingJobNotFound", "TrainingJob run-7 not found"),
        (tj({}), "ModelNotReady", "waiting for TrainingJob run-7 to succeed"),
        (
            tj({"conditions": [cond("Running")], "model": None}),
            "ModelNotReady",
            "waiting for TrainingJob run-7 to succeed",
        ),
        (
            tj({"conditions": [cond("Failed")]}),
            "TrainingJobFailed",
            "TrainingJob run-7 failed: it has no model",
        ),
        (
            tj({"conditions": [cond("Succeeded")]}),
            "TrainingJobFailed",
            "TrainingJob run-7 succeeded without a model (it has no spec.output)",
        ),
    ],
)
def test_a_trainingjob_without_a_model(job: TrainingJob | None, reason: str, message: str) -> None:
    source = resolve(md({"trainingJobRef": {"name": "run-7"}}), job)
    assert source == Source(None, reason, message)
    assert source.waiting is (reason == "ModelNotReady")


def test_a_retrainpolicy_gives_its_latest_model_and_the_run_behind_it() -> None:
    rp = policy({"uri": "s3://m/run-9", "trainingJob": "nightly-9", "time": T})
    assert resolve(md({"retrainPolicyRef": {"name": "nightly"}}), policy=rp) == Source(
        "s3://m/run-9", training_job="nightly-9"
    )


def test_a_retrainpolicy_without_a_model_yet() -> None:
    source = resolve(md({"retrainPolicyRef": {"name": "nightly"}}), policy=policy(None))
    assert source == Source(
        None, "ModelNotReady", "waiting for RetrainPolicy nightly to promote a model"
    )
    assert source.waiting


def test_a_missing_retrainpolicy() -> None:
    source = resolve(md({"retrainPolicyRef": {"name": "nightly"}}), None, None)
    assert source == Source(None, "RetrainPolicyNotFound", "RetrainPolicy nightly not found")
    assert not source.waiting


def test_a_source_is_a_uri_or_a_reason() -> None:
    with pytest.raises(ValueError, match="either"):
        Source(None)
    with pytest.raises(ValueError, match="either"):
        Source("s3://m", "ModelNotReady")
