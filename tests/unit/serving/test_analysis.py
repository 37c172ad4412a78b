"""Canary analysis: the queries of one measurement, when measurements are due, verdicts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.api.keys import Variant
from mlops_operator.api.modeldeployment import (
    AnalysisStatus,
    MeasurementResult,
    ModelDeployment,
    VariantValues,
)
from mlops_operator.core.serving.analysis import (
    Measurement,
    Query,
    apply,
    measurement_due,
    next_measurement,
    queries,
)
from mlops_operator.core.watching.series import Problem, Reading, Verdict

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
ERRORS = (
    'sum(rate(http_requests_total{namespace="{{namespace}}",app="{{name}}",'
    'variant="{{ variant }}",code=~"5.."}[2m]))'
)
LATENCY = 'histogram_quantile(0.99, rate(latency_bucket{variant="{{variant}}"}[2m]))'


def md(
    status: dict[str, Any] | None = None, steps: list[dict[str, Any]] | None = None, **spec: Any
) -> ModelDeployment:
    body: dict[str, Any] = {
        "metadata": {"name": "sentiment", "namespace": "nlp"},
        "spec": {
            "model": {"uri": "s3://m/v2"},
            "server": {"image": "srv"},
            "rollout": {
                "canary": {
                    "steps": steps or [{"setWeight": 10}, {"analysis": {}}, {"setWeight": 100}],
                    "analysis": {
                        "interval": "1m",
                        "failureLimit": 1,
                        "prometheus": {"address": "http://prom:9090"},
                        "metrics": [
                            {
                                "name": "error-rate",
                                "query": ERRORS,
                                "thresholdRange": {"max": 0.05},
                            },
                            {
                                "name": "latency",
                                "query": LATENCY,
                                "thresholdRange": {"min": 0, "max": 0.5},
                            },
                        ],
                    },
                }
            },
            **spec,
        },
        "status": status or {},
    }
    return ModelDeployment.model_validate(body)


def test_queries_every_metric_once_per_variant_with_the_placeholders_filled() -> None:
    assert queries(md()) == [
        Query(
            "error-rate",
            Variant.STABLE,
            'sum(rate(http_requests_total{namespace="nlp",app="sentiment",variant="stable",code=~"5.."}[2m]))',
        ),
        Query(
            "error-rate",
            Variant.CANARY,
            'sum(rate(http_requests_total{namespace="nlp",app="sentiment",variant="canary",code=~"5.."}[2m]))',
        ),
        Query(
            "latency",
            Variant.STABLE,
            'histogram_quantile(0.99, rate(latency_bucket{variant="stable"}[2m]))',
        ),
        Query(
            "latency",
            Variant.CANARY,
            'histogram_quantile(0.99, rate(latency_bucket{variant="canary"}[2m]))',
        ),
    ]


def test_no_queries_without_analysis() -> None:
    body = md().model_dump(by_alias=True, exclude_none=True)
    del body["spec"]["rollout"]["canary"]["analysis"]
    body["spec"]["rollout"]["canary"]["steps"] = [{"setWeight": 50}]
    assert queries(ModelDeployment.model_validate(body)) == []


def canary(**kw: Any) -> dict[str, Any]:
    return {
        "canary": {
            "model": "s3://m/v2",
            "revision": 2,
            "stepStartedAt": "2026-11-22T04:00:00Z",
            **kw,
        }
    }


def analysis(last: datetime | None, result: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if last:
        out["lastMeasurementTime"] = last.strftime("%Y-%m-%dT%H:%M:%SZ")
    if result:
        out["lastResult"] = result
    return out


@pytest.mark.parametrize(
    ("status", "due"),
    [
        # no canary, no measurement
        ({}, None),
        # at a setWeight step before the canary takes traffic: nothing to measure
        (canary(stepIndex=0, weight=0), None),
        # taking traffic: background analysis one interval after the step began
        (canary(stepIndex=0, weight=20), T0 + timedelta(minutes=1)),
        # ... or after the last measurement
        (
            canary(stepIndex=0, weight=20, analysis=analysis(T0 + timedelta(seconds=30), "Pass")),
            T0 + timedelta(seconds=90),
        ),
        # an analysis step without a measurement yet: at once (its start)
        (canary(stepIndex=1, weight=20, analysis=analysis(T0 - timedelta(seconds=10), "Pass")), T0),
        (canary(stepIndex=1, weight=0), T0),
        # an analysis step whose measurement failed or had no data: again after an interval
        (
            canary(stepIndex=1, weight=20, analysis=analysis(T0 + timedelta(seconds=5), "Fail")),
            T0 + timedelta(seconds=65),
        ),
        (
            canary(
                stepIndex=1, weight=0, analysis=analysis(T0 + timedelta(seconds=5), "Inconclusive")
            ),
            T0 + timedelta(seconds=65),
        ),
        # an analysis step that passed: only background analysis remains
        (
            canary(stepIndex=1, weight=20, analysis=analysis(T0 + timedelta(seconds=5), "Pass")),
            T0 + timedelta(seconds=65),
        ),
        (canary(stepIndex=1, weight=0, analysis=analysis(T0 + timedelta(seconds=5), "Pass")), None),
        # promoting: the canary is judged no more
        (canary(stepIndex=3, weight=50, promoting=True), None),
    ],
)
def test_next_measurement(status: dict[str, Any], due: datetime | None) -> None:
    assert next_measurement(md(status)) == due
    if due is not None:
        assert not measurement_due(md(status), due - timedelta(seconds=1))
        assert measurement_due(md(status), due)
    else:
        assert not measurement_due(md(status), T0 + timedelta(days=1))


def test_no_measurement_while_paused_by_spec() -> None:
    assert next_measurement(md(canary(stepIndex=1, weight=20), paused=True)) is None


def test_no_measurement_without_analysis() -> None:
    body = md(canary(stepIndex=0, weight=20)).model_dump(by_alias=True, exclude_none=True)
    del body["spec"]["rollout"]["canary"]["analysis"]
    body["spec"]["rollout"]["canary"]["steps"] = [{"setWeight": 50}]
    assert next_measurement(ModelDeployment.model_validate(body)) is None


def measurement(error: Reading, latency: Reading, stable: float = 0.01) -> Measurement:
    return Measurement(
        T0,
        {
            ("error-rate", Variant.STABLE): Reading.value_of(stable),
            ("error-rate", Variant.CANARY): error,
            ("latency", Variant.STABLE): Reading.value_of(0.2),
            ("latency", Variant.CANARY): latency,
        },
    )


def test_measurement_of_queries_and_readings() -> None:
    qs = queries(md())
    m = Measurement.of(T0, [(q, Reading.value_of(i)) for i, q in enumerate(qs)])
    assert m.reading("latency", Variant.CANARY) == Reading.value_of(3)
    assert m.reading("missing", Variant.CANARY).problem is Problem.NO_DATA


def test_apply_pass() -> None:
    before = AnalysisStatus(successes=1, failures=1, inconclusive=2)
    after, judgement = apply(
        before, measurement(Reading.value_of(0.02), Reading.value_of(0.3)), md()
    )
    assert judgement.verdict is Verdict.PASS
    assert (
        judgement.message
        == "error-rate = 0.02 (canary; stable 0.01); latency = 0.3 (canary; stable 0.2)"
    )
    assert after == AnalysisStatus(
        successes=2,
        failures=1,
        inconclusive=2,
        last_values={
            "error-rate": VariantValues(stable=0.01, canary=0.02),
            "latency": VariantValues(stable=0.2, canary=0.3),
        },
        last_result=MeasurementResult.PASS,
        last_measurement_time=T0,
        message=judgement.message,
    )
    assert before == AnalysisStatus(successes=1, failures=1, inconclusive=2)  # not changed


def test_apply_fail_names_the_value_the_range_and_the_stable() -> None:
    after, judgement = apply(
        None,
        measurement(Reading.value_of(0.12), Reading.missing(Problem.NO_DATA, "empty result")),
        md(),
    )
    # A failure wins over missing data: one bad metric is enough.
    assert judgement.verdict is Verdict.FAIL
    assert judgement.message == "error-rate = 0.12 outside [max 0.05] (canary; stable 0.01)"
    assert (after.successes, after.failures, after.inconclusive) == (0, 1, 0)
    assert after.last_result is MeasurementResult.FAIL
    assert after.last_values is not None
    assert after.last_values["latency"] == VariantValues(stable=0.2, canary=None)


def test_apply_fail_below_the_minimum() -> None:
    _, judgement = apply(None, measurement(Reading.value_of(0.0), Reading.value_of(-1.0)), md())
    assert judgement.message == "latency = -1 outside [min 0, max 0.5] (canary; stable 0.2)"


@pytest.mark.parametrize(
    ("reading", "message"),
    [
        (
            Reading.missing(Problem.NO_DATA, "empty result"),
            "no data for metric latency (canary): empty result",
        ),
        (Reading.value_of(math.nan), "no data for metric latency (canary): the query returned NaN"),
        (
            Reading.missing(Problem.UNREACHABLE, "connection refused"),
            "no data for metric latency (canary): connection refused",
        ),
        (
            Reading.missing(Problem.QUERY_ERROR, "parse error at char 7"),
            "query error for metric latency (canary): parse error at char 7",
        ),
    ],
)
def test_apply_inconclusive_counts_neither_way(reading: Reading, message: str) -> None:
    after, judgement = apply(
        AnalysisStatus(successes=3), measurement(Reading.value_of(0.0), reading), md()
    )
    assert judgement == judgement.__class__(Verdict.INCONCLUSIVE, message)
    assert (after.successes, after.failures, after.inconclusive) == (3, 0, 1)
    assert after.last_result is MeasurementResult.INCONCLUSIVE


def test_the_stable_without_data_is_recorded_but_not_judged() -> None:
    m = measurement(Reading.value_of(0.0), Reading.value_of(0.1))
    readings = dict(m.readings)
    readings[("error-rate", Variant.STABLE)] = Reading.missing(Problem.NO_DATA, "empty result")
    after, judgement = apply(None, Measurement(T0, readings), md())
    assert judgement.verdict is Verdict.PASS
    assert judgement.message.startswith("error-rate = 0 (canary; stable no data)")
    assert after.last_values is not None
    assert after.last_values["error-rate"] == VariantValues(stable=None, canary=0.0)


def test_an_infinite_value_fails_and_is_kept_out_of_the_json() -> None:
    after, judgement = apply(
        None, measurement(Reading.value_of(math.inf), Reading.value_of(0.1)), md()
    )
    assert judgement.verdict is Verdict.FAIL
    assert "error-rate = inf outside" in judgement.message
    assert after.last_values is not None
    assert after.last_values["error-rate"] == VariantValues(stable=0.01, canary=None)
