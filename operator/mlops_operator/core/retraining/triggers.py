"""The three triggers of a RetrainPolicy, and when to evaluate the drift query.

Each trigger that is due becomes a :class:`Trigger`: what a run started for it is called
(see :mod:`.naming`), and what its annotations and ``status.lastTrigger`` say. A trigger
is *due* (level-based, like everything the operator decides) as long as nothing has
answered it:

- **drift** — the breach window in ``status.breachingSince`` has lasted ``for`` (see
  :func:`~mlops_operator.core.watching.series.breach_window`). A run answers the window:
  the window closes when the run starts, so a drift that persists is due again only after
  a new full ``for``.
- **schedule** — the latest scheduled time after ``status.lastScheduleTime`` (or the
  policy's creation), while it is not too late (see :mod:`.schedule`).
- **manual** — a value of annotation ``mlops.dev/retrain`` other than
  ``status.handledRetrain``. The first value a new policy sees counts too: the annotation
  is an explicit request, whether it was set with the policy or a second after it. (A
  policy restored from a backup without its status retrains once.) Removing the
  annotation before the run could start withdraws the request.

The drift query runs on a fixed grid per policy: every ``interval``, at an offset within
the interval derived from the policy's uid, so that a thousand policies with a 1m interval
spread their queries over the minute instead of all firing when the operator starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlops_operator.api.common import parse_duration
from mlops_operator.api.keys import RETRAIN_ANNOTATION
from mlops_operator.api.retrainpolicy import Drift, RetrainPolicy, TriggerReason
from mlops_operator.core.retraining import naming, schedule
from mlops_operator.core.watching.series import breached

__all__ = [
    "Trigger",
    "describe_drift",
    "drift_run_name",
    "drift_trigger",
    "evaluation_due",
    "format_value",
    "manual_trigger",
    "next_evaluation",
    "rfc3339",
    "schedule_trigger",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Trigger:
    """A due trigger: the run that answers it, and what that run records about it."""

    reason: TriggerReason
    name: str
    """The run's name, derived from the trigger alone (see :mod:`.naming`)."""
    time: datetime
    """When it fired: the scheduled time; for drift and manual, when it was acted on."""
    value: str | None
    """The drift value, the scheduled time or the annotation's value, as text."""
    summary: str
    """What it is, in words that stay the same while it waits (conditions quote it)."""
    query: str | None = None
    """The drift query (drift only)."""
    key: datetime | str | None = None
    """What a run answering it records: the window's start, the scheduled time, or the
    annotation's value."""


# --- drift ---------------------------------------------------------------------------------


def evaluation_due(policy: RetrainPolicy, last_evaluation: datetime | None, now: datetime) -> bool:
    """Whether the controller should run the drift query now.

    ``last_evaluation`` is when this operator process last ran it for this policy, or, if
    it has not yet, when the process started (so after a restart every policy waits for
    its own slot; pass None to evaluate at once). False while suspended or without drift.
    """
    drift = policy.spec.triggers.drift
    if drift is None or policy.spec.suspend:
        return False
    if last_evaluation is None:
        return True
    interval, offset = _grid(policy, drift)
    return _slot(now, interval, offset) > _slot(last_evaluation, interval, offset)


def next_evaluation(policy: RetrainPolicy, now: datetime) -> datetime | None:
    """The policy's next slot strictly after ``now``; None without drift or while suspended."""
    drift = policy.spec.triggers.drift
    if drift is None or policy.spec.suspend:
        return None
    interval, offset = _grid(policy, drift)
    return _EPOCH + ((_slot(now, interval, offset) + 1) * interval + offset) * _MS


def drift_trigger(
    policy: RetrainPolicy, since: datetime | None, value: float | None, at: datetime, now: datetime
) -> Trigger | None:
    """The drift trigger if the window that opened at ``since`` has lasted ``for``.

    ``value`` is the value that keeps the window open (read at ``at``).
    """
    drift = policy.spec.triggers.drift
    if drift is None or since is None or not breached(since, parse_duration(drift.for_), now):
        return None
    text = format_value(value) if value is not None else None
    summary = f"the drift breach since {rfc3339(since)}"
    return Trigger(
        reason=TriggerReason.DRIFT,
        name=naming.run_name(_name(policy), TriggerReason.DRIFT, naming.time_id(since)),
        time=at,
        value=text,
        summary=summary,
        query=drift.query,
        key=since,
    )


def drift_run_name(policy: RetrainPolicy, since: datetime) -> str:
    """The name of the run that answers the breach window opened at ``since``."""
    return naming.run_name(_name(policy), TriggerReason.DRIFT, naming.time_id(since))


def describe_drift(drift: Drift, since: datetime, value: str | None) -> str:
    """For the RetrainStarted Event: what breached, since when, by how much."""
    shown = f"value {value}" if value is not None else "the value"
    return (
        f"drift {shown} above threshold {format_value(drift.threshold)} since "
        f"{rfc3339(since)} (for {drift.for_})"
    )


# --- schedule ------------------------------------------------------------------------------


def schedule_trigger(policy: RetrainPolicy, now: datetime) -> Trigger | None:
    """The schedule trigger, if a scheduled time after the last one acted on is due."""
    spec = policy.spec.triggers.schedule
    if spec is None:
        return None
    since = _latest(policy.status.last_schedule_time, policy.metadata.creation_timestamp)
    due = schedule.last_due(spec.cron, spec.time_zone, since, now)
    if due is None:
        return None
    text = rfc3339(due)
    return Trigger(
        reason=TriggerReason.SCHEDULE,
        name=naming.run_name(_name(policy), TriggerReason.SCHEDULE, naming.time_id(due)),
        time=due,
        value=text,
        summary=f"the schedule at {text}",
        key=due,
    )


# --- manual --------------------------------------------------------------------------------


def manual_trigger(policy: RetrainPolicy, now: datetime) -> Trigger | None:
    """The manual trigger, if annotation ``mlops.dev/retrain`` holds a value not yet acted on.

    The run's name hashes the policy's uid, the value acted on before and the new value,
    so that a value used again later (``1``, ``2``, ``1``) or by a namesake policy gets a
    run of its own.
    """
    value = (policy.metadata.annotations or {}).get(RETRAIN_ANNOTATION)
    handled = policy.status.handled_retrain
    if value is None or value == handled:
        return None
    id_ = naming.hash_id(policy.metadata.uid or "", handled or "", value)
    return Trigger(
        reason=TriggerReason.MANUAL,
        name=naming.run_name(_name(policy), TriggerReason.MANUAL, id_),
        time=now,
        value=value,
        summary=f"annotation {RETRAIN_ANNOTATION}={value!r}",
        key=value,
    )


# --- helpers -------------------------------------------------------------------------------


def rfc3339(t: datetime) -> str:
    """``2026-11-22T04:00:00Z``: UTC, whole seconds, like every time in the API."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_value(v: float) -> str:
    """A metric value for humans and annotations: six significant digits."""
    return f"{v:.6g}"


def _grid(policy: RetrainPolicy, drift: Drift) -> tuple[int, int]:
    """The policy's evaluation grid in milliseconds: the interval, and its offset."""
    interval = max(1, round(parse_duration(drift.interval) * 1000))
    seed = policy.metadata.uid or f"{policy.metadata.namespace}/{policy.metadata.name}"
    offset = int(hashlib.sha256(seed.encode()).hexdigest()[:12], 16) % interval
    return interval, offset


def _slot(t: datetime, interval: int, offset: int) -> int:
    return ((t - _EPOCH) // _MS - offset) // interval


def _latest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def _name(policy: RetrainPolicy) -> str:
    return policy.metadata.name or ""
