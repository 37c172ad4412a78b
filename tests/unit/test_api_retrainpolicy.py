"""RetrainPolicy: triggers, defaults, the embedded TrainingJob spec, errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_operator.api.parse import InvalidSpec
from mlops_operator.api.retrainpolicy import (
    ConcurrencyPolicy,
    PromotionMode,
    RetrainPolicyPhase,
    parse_retrainpolicy,
)

TEMPLATE = {"spec": {"image": "train:1"}}
DRIFT = {"prometheus": {"address": "http://prom:9090"}, "query": "drift", "threshold": 0.3}


def rp(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"trainingJobTemplate": TEMPLATE, **spec}}


def test_defaults() -> None:
    parsed = parse_retrainpolicy(rp({"triggers": {"drift": DRIFT}}))
    assert parsed.spec.model_dump(by_alias=True, exclude_none=True, mode="json") == {
        "trainingJobTemplate": {
            "spec": {
                "image": "train:1",
                "framework": "generic",
                "nodes": 1,
                "gpusPerNode": 0,
                "backoffLimit": 0,
                "suspend": False,
            }
        },
        "triggers": {"drift": {**DRIFT, "for": "0s", "interval": "1m"}},
        "cooldown": "1h",
        "concurrencyPolicy": "Forbid",
        "promotion": {"mode": "Automatic"},
        "suspend": False,
        "historyLimit": {"succeeded": 3, "failed": 1},
    }
    assert parsed.spec.concurrency_policy is ConcurrencyPolicy.FORBID
    assert parsed.spec.promotion.mode is PromotionMode.AUTOMATIC


def test_for_is_a_python_keyword() -> None:
    parsed = parse_retrainpolicy(rp({"triggers": {"drift": {**DRIFT, "for": "15m"}}}))
    assert parsed.spec.triggers.drift is not None
    assert parsed.spec.triggers.drift.for_ == "15m"


def test_schedule_and_manual_triggers() -> None:
    parsed = parse_retrainpolicy(
        rp({"triggers": {"schedule": {"cron": "0 3 * * 1"}, "manual": {}}})
    )
    assert parsed.spec.triggers.schedule is not None
    assert parsed.spec.triggers.schedule.time_zone == "UTC"
    assert parsed.spec.triggers.manual is not None
    dumped = parsed.spec.triggers.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped == {"schedule": {"cron": "0 3 * * 1", "timeZone": "UTC"}, "manual": {}}


def test_status_round_trip() -> None:
    status = {
        "phase": "CoolingDown",
        "conditions": [],
        "observedGeneration": 1,
        "lastValue": 0.42,
        "lastEvaluationTime": "2026-01-01T00:00:00Z",
        "breachingSince": "2026-01-01T00:00:00Z",
        "lastTrigger": {"time": "2026-01-01T00:15:00Z", "reason": "Drift", "value": "0.42"},
        "nextEligibleTime": "2026-01-01T07:00:00Z",
        "activeTrainingJob": "p-1",
        "lastTrainingJob": "p-0",
        "latestModel": {"uri": "s3://m", "trainingJob": "p-0", "time": "2026-01-01T00:00:00Z"},
    }
    body = rp({"triggers": {"drift": DRIFT}})
    body["status"] = status
    parsed = parse_retrainpolicy(body)
    assert parsed.status.phase is RetrainPolicyPhase.COOLING_DOWN
    assert parsed.status.model_dump(by_alias=True, exclude_none=True, mode="json") == status


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"triggers": {}}, "spec.triggers: must set at least one of drift, schedule, manual"),
        ({}, "spec.triggers: is required"),
        (
            {"triggers": {"drift": {**DRIFT, "for": "ten minutes"}}},
            "spec.triggers.drift.for: must match",
        ),
        ({"triggers": {"drift": {**DRIFT, "threshold": "high"}}}, "spec.triggers.drift.threshold"),
        (
            {"triggers": {"schedule": {"cron": "61 * * * *"}}},
            "spec.triggers.schedule.cron: invalid cron '61 * * * *': minute must be within 0-59",
        ),
        (
            {"triggers": {"schedule": {"cron": "daily"}}},
            "spec.triggers.schedule.cron: invalid cron 'daily': want 5 fields",
        ),
        ({"triggers": {"manual": {}}, "cooldown": "1d"}, "spec.cooldown: must match"),
        (
            {"triggers": {"manual": {}}, "concurrencyPolicy": "Allow"},
            "spec.concurrencyPolicy: must be one of 'Forbid' or 'Replace'",
        ),
        (
            {"triggers": {"manual": {}}, "promotion": {"evaluation": {"metric": "acc"}}},
            "spec.promotion.evaluation: must set min or max",
        ),
        (
            {"triggers": {"manual": {}}, "historyLimit": {"failed": -1}},
            "spec.historyLimit.failed: must be >= 0",
        ),
        (
            {
                "triggers": {"manual": {}},
                "trainingJobTemplate": {"spec": {"image": "x", "nodes": 0}},
            },
            "spec.trainingJobTemplate.spec.nodes: must be >= 1",
        ),
    ],
)
def test_invalid_spec_names_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidSpec) as exc:
        parse_retrainpolicy(rp(spec))
    assert str(exc.value).startswith(expected), str(exc.value)
