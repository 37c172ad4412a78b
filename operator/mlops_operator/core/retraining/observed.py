"""What a RetrainPolicy's reconcile sees: its runs, and the drift query's value right now.

A run is a TrainingJob the policy created. The operator keeps a :class:`RunState` of each in
memory (a kopf index of TrainingJobs labelled ``mlops.dev/retrainpolicy``): only what the
policy decides from — the trigger the run answered, whether and when it ended, its model
and metrics — built from the raw object by :func:`run_state`, tested by equality.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.keys import (
    TRIGGER_QUERY_ANNOTATION,
    TRIGGER_REASON_ANNOTATION,
    TRIGGER_TIME_ANNOTATION,
    TRIGGER_VALUE_ANNOTATION,
)
from mlops_operator.core.watching.series import Reading

__all__ = ["Observed", "RunState", "run_state"]


@dataclass(frozen=True)
class RunState:
    """One TrainingJob of the policy, as far as the policy cares."""

    name: str
    uid: str
    owner_uid: str | None
    """The uid of its controller ownerReference: only runs whose owner is the policy
    itself (not a deleted namesake) count."""
    created: datetime | None = None
    reason: str | None = None
    """The trigger it answered (annotation ``mlops.dev/trigger-reason``)."""
    value: str | None = None
    time: datetime | None = None
    query: str | None = None
    phase: str | None = None
    succeeded: bool = False
    """Its ``Succeeded`` condition is True."""
    failed: bool = False
    """Its ``Failed`` condition is True."""
    completion_time: datetime | None = None
    message: str = ""
    """The message of its ``Succeeded`` or ``Failed`` condition (why it failed)."""
    model_uri: str | None = None
    metrics: tuple[tuple[str, float], ...] = ()
    """``status.metrics`` as sorted pairs (numbers only)."""
    deleting: bool = False

    @property
    def finished(self) -> bool:
        return self.succeeded or self.failed

    @property
    def ended(self) -> datetime | None:
        """When it finished: its ``completionTime``, else its creation (never None once
        finished, so the order of finished runs is total)."""
        if not self.finished:
            return None
        return self.completion_time or self.created

    def metric(self, name: str) -> float | None:
        """The metric ``name``, or None if the run did not report it."""
        return next((v for k, v in self.metrics if k == name), None)


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile of a policy reads besides the policy itself."""

    runs: tuple[RunState, ...] = ()
    """The policy's TrainingJobs (the controller's cache of those labelled with its name)."""
    reading: Reading | None = None
    """The drift query evaluated for this reconcile, or None when none was due (see
    :func:`~mlops_operator.core.retraining.triggers.evaluation_due`)."""


def run_state(body: Mapping[str, Any]) -> RunState:
    """A TrainingJob as a :class:`RunState`."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    status = body.get("status") or {}
    true = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    end = true.get("Succeeded") or true.get("Failed") or {}
    model = status.get("model") or {}
    return RunState(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        owner_uid=_controller_uid(meta),
        created=_time(meta.get("creationTimestamp")),
        reason=annotations.get(TRIGGER_REASON_ANNOTATION),
        value=annotations.get(TRIGGER_VALUE_ANNOTATION),
        time=_time(annotations.get(TRIGGER_TIME_ANNOTATION)),
        query=annotations.get(TRIGGER_QUERY_ANNOTATION),
        phase=status.get("phase"),
        succeeded="Succeeded" in true,
        failed="Failed" in true and "Succeeded" not in true,
        completion_time=_time(status.get("completionTime")),
        message=str(end.get("message") or ""),
        model_uri=str(model["uri"]) if model.get("uri") else None,
        metrics=_metrics(status.get("metrics")),
        deleting=meta.get("deletionTimestamp") is not None,
    )


def _controller_uid(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


def _metrics(raw: Any) -> tuple[tuple[str, float], ...]:
    """Numbers only: a metric the run reported as text or null is no metric at all."""
    if not isinstance(raw, Mapping):
        return ()
    out = []
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isnan(value):
            continue
        out.append((str(key), float(value)))
    return tuple(sorted(out))


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None  # a hand-edited annotation: no time rather than a crash
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
