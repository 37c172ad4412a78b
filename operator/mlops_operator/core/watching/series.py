"""One PromQL query, evaluated again and again, and what its values mean.

A :class:`Reading` is one evaluation: a value, or the :class:`Problem` that kept it from
having one. The two rules built on readings are the ones users already know:

- :func:`judge` — an analysis metric's ``thresholdRange`` (Argo Rollouts, Flagger): a
  value inside the range passes, outside fails.
- :func:`breach_window` and :func:`breached` — a drift trigger's ``threshold`` and
  ``for`` (Prometheus alerting rules): above the threshold at every evaluation for the
  whole window.

No value is never a pass and never a breach. An empty result usually means the model
gets no traffic yet, or the query names a series that does not exist; an unreachable
Prometheus means nothing at all about the model. Promoting a canary or starting a
retraining run on that would act on the absence of evidence, so a canary holds
(:attr:`Verdict.INCONCLUSIVE`) and a drift window starts over.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Problem(StrEnum):
    """Why a :class:`Reading` has no value; the values are the reasons shown in status."""

    NO_DATA = "NoData"
    """The query ran and returned nothing: an empty result, or NaN."""
    UNREACHABLE = "PrometheusUnreachable"
    """No answer: connection refused, timeout, or a 5xx from Prometheus or a proxy."""
    QUERY_ERROR = "QueryError"
    """Prometheus refused the query (bad PromQL), or its result is not one number.

    Unlike the other two this does not pass by waiting: the user must fix the query.
    """


@dataclass(frozen=True)
class Reading:
    """One evaluation of one query: ``value``, or the ``problem`` that left it without one.

    ``value`` is None exactly when ``problem`` is set. NaN is never stored: Prometheus
    answers NaN for 0/0 (an error rate with no requests), which is no data, not a number
    to compare. ``+Inf`` and ``-Inf`` are real values (a ratio over a zero denominator
    that is genuinely out of any range) and compare as such.
    """

    value: float | None
    problem: Problem | None = None
    message: str = ""
    """For humans: "empty result", the connection error, or Prometheus' own error text."""

    def __post_init__(self) -> None:
        if (self.value is None) == (self.problem is None):
            raise ValueError("a Reading has either a value or a problem, not both or neither")
        if self.value is not None and math.isnan(self.value):
            raise ValueError("NaN is no data: use Reading.value_of")

    @classmethod
    def value_of(cls, v: float) -> Reading:
        """A reading of ``v``; NaN becomes :attr:`Problem.NO_DATA`."""
        if math.isnan(v):
            return cls(None, Problem.NO_DATA, "the query returned NaN")
        return cls(float(v))

    @classmethod
    def missing(cls, problem: Problem, message: str) -> Reading:
        """A reading without a value, and why."""
        return cls(None, problem, message)


class Verdict(StrEnum):
    """The outcome of one analysis measurement."""

    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"
    """No value: neither counts towards promotion nor towards ``failureLimit``."""


def judge(reading: Reading, low: float | None, high: float | None) -> Verdict:
    """Whether a reading lies in ``[low, high]``; bounds are inclusive, either optional.

    A reading without a value is :attr:`Verdict.INCONCLUSIVE`, never a failure: a canary
    that has not received traffic yet, or a Prometheus that is briefly down, says nothing
    against the new model, and failing it would abort good rollouts. It is never a pass
    either, so the rollout holds until data arrives or its progress deadline ends it.
    """
    if reading.value is None:
        return Verdict.INCONCLUSIVE
    if low is not None and reading.value < low:
        return Verdict.FAIL
    if high is not None and reading.value > high:
        return Verdict.FAIL
    return Verdict.PASS


def breach_window(
    since: datetime | None, reading: Reading, threshold: float, now: datetime
) -> datetime | None:
    """The start of the current breach after this reading, in alerting rules' ``for`` way.

    A value above ``threshold`` keeps the window open (``since``) or opens it (``now``).
    A value at or below it ends the window, and so does a reading without a value: a
    breach must be seen at every evaluation of the window, and an evaluation that saw
    nothing did not see one. (Prometheus resets a pending alert the same way when its
    expression returns nothing.)

    Passing the ``since`` recorded in status back in lets a restarted operator resume a
    window instead of starting it over.
    """
    if reading.value is None or not reading.value > threshold:
        return None
    return since if since is not None else now


def breached(since: datetime | None, for_seconds: float, now: datetime) -> bool:
    """Whether a breach window that opened at ``since`` has lasted ``for_seconds``.

    With ``for_seconds == 0`` a breach counts as soon as the window opens, as an alerting
    rule without ``for`` fires on its first evaluation above the threshold.
    """
    if since is None:
        return False
    return (now - since).total_seconds() >= for_seconds


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(query: str, values: Mapping[str, str]) -> str:
    """``query`` with each ``{{key}}`` (also ``{{ key }}``) replaced by ``values[key]``.

    The keys in use are ``name``, ``namespace`` and ``variant``. A placeholder whose key is
    not in ``values`` stays as written, so a typo shows up verbatim in Prometheus' parse
    error instead of silently matching nothing. Values are inserted as they are: object
    names and namespaces are DNS labels and ``variant`` is ``stable`` or ``canary``, none of
    which can contain a quote that would break out of a label matcher.
    """

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return _PLACEHOLDER.sub(fill, query)
