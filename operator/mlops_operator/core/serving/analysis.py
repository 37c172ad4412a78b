"""Canary analysis: which PromQL queries one measurement runs, when, and what it concluded.

A *measurement* runs every metric's query once per variant, with ``{{name}}``,
``{{namespace}}`` and ``{{variant}}`` filled in: ``2 * len(metrics)`` queries, no more. Only
the canary's value is judged against the metric's ``thresholdRange``; the stable's value is
recorded next to it (``status.canary.analysis.lastValues``) so that a human can tell "the
new model is bad" from "everything is bad right now".

The measurement's verdict is the worst of its metrics':

- any metric out of range: :attr:`~Verdict.FAIL` (counts towards ``failureLimit``);
- else any metric without a value (empty result, NaN, Prometheus unreachable, a query
  error): :attr:`~Verdict.INCONCLUSIVE`, which counts neither way: the rollout holds and
  measures again every ``interval`` until data comes or the progress deadline ends it with
  reason ``NoData``;
- else :attr:`~Verdict.PASS`.

When measurements are due (:func:`next_measurement`) is read from status alone, so the kopf
layer can decide to run the queries before calling the reconcile, and a restarted operator
keeps the same rhythm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mlops_operator.api.common import parse_duration
from mlops_operator.api.keys import Variant
from mlops_operator.api.modeldeployment import (
    Analysis,
    AnalysisStatus,
    MeasurementResult,
    Metric,
    ModelDeployment,
    ModelDeploymentStatus,
    VariantValues,
)
from mlops_operator.core.watching.series import Problem, Reading, Verdict, judge, render

__all__ = [
    "Judgement",
    "Measurement",
    "Query",
    "apply",
    "measurement_due",
    "next_measurement",
    "queries",
    "spec_of",
]


@dataclass(frozen=True)
class Query:
    """One PromQL query of a measurement: a metric, for one variant, placeholders filled."""

    metric: str
    variant: Variant
    promql: str


@dataclass(frozen=True)
class Measurement:
    """The readings of one measurement, taken at ``time``, by ``(metric, variant)``."""

    time: datetime
    readings: Mapping[tuple[str, Variant], Reading] = field(default_factory=dict)

    @classmethod
    def of(cls, time: datetime, results: Iterable[tuple[Query, Reading]]) -> Measurement:
        """A measurement from each :class:`Query` of :func:`queries` and its reading."""
        return cls(time, {(q.metric, q.variant): r for q, r in results})

    def reading(self, metric: str, variant: Variant) -> Reading:
        """The reading of one query; one that was not run is no data."""
        found = self.readings.get((metric, variant))
        if found is None:
            return Reading.missing(Problem.NO_DATA, "not measured")
        return found


@dataclass(frozen=True)
class Judgement:
    """A measurement's verdict, and in words why (failing values, missing data)."""

    verdict: Verdict
    message: str


def spec_of(md: ModelDeployment) -> Analysis | None:
    """``spec.rollout.canary.analysis``, if any."""
    rollout = md.spec.rollout
    canary = rollout.canary if rollout else None
    return canary.analysis if canary else None


def queries(md: ModelDeployment) -> list[Query]:
    """Every metric's query once per variant (stable first), placeholders filled."""
    analysis = spec_of(md)
    if analysis is None:
        return []
    values = {"name": md.metadata.name or "", "namespace": md.metadata.namespace or ""}
    return [
        Query(m.name, variant, render(m.query, {**values, "variant": variant.value}))
        for m in analysis.metrics
        for variant in (Variant.STABLE, Variant.CANARY)
    ]


def next_measurement(
    md: ModelDeployment, status: ModelDeploymentStatus | None = None
) -> datetime | None:
    """When the next measurement is due, from ``status`` (default ``md.status``) alone; None
    when none will be.

    None without a running canary, while promoting, while ``spec.paused`` or without
    ``analysis``. At an ``analysis`` step: at once when the step has no measurement yet,
    else one ``interval`` after the last one unless that passed (the step is then done).
    Otherwise, while the canary takes traffic (``status.canary.weight`` > 0), background
    analysis: one ``interval`` after the last measurement, or after the current step began
    if there was none yet (so the canary has had traffic before it is judged).
    """
    analysis = spec_of(md)
    canary = (status or md.status).canary
    if analysis is None or canary is None or canary.promoting or md.spec.paused:
        return None
    started = canary.step_started_at
    if started is None:
        return None
    interval = timedelta(seconds=parse_duration(analysis.interval))
    state = canary.analysis or AnalysisStatus()
    last = state.last_measurement_time
    steps = md.spec.rollout.canary.steps if md.spec.rollout and md.spec.rollout.canary else []
    index = canary.step_index or 0
    if index < len(steps) and steps[index].analysis is not None:
        if last is None or last < started:
            return started
        if state.last_result != MeasurementResult.PASS:
            return last + interval
    if not canary.weight:
        return None
    return (last if last is not None else started) + interval


def measurement_due(md: ModelDeployment, now: datetime) -> bool:
    """Whether the kopf layer should run :func:`queries` before this reconcile."""
    due = next_measurement(md)
    return due is not None and now >= due


def apply(
    status: AnalysisStatus | None, measurement: Measurement, md: ModelDeployment
) -> tuple[AnalysisStatus, Judgement]:
    """The analysis status after one measurement, and its verdict.

    Counts the verdict (``successes``, ``failures`` or ``inconclusive``), records each
    metric's value per variant in ``lastValues`` (null where there was none, or where it is
    infinite, which JSON cannot hold; the message keeps it), and the time and verdict.
    """
    analysis = spec_of(md)
    if analysis is None:
        raise ValueError("spec.rollout.canary.analysis is not set")
    failed: list[str] = []
    missing: list[str] = []
    passed: list[str] = []
    values: dict[str, VariantValues] = {}
    for metric in analysis.metrics:
        canary = measurement.reading(metric.name, Variant.CANARY)
        stable = measurement.reading(metric.name, Variant.STABLE)
        values[metric.name] = VariantValues(
            stable=_recordable(stable.value), canary=_recordable(canary.value)
        )
        verdict = judge(canary, metric.threshold_range.min, metric.threshold_range.max)
        if verdict is Verdict.FAIL:
            failed.append(_failure(metric, canary, stable))
        elif verdict is Verdict.INCONCLUSIVE:
            missing.append(_missing(metric, canary))
        else:
            passed.append(f"{metric.name} = {_num(canary.value)} {_variants(stable)}")

    new = status.model_copy(deep=True) if status is not None else AnalysisStatus()
    if failed:
        judgement = Judgement(Verdict.FAIL, "; ".join(failed))
        new.failures += 1
    elif missing:
        judgement = Judgement(Verdict.INCONCLUSIVE, "; ".join(missing))
        new.inconclusive += 1
    else:
        judgement = Judgement(Verdict.PASS, "; ".join(passed))
        new.successes += 1
    new.last_values = values
    new.last_result = MeasurementResult(judgement.verdict.value)
    new.last_measurement_time = measurement.time
    new.message = judgement.message
    return new, judgement


def _failure(metric: Metric, canary: Reading, stable: Reading) -> str:
    bounds = metric.threshold_range
    parts = []
    if bounds.min is not None:
        parts.append(f"min {_num(bounds.min)}")
    if bounds.max is not None:
        parts.append(f"max {_num(bounds.max)}")
    return f"{metric.name} = {_num(canary.value)} outside [{', '.join(parts)}] {_variants(stable)}"


def _missing(metric: Metric, canary: Reading) -> str:
    if canary.problem is Problem.QUERY_ERROR:
        return f"query error for metric {metric.name} (canary): {canary.message}"
    why = f": {canary.message}" if canary.message else ""
    return f"no data for metric {metric.name} (canary){why}"


def _variants(stable: Reading) -> str:
    """The tail of a canary value: ``(canary; stable 0.98)``."""
    return f"(canary; stable {_num(stable.value)})"


def _recordable(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _num(value: float | None) -> str:
    if value is None:
        return "no data"
    return f"{value:g}"
