"""Domain metrics counted from what a status write added."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.modeldeployment import ModelDeploymentStatus
from mlops_operator.api.retrainpolicy import RetrainPolicyStatus
from mlops_operator.controllers import modeldeployment, retrainpolicy
from mlops_operator.controllers.runtime import Key
from mlops_operator.observability.metrics import MEASUREMENTS, RETRAINS, ROLLOUTS

KEY = Key("ModelDeployment", "ml", "m")


def count(counter: Any, label: str) -> float:
    return float(counter.labels(label)._value.get())


def md(history: list[tuple[int, str, str]], measured: str | None = None) -> ModelDeploymentStatus:
    status: dict[str, Any] = {
        "history": [
            {"revision": r, "model": f"s3://m/{r}", "outcome": o, "time": t} for r, o, t in history
        ]
    }
    if measured is not None:
        status["canary"] = {
            "model": "s3://m/9",
            "analysis": {"lastResult": "Fail", "lastMeasurementTime": measured},
        }
    return ModelDeploymentStatus.model_validate(status)


def test_each_new_history_entry_counts_once_even_when_the_history_is_trimmed() -> None:
    aborted = count(ROLLOUTS, "Aborted")
    old = md([(i, "Promoted", f"2026-12-01T10:0{i}:00Z") for i in range(1, 4)])
    new = md(
        [(i, "Promoted", f"2026-12-01T10:0{i}:00Z") for i in range(2, 4)]
        + [(4, "Aborted", "2026-12-01T10:09:00Z")]
    )
    modeldeployment.record(KEY, old, new)
    assert count(ROLLOUTS, "Aborted") == aborted + 1
    modeldeployment.record(KEY, new, new)  # nothing new
    assert count(ROLLOUTS, "Aborted") == aborted + 1


def test_a_measurement_counts_when_its_time_moves() -> None:
    failed = count(MEASUREMENTS, "Fail")
    first = md([], measured="2026-12-01T10:00:00Z")
    modeldeployment.record(KEY, md([]), first)
    modeldeployment.record(KEY, first, first)
    modeldeployment.record(KEY, first, md([], measured="2026-12-01T10:00:05Z"))
    assert count(MEASUREMENTS, "Fail") == failed + 2


def test_a_retrain_counts_by_its_trigger() -> None:
    drift = count(RETRAINS, "Drift")
    old = RetrainPolicyStatus()
    new = RetrainPolicyStatus.model_validate(
        {"lastTrigger": {"time": datetime(2026, 12, 1, tzinfo=UTC), "reason": "Drift"}}
    )
    retrainpolicy.record(Key("RetrainPolicy", "ml", "p"), old, new)
    retrainpolicy.record(Key("RetrainPolicy", "ml", "p"), new, new)
    assert count(RETRAINS, "Drift") == drift + 1
