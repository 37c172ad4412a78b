"""Compact, typed views of the children a TrainingJob has in the cluster.

The operator keeps these in memory for every Job and pod it manages (kopf indexes), so
each holds only what the reconcile reads — a few hundred bytes instead of a whole object.
Built from raw API dicts by pure functions, tested by equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.keys import ATTEMPT_LABEL


@dataclass(frozen=True)
class JobState:
    """One attempt's Job, as the Job controller reports it."""

    name: str
    uid: str
    attempt: int
    suspended: bool
    active: int = 0
    ready: int = 0
    succeeded: int = 0
    failed: int = 0
    complete: bool = False
    failed_reason: str | None = None  # set when the Job's Failed condition is True
    failed_message: str = ""
    start_time: datetime | None = None
    completion_time: datetime | None = None
    deleting: bool = False

    @property
    def finished(self) -> bool:
        return self.complete or self.failed_reason is not None


@dataclass(frozen=True)
class PodState:
    """One worker pod: enough to explain why it waits or why it failed."""

    name: str
    attempt: int
    index: int
    phase: str
    unschedulable: str | None = None  # the scheduler's message, while it cannot place it
    exit_code: int | None = None
    terminated_reason: str | None = None


@dataclass(frozen=True)
class Observed:
    """Everything the operator has seen of one run's children."""

    jobs: tuple[JobState, ...] = ()
    pods: tuple[PodState, ...] = ()
    service: bool = False

    def job(self, attempt: int) -> JobState | None:
        return next((j for j in self.jobs if j.attempt == attempt), None)

    def pods_of(self, attempt: int) -> list[PodState]:
        return sorted((p for p in self.pods if p.attempt == attempt), key=lambda p: p.index)


def job_state(body: Mapping[str, Any]) -> JobState | None:
    """A Job of ours as a :class:`JobState`; None for a Job without our attempt label."""
    meta = body.get("metadata", {})
    attempt = _int((meta.get("labels") or {}).get(ATTEMPT_LABEL))
    if attempt is None:
        return None
    spec = body.get("spec", {})
    status = body.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    failed = conditions.get("Failed")
    return JobState(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        attempt=attempt,
        suspended=bool(spec.get("suspend")),
        active=int(status.get("active") or 0),
        ready=int(status.get("ready") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        complete="Complete" in conditions,
        failed_reason=str(failed.get("reason") or "Failed") if failed else None,
        failed_message=str(failed.get("message") or "") if failed else "",
        start_time=_time(status.get("startTime")),
        completion_time=_time(status.get("completionTime")),
        deleting=meta.get("deletionTimestamp") is not None,
    )


def pod_state(body: Mapping[str, Any]) -> PodState | None:
    """A worker pod as a :class:`PodState`; None for a pod without our attempt label."""
    meta = body.get("metadata", {})
    attempt = _int((meta.get("labels") or {}).get(ATTEMPT_LABEL))
    if attempt is None:
        return None
    annotations = meta.get("annotations") or {}
    index = _int(annotations.get("batch.kubernetes.io/job-completion-index")) or 0
    status = body.get("status") or {}
    unschedulable = None
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            unschedulable = str(condition.get("message") or "Unschedulable")
    exit_code, reason = None, None
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated and terminated.get("exitCode"):
            exit_code = int(terminated["exitCode"])
            reason = terminated.get("reason")
            break
    return PodState(
        name=str(meta.get("name", "")),
        attempt=attempt,
        index=index,
        phase=str(status.get("phase") or "Pending"),
        unschedulable=unschedulable,
        exit_code=exit_code,
        terminated_reason=reason,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
