"""Readings, verdicts and the ``for`` window, by table.

The rules are small, and their edges are where rollouts and retraining go wrong: inclusive
bounds, NaN (0/0 error rates) against Inf (a real out-of-range ratio), a window that one
missing evaluation must reset, and an operator restart resuming a window from status.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from mlops_operator.core.watching.series import (
    Problem,
    Reading,
    Verdict,
    breach_window,
    breached,
    judge,
    render,
)

INF = math.inf
T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
NO_DATA = Reading.missing(Problem.NO_DATA, "empty result")
UNREACHABLE = Reading.missing(Problem.UNREACHABLE, "connection refused")
QUERY_ERROR = Reading.missing(Problem.QUERY_ERROR, "parse error")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- Reading -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v", "value", "problem"),
    [
        (0.5, 0.5, None),
        (0.0, 0.0, None),
        (-3.0, -3.0, None),
        (INF, INF, None),
        (-INF, -INF, None),
        (math.nan, None, Problem.NO_DATA),
        (float("-nan"), None, Problem.NO_DATA),
    ],
)
def test_value_of(v: float, value: float | None, problem: Problem | None) -> None:
    reading = Reading.value_of(v)
    assert (reading.value, reading.problem) == (value, problem)
    assert bool(reading.message) == (problem is not None)


def test_value_of_int_is_stored_as_float() -> None:
    reading = Reading.value_of(3)
    assert reading == Reading(3.0)
    assert type(reading.value) is float


def test_missing() -> None:
    reading = Reading.missing(Problem.UNREACHABLE, "connection refused")
    assert reading == Reading(None, Problem.UNREACHABLE, "connection refused")


@pytest.mark.parametrize(
    ("value", "problem"),
    [(None, None), (1.0, Problem.NO_DATA), (math.nan, None), (math.nan, Problem.NO_DATA)],
)
def test_reading_is_a_value_or_a_problem(value: float | None, problem: Problem | None) -> None:
    with pytest.raises(ValueError, match="value"):
        Reading(value, problem)


def test_problem_values_are_the_status_reasons() -> None:
    assert [str(p) for p in Problem] == ["NoData", "PrometheusUnreachable", "QueryError"]
    assert [str(v) for v in Verdict] == ["Pass", "Fail", "Inconclusive"]


# -- judge -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "low", "high", "verdict"),
    [
        # Inside, and exactly on either bound: bounds are inclusive.
        (Reading(0.5), 0.0, 1.0, Verdict.PASS),
        (Reading(0.0), 0.0, 1.0, Verdict.PASS),
        (Reading(1.0), 0.0, 1.0, Verdict.PASS),
        (Reading(-0.0001), 0.0, 1.0, Verdict.FAIL),
        (Reading(1.0001), 0.0, 1.0, Verdict.FAIL),
        # A degenerate range is one allowed value.
        (Reading(2.0), 2.0, 2.0, Verdict.PASS),
        (Reading(2.5), 2.0, 2.0, Verdict.FAIL),
        # Only a maximum (an error rate) or only a minimum (a success rate).
        (Reading(0.01), None, 0.01, Verdict.PASS),
        (Reading(0.02), None, 0.01, Verdict.FAIL),
        (Reading(-1e9), None, 0.01, Verdict.PASS),
        (Reading(0.99), 0.99, None, Verdict.PASS),
        (Reading(0.98), 0.99, None, Verdict.FAIL),
        (Reading(1e9), 0.99, None, Verdict.PASS),
        # No bounds at all: any value passes.
        (Reading(123.0), None, None, Verdict.PASS),
        # Infinities are values: out of any finite bound, inside an open side.
        (Reading(INF), 0.0, 1.0, Verdict.FAIL),
        (Reading(-INF), 0.0, 1.0, Verdict.FAIL),
        (Reading(INF), 0.0, None, Verdict.PASS),
        (Reading(-INF), None, 1.0, Verdict.PASS),
        (Reading(INF), None, None, Verdict.PASS),
        # No value of any kind is inconclusive, with or without bounds.
        (NO_DATA, 0.0, 1.0, Verdict.INCONCLUSIVE),
        (UNREACHABLE, 0.0, 1.0, Verdict.INCONCLUSIVE),
        (QUERY_ERROR, 0.0, 1.0, Verdict.INCONCLUSIVE),
        (NO_DATA, None, None, Verdict.INCONCLUSIVE),
        (Reading.value_of(math.nan), None, 0.01, Verdict.INCONCLUSIVE),
    ],
)
def test_judge(reading: Reading, low: float | None, high: float | None, verdict: Verdict) -> None:
    assert judge(reading, low, high) is verdict


# -- breach_window -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "reading", "threshold", "expected"),
    [
        # Above the threshold opens the window now, or keeps the one already open.
        (None, Reading(0.3), 0.2, at(60)),
        (at(0), Reading(0.3), 0.2, at(0)),
        # Exactly at the threshold is not above it: no window, and an open one closes.
        (None, Reading(0.2), 0.2, None),
        (at(0), Reading(0.2), 0.2, None),
        (at(0), Reading(0.1), 0.2, None),
        # Infinities compare as values.
        (None, Reading(INF), 0.2, at(60)),
        (at(0), Reading(INF), 0.2, at(0)),
        (at(0), Reading(-INF), 0.2, None),
        (None, Reading(-INF), -1e300, None),
        # A negative threshold works like any other.
        (None, Reading(-0.5), -1.0, at(60)),
        # No value of any kind closes the window: a breach needs every evaluation.
        (at(0), NO_DATA, 0.2, None),
        (at(0), UNREACHABLE, 0.2, None),
        (at(0), QUERY_ERROR, 0.2, None),
        (at(0), Reading.value_of(math.nan), 0.2, None),
        (None, NO_DATA, 0.2, None),
    ],
)
def test_breach_window(
    since: datetime | None, reading: Reading, threshold: float, expected: datetime | None
) -> None:
    assert breach_window(since, reading, threshold, now=at(60)) == expected


# -- breached ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "for_seconds", "now", "expected"),
    [
        (None, 0, at(0), False),
        (None, 300, at(1000), False),
        # for = 0: breached the moment the window opens.
        (at(0), 0, at(0), True),
        (at(0), 0.0, at(30), True),
        # The window must have lasted the whole `for`, inclusive of its end.
        (at(0), 300, at(299), False),
        (at(0), 300, at(299.999), False),
        (at(0), 300, at(300), True),
        (at(0), 300, at(3600), True),
        (at(0), 0.5, at(0.5), True),
        # A clock that went backwards never shortens the window.
        (at(10), 300, at(0), False),
    ],
)
def test_breached(
    since: datetime | None, for_seconds: float, now: datetime, expected: bool
) -> None:
    assert breached(since, for_seconds, now) is expected


def evaluate(
    readings: Sequence[tuple[float, Reading]], threshold: float, for_seconds: float
) -> list[tuple[datetime | None, bool]]:
    """Drive the window through evaluations at the given seconds, as a controller would."""
    since: datetime | None = None
    out = []
    for seconds, reading in readings:
        since = breach_window(since, reading, threshold, at(seconds))
        out.append((since, breached(since, for_seconds, at(seconds))))
    return out


def test_sequence_breaches_after_for() -> None:
    readings = [(0, Reading(0.3)), (60, Reading(0.4)), (120, Reading(0.25)), (180, Reading(0.3))]
    assert evaluate(readings, 0.2, 120) == [
        (at(0), False),
        (at(0), False),
        (at(0), True),
        (at(0), True),
    ]


@pytest.mark.parametrize(
    "gap",
    [Reading(0.2), Reading(0.1), NO_DATA, UNREACHABLE, QUERY_ERROR, Reading.value_of(math.nan)],
)
def test_sequence_one_gap_restarts_the_window(gap: Reading) -> None:
    readings = [(0, Reading(0.3)), (60, gap), (120, Reading(0.3)), (180, Reading(0.3))]
    assert evaluate(readings, 0.2, 120) == [
        (at(0), False),
        (None, False),
        # The window starts over at the next breach, so `for` is counted from there.
        (at(120), False),
        (at(120), False),
    ]
    assert evaluate([*readings, (240, Reading(0.3))], 0.2, 120)[-1] == (at(120), True)


def test_sequence_for_zero_breaches_on_first_value_above() -> None:
    readings = [(0, Reading(0.1)), (60, Reading(0.3)), (120, NO_DATA), (180, Reading(0.5))]
    assert evaluate(readings, 0.2, 0) == [
        (None, False),
        (at(60), True),
        (None, False),
        (at(180), True),
    ]


def test_restart_resumes_from_since_in_status() -> None:
    """An operator that restarts mid-window passes status.breachingSince back in."""
    since_from_status = at(0)
    now = at(290)
    since = breach_window(since_from_status, Reading(0.3), 0.2, now)
    assert since == at(0)
    assert not breached(since, 300, now)
    since = breach_window(since, Reading(0.3), 0.2, at(300))
    assert breached(since, 300, at(300))


# -- render ------------------------------------------------------------------------------

VALUES = {"name": "sentiment", "namespace": "nlp", "variant": "canary"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            'sum(rate(http_requests_total{service="{{name}}",namespace="{{namespace}}",'
            'variant="{{variant}}",code=~"5.."}[5m]))',
            'sum(rate(http_requests_total{service="sentiment",namespace="nlp",'
            'variant="canary",code=~"5.."}[5m]))',
        ),
        # Spacing inside the braces is tolerated.
        ('up{job="{{ name }}"}', 'up{job="sentiment"}'),
        ('up{job="{{name  }}",ns="{{\tnamespace}}"}', 'up{job="sentiment",ns="nlp"}'),
        # A placeholder used twice is filled twice.
        ("{{name}}/{{name}}", "sentiment/sentiment"),
        # Unknown placeholders stay as written, so Prometheus' error names them.
        ('up{job="{{model}}"}', 'up{job="{{model}}"}'),
        ('up{job="{{ Name }}"}', 'up{job="{{ Name }}"}'),
        # Not placeholders: single braces (label matchers), empty or malformed doubles.
        ('up{job="x"}', 'up{job="x"}'),
        ("{{}}", "{{}}"),
        ("{{name}", "{{name}"),
        ("{{na me}}", "{{na me}}"),
        # Nothing to fill.
        ("vector(1)", "vector(1)"),
        ("", ""),
    ],
)
def test_render(query: str, expected: str) -> None:
    assert render(query, VALUES) == expected


def test_render_values_are_not_reinterpreted() -> None:
    """A value that looks like a placeholder is inserted once, not expanded again."""
    assert render("{{name}} {{namespace}}", {"name": "{{namespace}}", "namespace": "nlp"}) == (
        "{{namespace}} nlp"
    )


def test_render_with_no_values_changes_nothing() -> None:
    assert render('up{job="{{name}}"}', {}) == 'up{job="{{name}}"}'
