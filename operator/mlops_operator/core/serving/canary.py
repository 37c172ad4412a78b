"""The canary's step machine: which step it is at, whether that step is done, until when.

``spec.rollout.canary.steps`` run in order:

- ``setWeight: w`` — done when the canary serves ``w`` (its pods ready, and with Gateway API
  the route showing the weights and accepted by every Gateway): the caller says so through
  ``reached``;
- ``pause: {duration}`` — done ``duration`` after the step began; without a duration only a
  manual promote ends it (the rollout then waits indefinitely and shows phase ``Paused``);
- ``analysis: {}`` — done when a measurement taken during the step passed. A failed one is
  counted (the caller aborts beyond ``failureLimit``) and measured again one ``interval``
  later; an inconclusive one holds and is measured again every ``interval``.

While the last measurement is inconclusive and the canary takes traffic, no step completes
(``holding``): no data is never evidence for the new model. Only the progress deadline
ends such a hold, with reason ``NoData``.

The progress deadline (``progressDeadlineSeconds``, default 600) bounds every step that
waits for something to happen: ``deadline`` seconds after a ``setWeight`` or ``analysis``
step began, or after a timed pause ended. A pause without a duration has none: it waits for
a human on purpose. A step past its deadline aborts the canary: ``NoData`` when it was held
by missing data, ``ProgressDeadlineExceeded`` otherwise (say, canary pods that never become
ready).

Every instant is read from status (``stepStartedAt``, the analysis' last measurement), so a
restarted operator continues the same step with the same remaining pause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mlops_operator.api.common import parse_duration
from mlops_operator.api.modeldeployment import (
    AnalysisStatus,
    CanaryStep,
    MeasurementResult,
    ModelDeployment,
)
from mlops_operator.core.serving.defaults import DEFAULT_PROGRESS_DEADLINE_SECONDS

__all__ = [
    "NO_DATA",
    "PROGRESS_DEADLINE_EXCEEDED",
    "Progress",
    "Wait",
    "advance",
    "deadline_seconds",
    "describe",
    "steps_of",
    "target_weight",
]

NO_DATA = "NoData"
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"

# Reasons of the Progressing condition while a step waits.
WAITING_FOR_CANARY = "WaitingForCanary"
PAUSING = "Pausing"
WAITING_FOR_PROMOTE = "WaitingForPromote"
MEASURING = "Measuring"
ANALYSIS_FAILED = "AnalysisFailed"


@dataclass(frozen=True)
class Wait:
    """Why the current step is not done, and until when to wait."""

    reason: str
    """CamelCase, for the Progressing condition."""
    message: str
    wake: datetime | None = None
    """When something will have changed without any event (pause end, next measurement)."""
    deadline: datetime | None = None
    """When the step aborts if still not done; None for a pause without a duration."""


@dataclass(frozen=True)
class Progress:
    """Where the canary stands after :func:`advance`."""

    index: int
    """The current step (``len(steps)`` when all are done)."""
    started: datetime
    """When the current step began."""
    completed: tuple[int, ...] = ()
    """Indices of the steps completed by this call, in order."""
    wait: Wait | None = None
    """None when all steps are done."""

    @property
    def done(self) -> bool:
        return self.wait is None


def steps_of(md: ModelDeployment) -> list[CanaryStep]:
    """``spec.rollout.canary.steps``; empty without a canary strategy."""
    rollout = md.spec.rollout
    if rollout is None or rollout.canary is None:
        return []
    return list(rollout.canary.steps)


def deadline_seconds(md: ModelDeployment) -> int:
    """``progressDeadlineSeconds``, or :data:`DEFAULT_PROGRESS_DEADLINE_SECONDS`."""
    rollout = md.spec.rollout
    seconds = rollout.canary.progress_deadline_seconds if rollout and rollout.canary else None
    return DEFAULT_PROGRESS_DEADLINE_SECONDS if seconds is None else seconds


def target_weight(steps: Sequence[CanaryStep], index: int) -> int:
    """The weight the canary should serve at step ``index``: the last ``setWeight`` at or
    before it (a pause or analysis keeps the weight before it), 0 before the first."""
    for step in reversed(steps[: index + 1]):
        if step.set_weight is not None:
            return step.set_weight
    return 0


def describe(step: CanaryStep) -> str:
    """A step in words: ``setWeight 10``, ``pause 5m``, ``pause (until promoted)``,
    ``analysis``."""
    if step.set_weight is not None:
        return f"setWeight {step.set_weight}"
    if step.pause is not None:
        return f"pause {step.pause.duration}" if step.pause.duration else "pause (until promoted)"
    return "analysis"


def advance(
    steps: Sequence[CanaryStep],
    index: int,
    started: datetime,
    now: datetime,
    *,
    reached: Callable[[int], str | None],
    analysis: AnalysisStatus | None,
    holding: bool,
    interval: float | None,
    deadline: float,
) -> Progress:
    """Complete every step that is done, in order, and say why the next one waits.

    ``reached(weight)`` returns None when the canary serves ``weight``, else why not.
    ``analysis`` is the canary's analysis status after this reconcile's measurement, if any;
    ``holding`` is True while its last measurement was inconclusive and the canary takes
    traffic; ``interval`` is the analysis interval in seconds (None without analysis);
    ``deadline`` is the progress deadline in seconds.

    A completed step starts the next at ``now``, so several steps that need nothing (a
    ``setWeight`` already served, an analysis that already passed) complete in one call.
    """
    completed: list[int] = []
    while index < len(steps):
        wait = _wait(steps[index], started, now, reached, analysis, holding, interval, deadline)
        if wait is not None:
            return Progress(index, started, tuple(completed), wait)
        completed.append(index)
        index += 1
        started = now
    return Progress(index, started, tuple(completed), None)


def _wait(
    step: CanaryStep,
    started: datetime,
    now: datetime,
    reached: Callable[[int], str | None],
    analysis: AnalysisStatus | None,
    holding: bool,
    interval: float | None,
    deadline: float,
) -> Wait | None:
    limit = timedelta(seconds=deadline)
    state = analysis or AnalysisStatus()
    again = (
        state.last_measurement_time + timedelta(seconds=interval)
        if state.last_measurement_time is not None and interval is not None
        else None
    )
    if step.set_weight is not None:
        why = reached(step.set_weight)
        if why is not None:
            return Wait(WAITING_FOR_CANARY, why, None, started + limit)
        if holding:
            return Wait(NO_DATA, f"holding: {state.message}", again, started + limit)
        return None
    if step.pause is not None:
        if step.pause.duration is None:
            return Wait(
                WAITING_FOR_PROMOTE,
                "paused until a new value of annotation mlops.dev/promote",
            )
        end = started + timedelta(seconds=parse_duration(step.pause.duration))
        if now < end:
            # The end, not the time left: the message must not change from one reconcile to
            # the next, or every reconcile would write status.
            until = end.strftime("%Y-%m-%dT%H:%M:%SZ")
            return Wait(PAUSING, f"pause {step.pause.duration} until {until}", end, end + limit)
        if holding:
            return Wait(NO_DATA, f"holding: {state.message}", again, end + limit)
        return None
    # An analysis step: only a measurement taken during the step counts.
    last = state.last_measurement_time
    if last is None or last < started:
        return Wait(MEASURING, "running the analysis", started, started + limit)
    if state.last_result == MeasurementResult.PASS:
        return None
    if state.last_result == MeasurementResult.FAIL:
        return Wait(
            ANALYSIS_FAILED,
            f"measurement failed ({state.failures} so far), measuring again: {state.message}",
            again,
            started + limit,
        )
    return Wait(NO_DATA, f"holding: {state.message}", again, started + limit)
