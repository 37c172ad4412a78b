"""Compact, typed views of the children a TrainingJob has in the cluster.

The operator keeps these in memory for every Job and pod it manages (kopf indexes), so
each holds only what the reconcile reads — a few hundred bytes instead of a whole object.
Built from raw API dicts by pure functions, tested by equality.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.keys import ATTEMPT_LABEL
from mlops_operator.core.training.builders import TRAINER

#: The reason of the Events the Job controller posts on a Job when it cannot create a pod.
FAILED_CREATE = "FailedCreate"


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
    #: What the main container wrote to its termination message (``/dev/termination-log``).
    termination_message: str | None = None


@dataclass(frozen=True)
class Observed:
    """Everything the operator has seen of one run's children.

    ``jobs`` and ``service`` come from the caches; the rest only from the extra reads that
    :func:`~mlops_operator.core.training.reconcile.reads` asks for, and is empty otherwise.
    """

    jobs: tuple[JobState, ...] = ()
    pods: tuple[PodState, ...] = ()
    service: bool = False
    #: The newest ``FailedCreate`` Event message of the current attempt's Job (see
    #: :func:`create_failure`): why the Job controller cannot create its pods.
    create_failure: str | None = None
    #: The rank-0 pod's termination message once its attempt completed (see
    #: :func:`termination_message`); None when it wrote none or the pod is gone.
    termination_message: str | None = None
    #: Why Kueue does not admit the current attempt's Job (its Workload's condition, see
    #: :func:`kueue_reason`); None while it has not said or Kueue is not installed.
    queue_message: str | None = None

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
    containers = status.get("containerStatuses") or []
    for container in containers:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated and terminated.get("exitCode"):
            exit_code = int(terminated["exitCode"])
            reason = terminated.get("reason")
            break
    # The main container's, else the first's: the kubelet does not keep the spec's order.
    main = next((c for c in containers if c.get("name") == TRAINER), None)
    if main is None and containers:
        main = containers[0]
    message = (((main or {}).get("state") or {}).get("terminated") or {}).get("message")
    return PodState(
        name=str(meta.get("name", "")),
        attempt=attempt,
        index=index,
        phase=str(status.get("phase") or "Pending"),
        unschedulable=unschedulable,
        exit_code=exit_code,
        terminated_reason=reason,
        termination_message=str(message) if message is not None else None,
    )


def termination_message(pods: Iterable[PodState]) -> str | None:
    """The termination message of the attempt's rank-0 pod (index 0) that succeeded."""
    for pod in pods:
        if pod.index == 0 and pod.phase == "Succeeded":
            return pod.termination_message
    return None


def kueue_reason(workloads: Iterable[Mapping[str, Any]]) -> str | None:
    """Why Kueue holds a Job, from the Workload it made for it (in Kueue's own words).

    ``QuotaReserved=False`` says why it is not admitted (e.g. ``couldn't assign flavors to
    pod set main: insufficient unused quota for nvidia.com/gpu in flavor default, 4 more
    needed``); ``Evicted=True`` why an admitted one was stopped again.
    """
    for workload in workloads:
        conditions = {
            c.get("type"): c for c in (workload.get("status") or {}).get("conditions") or ()
        }
        reserved = conditions.get("QuotaReserved")
        if reserved is not None and reserved.get("status") == "False" and reserved.get("message"):
            return str(reserved["message"])
        evicted = conditions.get("Evicted")
        if evicted is not None and evicted.get("status") == "True" and evicted.get("message"):
            return str(evicted["message"])
    return None


def create_failure(events: Iterable[Mapping[str, Any]], job: JobState) -> str | None:
    """The message of the newest ``FailedCreate`` Event about this very Job (by UID).

    Takes core/v1 Events (``involvedObject``, ``message``) or events.k8s.io/v1 ones
    (``regarding``, ``note``); an Event about an older Job of the same name is ignored.
    """
    newest: tuple[datetime, str] | None = None
    for event in events:
        about = event.get("involvedObject") or event.get("regarding") or {}
        if event.get("reason") != FAILED_CREATE or about.get("uid") != job.uid:
            continue
        message = str(event.get("message") or event.get("note") or FAILED_CREATE)
        when = _event_time(event)
        if newest is None or when >= newest[0]:
            newest = (when, message)
    return newest[1] if newest else None


def _event_time(event: Mapping[str, Any]) -> datetime:
    """When an Event last happened: the newest of the times either API may set."""
    series = event.get("series") or {}
    meta = event.get("metadata") or {}
    candidates = (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("deprecatedLastTimestamp"),
        event.get("eventTime"),
        meta.get("creationTimestamp"),
    )
    times = [t for t in (_safe_time(c) for c in candidates) if t is not None]
    return max(times) if times else datetime.min.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _safe_time(value: Any) -> datetime | None:
    try:
        return _time(value)
    except ValueError:
        return None
