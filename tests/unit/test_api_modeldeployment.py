"""ModelDeployment: one model source, one action per step, analysis, defaults, round-trip."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_operator.api.modeldeployment import (
    ModelDeploymentPhase,
    RolloutOutcome,
    parse_modeldeployment,
)
from mlops_operator.api.parse import InvalidSpec

SERVER = {"image": "serve:1"}
ANALYSIS = {
    "prometheus": {"address": "http://prom:9090"},
    "metrics": [{"name": "ok", "query": "up", "thresholdRange": {"min": 0.99}}],
}


def md(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "m"}, "spec": {"server": SERVER, **spec}}
    if status is not None:
        body["status"] = status
    return body


def test_defaults() -> None:
    parsed = parse_modeldeployment(md({"model": {"uri": "s3://m"}}))
    assert parsed.spec.model_dump(by_alias=True, exclude_none=True, mode="json") == {
        "model": {"uri": "s3://m"},
        "server": {"image": "serve:1", "port": 8080},
        "replicas": 1,
        "gpusPerReplica": 0,
        "paused": False,
    }


def test_canary_defaults_and_round_trip() -> None:
    spec = {
        "model": {"retrainPolicyRef": {"name": "rp"}},
        "autoscaling": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
        "rollout": {
            "canary": {
                "steps": [{"setWeight": 10}, {"pause": {}}, {"analysis": {}}, {"setWeight": 100}],
                "trafficRouting": {"gatewayAPI": {"httpRoute": "r"}},
                "analysis": ANALYSIS,
            }
        },
    }
    parsed = parse_modeldeployment(md(spec))
    canary = parsed.spec.rollout.canary if parsed.spec.rollout else None
    assert canary is not None
    assert canary.analysis is not None
    assert (canary.analysis.interval, canary.analysis.failure_limit) == ("1m", 1)
    assert canary.steps[1].pause is not None
    assert canary.steps[1].pause.duration is None
    assert parsed.spec.autoscaling is not None
    assert parsed.spec.autoscaling.target_cpu_utilization_percentage == 70
    dumped = parsed.spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped["rollout"]["canary"]["steps"][2] == {"analysis": {}}
    assert dumped["rollout"]["canary"]["trafficRouting"] == {"gatewayAPI": {"httpRoute": "r"}}
    assert dumped["autoscaling"] == {
        "minReplicas": 1,
        "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 70,
    }
    assert parse_modeldeployment({"spec": dumped}).spec == parsed.spec


def test_status_round_trip() -> None:
    status = {
        "phase": "Progressing",
        "observedGeneration": 4,
        "conditions": [],
        "stable": {"model": "s3://a", "revision": 1, "replicas": 3, "readyReplicas": 3},
        "canary": {
            "model": "s3://b",
            "revision": 2,
            "weight": 10,
            "stepIndex": 1,
            "analysis": {
                "successes": 2,
                "failures": 0,
                "inconclusive": 0,
                "lastValues": {"ok": {"stable": 0.99, "canary": 0.995}},
            },
        },
        "history": [
            {
                "revision": 1,
                "model": "s3://a",
                "outcome": "Promoted",
                "time": "2026-01-01T00:00:00Z",
            }
        ],
    }
    parsed = parse_modeldeployment(md({"model": {"uri": "s3://b"}}, status))
    assert parsed.status.phase is ModelDeploymentPhase.PROGRESSING
    assert parsed.status.history is not None
    assert parsed.status.history[0].outcome is RolloutOutcome.PROMOTED
    assert parsed.status.model_dump(by_alias=True, exclude_none=True, mode="json") == status


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, "spec.model: is required"),
        (
            {"model": {}},
            "spec.model: must set exactly one of uri, trainingJobRef, retrainPolicyRef",
        ),
        (
            {"model": {"uri": "s3://m", "trainingJobRef": {"name": "tj"}}},
            "spec.model: must set exactly one of uri, trainingJobRef, retrainPolicyRef",
        ),
        ({"model": {"trainingJobRef": {}}}, "spec.model.trainingJobRef.name: is required"),
        (
            {"model": {"uri": "s3://m"}, "rollout": {"canary": {"steps": [{"setWeight": 101}]}}},
            "spec.rollout.canary.steps[0].setWeight: must be <= 100",
        ),
        (
            {
                "model": {"uri": "s3://m"},
                "rollout": {"canary": {"steps": [{"setWeight": 10, "pause": {}}]}},
            },
            "spec.rollout.canary.steps[0]: must set exactly one of setWeight, pause, analysis",
        ),
        (
            {"model": {"uri": "s3://m"}, "rollout": {"canary": {"steps": [{}]}}},
            "spec.rollout.canary.steps[0]: must set exactly one of setWeight, pause, analysis",
        ),
        (
            {"model": {"uri": "s3://m"}, "rollout": {"canary": {"steps": [{"analysis": {}}]}}},
            "spec.rollout.canary: analysis is required when a step runs an analysis",
        ),
        (
            {
                "model": {"uri": "s3://m"},
                "rollout": {"canary": {"steps": [{"pause": {"duration": "5 minutes"}}]}},
            },
            "spec.rollout.canary.steps[0].pause.duration: must match",
        ),
        (
            {
                "model": {"uri": "s3://m"},
                "rollout": {
                    "canary": {
                        "steps": [{"setWeight": 5}],
                        "analysis": {
                            **ANALYSIS,
                            "metrics": [{"name": "ok", "query": "up", "thresholdRange": {}}],
                        },
                    }
                },
            },
            "spec.rollout.canary.analysis.metrics[0].thresholdRange: must set min or max",
        ),
        (
            {"model": {"uri": "s3://m"}, "autoscaling": {"minReplicas": 3, "maxReplicas": 2}},
            "spec.autoscaling: minReplicas must be <= maxReplicas",
        ),
        (
            {"model": {"uri": "s3://m"}, "server": {"image": "x", "port": 0}},
            "spec.server.port: must be >= 1",
        ),
    ],
)
def test_invalid_spec_names_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidSpec) as exc:
        parse_modeldeployment(md(spec))
    assert str(exc.value).startswith(expected)
