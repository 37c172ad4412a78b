"""One reconcile of a TrainingJob: spec + observed children + now -> a Plan.

Level-based: the decision depends only on what is observed now, never on which event
woke us, so a restarted operator picks up exactly where the cluster is. The attempt
number is read from the Jobs themselves (label ``mlops.dev/attempt``) as well as from
status, and Job names are deterministic, so no crash between two writes can ever lead to
two Jobs for one attempt.

Status rules:
- ``Succeeded``/``Failed`` True is terminal; afterwards only clean-up and TTL happen.
- ``startTime`` is when the first attempt started; ``activeDeadlineSeconds`` counts from
  it across all attempts, and each attempt's Job gets the remaining time as its own
  deadline, so the Job controller stops the pods on time even without the operator.
- The deadline clock stops while the run is paused: suspended by ``spec.suspend``, or
  waiting in Kueue's queue after it first started (a later attempt not yet admitted, or an
  attempt that Kueue preempted or evicted back to the queue). A pause lasts from when its
  condition (``Suspended`` or ``Queued``) turned True until the attempt's Job starts again;
  when it ends, its length is added to ``suspendedSeconds`` and the deadline moves as much.

The caches hold the Jobs and the Service; what else a reconcile needs (pods, Events, the
rank-0 pod's termination message) is read only when :func:`reads` asks for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlops_operator.api.trainingjob import (
    ModelRef,
    NodeCounts,
    TrainingJob,
    TrainingJobCondition,
    TrainingJobPhase,
    TrainingJobStatus,
)
from mlops_operator.core.conditions import find_condition, is_true, set_condition
from mlops_operator.core.plan import Create, Delete, Event, EventType, Patch, Plan
from mlops_operator.core.training import builders
from mlops_operator.core.training.lineage import triggered_by
from mlops_operator.core.training.metrics import read_metrics
from mlops_operator.core.training.observed import FAILED_CREATE, JobState, Observed
from mlops_operator.settings import TrainingDefaults

C = TrainingJobCondition
P = TrainingJobPhase

DEADLINE_EXCEEDED = "DeadlineExceeded"
EVICTED = "Evicted"
ADMITTED = "Admitted"
#: How long an attempt's pods may take to start before the reconcile looks at them. The
#: operator does not watch pods (at scale they are most of the watch traffic); it reads
#: the pods of an attempt only when that attempt is slow to start, to say why.
PODS_GRACE = 10.0
#: While an attempt stays slow to start, how often to read its pods (or Events) again.
PODS_RECHECK = 60.0
#: How long a run waits in Kueue's queue before the reconcile reads why (Kueue decides
#: within a second or two; its reason then stays until quota frees).
QUEUE_GRACE = 5.0
#: The conditions that, while True, stop the deadline clock.
_PAUSES = (C.SUSPENDED, C.QUEUED)


@dataclass(frozen=True)
class Reads:
    """The reads one reconcile needs beyond the caches; each None when not needed.

    The controller makes them before calling :func:`reconcile` and passes what it found in
    :class:`~mlops_operator.core.training.observed.Observed`.
    """

    pods_of_attempt: int | None = None
    """An attempt slow to start: list its Pending pods (a bounded page; the first
    Unschedulable says enough) into ``Observed.pods``."""
    job_events: str | None = None
    """The current attempt's Job, started but with no pod after the grace: read its
    ``FailedCreate`` Events into ``Observed.create_failure`` (see
    :func:`~mlops_operator.core.training.observed.create_failure`)."""
    workloads_of: str | None = None
    """The uid of the current attempt's Job while Kueue holds it (queued, or evicted back
    to the queue) past :data:`QUEUE_GRACE`: read its Workload into
    ``Observed.queue_message`` (see
    :func:`~mlops_operator.core.training.observed.kueue_reason`)."""
    metrics_pod_of: int | None = None
    """The attempt that completed while ``status.metrics`` is unrecorded: read its rank-0
    pod into ``Observed.termination_message`` (see
    :func:`~mlops_operator.core.training.observed.termination_message`). Read once: the
    reconcile then records ``status.metrics``, empty if there was nothing to read."""


@dataclass(frozen=True)
class _Outcome:
    """Where the current attempt stands, in status terms."""

    phase: P
    reason: str
    message: str


def reconcile(
    tj: TrainingJob, observed: Observed, now: datetime, defaults: TrainingDefaults
) -> Plan[TrainingJobStatus]:
    """Decide the writes and the status for one TrainingJob."""
    plan: Plan[TrainingJobStatus] = Plan()
    status = tj.status.model_copy(deep=True)
    spec = tj.spec
    attempt = max([j.attempt for j in observed.jobs] + [status.attempts or 0])
    current = observed.job(attempt) if attempt else None

    if _terminal(status):
        if _metrics_due(status, current):  # a run that succeeded before metrics existed
            _record_metrics(status, plan, observed)
        _finished(tj, status, current, now, plan)
        return _with_status(plan, tj, status)

    if not observed.service and builders.needs_service(tj):
        plan.creates.append(Create(builders.service(tj, defaults)))

    status.start_time = status.start_time or _first_start(observed)
    if current is not None and current.complete:
        # Before the deadline check: a run that completed in time succeeded, however late
        # the operator sees it (a restart, a backlog).
        status.attempts = attempt
        status.nodes = _counts(current)
        _succeed(status, plan, now, tj, current)
        _record_metrics(status, plan, observed)
        _finished(tj, status, current, now, plan)
        return _with_status(plan, tj, status)

    deadline = _deadline(tj, status, _pausing(status, current, now))
    if (deadline is not None and now >= deadline) or (
        current is not None and current.failed_reason == DEADLINE_EXCEEDED
    ):
        seconds = spec.active_deadline_seconds
        if current is not None:
            status.nodes = _counts(current)
        _fail(
            status,
            plan,
            now,
            tj,
            DEADLINE_EXCEEDED,
            f"the run exceeded activeDeadlineSeconds ({seconds}s)",
        )
        _finished(tj, status, current, now, plan)  # stops the running attempt
        return _with_status(plan, tj, status)

    if current is None or current.failed_reason is not None:
        if current is not None:  # the attempt failed: restart the whole run, or give up
            why = _failure(current, observed)
            if attempt > spec.backoff_limit:
                status.nodes = _counts(current)  # the end as it was, not the last live view
                _fail(
                    status,
                    plan,
                    now,
                    tj,
                    "BackoffLimitExceeded",
                    f"attempt {attempt} failed: {why}; no attempts left "
                    f"(backoffLimit {spec.backoff_limit})",
                )
                _finished(tj, status, current, now, plan)
                return _with_status(plan, tj, status)
            plan.events.append(
                Event(
                    "Warning",
                    "Restarting",
                    f"attempt {attempt} failed: {why}; starting attempt "
                    f"{attempt + 1} of {spec.backoff_limit + 1}" + _from_checkpoint(tj),
                )
            )
            attempt += 1
        else:
            attempt = attempt or 1
        plan.creates.append(Create(_job(tj, attempt, now, deadline, defaults)))
        status.attempts = attempt
        set_condition(
            status.conditions,
            C.CREATED,
            "True",
            "JobCreated",
            f"attempt {attempt}: Job {builders.job_name(_name(tj), attempt)}",
            generation=_gen(tj),
            now=now,
        )
        if attempt == 1:
            plan.events.append(Event("Normal", "Created", _created_message(tj)))
        # Judge the new Job as the next reconcile will see it (no pods yet), so that
        # reconcile writes no status unless something really moved.
        created = JobState(
            name=builders.job_name(_name(tj), attempt),
            uid="",
            attempt=attempt,
            suspended=tj.spec.suspend or bool(tj.spec.queue_name),
        )
        outcome = _progress(tj, created, observed, attempt)
        status.nodes = NodeCounts()
    else:
        status.attempts = attempt
        _suspension(tj, current, plan, _remaining(deadline, now))
        outcome = _progress(tj, current, observed, attempt)
        status.nodes = _counts(current)

    paused = _paused(status)
    _show(status, plan, tj, outcome, now)
    _end_pauses(paused, status, current, now)
    if deadline is not None and outcome.phase not in (P.SUSPENDED, P.QUEUED):
        plan.requeue((deadline - now).total_seconds())
    if current is not None and _starting(tj, current):
        waited = _waited(current, now)
        plan.requeue(PODS_GRACE - waited if waited < PODS_GRACE else PODS_RECHECK)
    if current is not None and _held_by_kueue(tj, current):
        # Look at Kueue's reason once it has had time to give one, then now and then:
        # nothing else wakes a run that waits in a queue.
        since = _queued_since(status) or now
        waited = (now - since).total_seconds()
        plan.requeue(QUEUE_GRACE - waited if waited < QUEUE_GRACE else PODS_RECHECK)
    return _with_status(plan, tj, status)


def reads(tj: TrainingJob, jobs: tuple[JobState, ...], now: datetime) -> Reads:
    """The extra reads this reconcile needs, judged from the cached Jobs and the status.

    For the current (highest) attempt's Job:

    - complete, ``status.metrics`` not recorded: its rank-0 pod, for the metrics;
    - started but not all nodes up after :data:`PODS_GRACE` (again every
      :data:`PODS_RECHECK`, the reconcile's re-check): with no pod at all, the Job's
      ``FailedCreate`` Events (why the Job controller cannot make them); with pods that are
      not ready, those pods (e.g. the scheduler's Unschedulable). Before the grace there is
      nothing to explain that the Job's own status does not say.

    Nothing for a failed run, nor for a Job that is suspended (queued) or finished.
    """
    if not jobs or is_true(tj.status.conditions, C.FAILED):
        return Reads()
    job = max(jobs, key=lambda j: j.attempt)
    if _metrics_due(tj.status, job):
        return Reads(metrics_pod_of=job.attempt)
    if _held_by_kueue(tj, job):
        since = _queued_since(tj.status)
        waited = (now - since).total_seconds() if since is not None else 0.0
        return Reads(workloads_of=job.uid) if waited >= QUEUE_GRACE else Reads()
    if _terminal(tj.status) or not _starting(tj, job) or _waited(job, now) < PODS_GRACE:
        return Reads()
    if job.active == 0:
        return Reads(job_events=job.name)
    if job.active > job.ready:
        return Reads(pods_of_attempt=job.attempt)
    return Reads()


def _held_by_kueue(tj: TrainingJob, job: JobState) -> bool:
    """Whether Kueue, not the user, keeps the attempt's Job suspended."""
    return bool(tj.spec.queue_name) and not tj.spec.suspend and job.suspended and not job.finished


def _queued_since(status: TrainingJobStatus) -> datetime | None:
    queued = find_condition(status.conditions, C.QUEUED)
    return queued.last_transition_time if queued is not None and queued.status == "True" else None


def _starting(tj: TrainingJob, job: JobState) -> bool:
    """Whether the attempt runs but not all of its nodes are up yet."""
    return (
        not job.finished
        and not job.suspended
        and job.start_time is not None
        and job.ready + job.succeeded < tj.spec.nodes
    )


def _waited(job: JobState, now: datetime) -> float:
    return (now - job.start_time).total_seconds() if job.start_time else 0.0


def write_failed(
    tj_status: TrainingJobStatus, generation: int | None, message: str, now: datetime
) -> TrainingJobStatus:
    """A run whose child the API server refused for now (403 quota, 5xx): ``Running=False``
    with reason WriteFailed, until a retry succeeds. Terminal runs are left as they are."""
    status = tj_status.model_copy(deep=True)
    if not _terminal(status):
        set_condition(
            status.conditions,
            C.RUNNING,
            "False",
            "WriteFailed",
            message,
            generation=generation,
            now=now,
        )
    return status


def invalid(
    tj_status: TrainingJobStatus, generation: int | None, message: str, now: datetime
) -> TrainingJobStatus:
    """The status of a run whose spec can never work: ``Failed`` with reason InvalidSpec."""
    status = tj_status.model_copy(deep=True)
    if not _terminal(status):
        status.phase = P.FAILED
        set_condition(
            status.conditions,
            C.FAILED,
            "True",
            "InvalidSpec",
            message,
            generation=generation,
            now=now,
        )
        status.completion_time = status.completion_time or now
    status.observed_generation = generation
    return status


# --- the parts ---------------------------------------------------------------------------


def _progress(tj: TrainingJob, job: JobState, observed: Observed, attempt: int) -> _Outcome:
    """Where a live attempt stands: queued, suspended, pending, restarting or running."""
    spec = tj.spec
    if spec.suspend:
        return _Outcome(P.SUSPENDED, "Suspended", "suspended by spec.suspend")
    if job.suspended:
        if spec.queue_name:
            return _queued(tj, attempt, spec.queue_name, observed)
        return _Outcome(P.PENDING, "Resuming", "resuming")
    if job.ready + job.succeeded >= spec.nodes:
        # A node that finished early (rank 0 still saving the model, say) is not a regression.
        message = f"{job.ready}/{spec.nodes} nodes ready"
        if job.succeeded:
            message += f", {job.succeeded} finished"
        return _Outcome(P.RUNNING, "AllNodesReady", message)
    phase = P.RESTARTING if attempt > 1 else P.PENDING
    if observed.create_failure and job.start_time is not None and job.active == 0:
        return _Outcome(
            phase,
            FAILED_CREATE,
            f"the Job controller cannot create the pods of Job {job.name}: "
            f"{observed.create_failure}",
        )
    # The pods read are a bounded sample (the controller may stop at the first
    # Unschedulable), so name one pod rather than count them.
    waiting = next((p for p in observed.pods_of(attempt) if p.unschedulable), None)
    if waiting is not None:
        return _Outcome(
            phase,
            "Unschedulable",
            f"{job.ready}/{spec.nodes} nodes ready; pod {waiting.name} cannot be scheduled: "
            f"{waiting.unschedulable}",
        )
    return _Outcome(phase, "NodesStarting", f"{job.ready}/{spec.nodes} nodes ready")


def _queued(tj: TrainingJob, attempt: int, queue: str, observed: Observed) -> _Outcome:
    """Waiting for Kueue: to be admitted, or to be admitted again after an eviction.

    An attempt that Kueue admitted (the Queued condition says so) and that is suspended
    again was preempted or evicted by Kueue. The reason stays for as long as it waits, so
    the status does not flap.
    """
    queued = find_condition(tj.status.conditions, C.QUEUED)
    if queued is None:
        evicted = False
    elif queued.status == "True":
        evicted = queued.reason == EVICTED
    else:
        evicted = queued.reason == ADMITTED and tj.status.attempts == attempt
    if evicted:
        why = f": {observed.queue_message}" if observed.queue_message else ""
        return _Outcome(
            P.QUEUED,
            EVICTED,
            f"attempt {attempt} was evicted by Kueue (preempted, or its workload stopped); "
            f"waiting to be admitted again from queue {queue}{why}",
        )
    why = f": {observed.queue_message}" if observed.queue_message else ""
    return _Outcome(
        P.QUEUED,
        "WaitingForAdmission",
        f"waiting for Kueue to admit it from queue {queue}{why}",
    )


#: Outcomes announced by an Event when they begin: what users act on.
_ANNOUNCED: dict[str, EventType] = {
    "Unschedulable": "Warning",
    FAILED_CREATE: "Warning",
    EVICTED: "Normal",
}


def _show(
    status: TrainingJobStatus,
    plan: Plan[TrainingJobStatus],
    tj: TrainingJob,
    outcome: _Outcome,
    now: datetime,
) -> None:
    """Put a live outcome into phase and conditions, with Events for what users act on."""
    previous = status.phase
    gen = _gen(tj)
    was = find_condition(status.conditions, C.RUNNING)
    announced = _ANNOUNCED.get(outcome.reason)
    if announced is not None and (was is None or was.reason != outcome.reason):
        plan.events.append(Event(announced, outcome.reason, outcome.message))
    status.phase = outcome.phase
    running = outcome.phase is P.RUNNING
    set_condition(
        status.conditions,
        C.RUNNING,
        "True" if running else "False",
        outcome.reason,
        outcome.message,
        generation=gen,
        now=now,
    )
    queued = outcome.phase is P.QUEUED
    suspended = outcome.phase is P.SUSPENDED
    _flag(
        status,
        C.QUEUED,
        queued,
        (outcome.reason, outcome.message),
        # Out of the queue because the user suspended the run is no admission.
        (outcome.reason, outcome.message) if suspended else (ADMITTED, "admitted"),
        gen,
        now,
    )
    _flag(
        status,
        C.SUSPENDED,
        suspended,
        ("Suspended", outcome.message),
        ("Resumed", "resumed"),
        gen,
        now,
    )
    restarting = outcome.phase is P.RESTARTING
    _flag(
        status,
        C.RESTARTING,
        restarting,
        ("Restarting", f"attempt {status.attempts} is starting"),
        (outcome.reason, outcome.message),
        gen,
        now,
    )
    if previous != outcome.phase:
        # A run created suspended has never had pods: its Created Event says so instead
        # (one Event per run, not two, when thousands are created suspended at once).
        if suspended and previous is not None:
            plan.events.append(Event("Normal", "Suspended", "suspended: pods stopped"))
        elif previous is P.SUSPENDED:
            plan.events.append(Event("Normal", "Resumed", "resumed"))


def _flag(
    status: TrainingJobStatus,
    type_: C,
    on: bool,
    when_on: tuple[str, str],
    when_off: tuple[str, str],
    gen: int | None,
    now: datetime,
) -> None:
    """A condition that appears the first time it is True and stays, False, afterwards.

    Queued, Suspended and Restarting say something only once they have happened; until
    then their absence is clearer than a row of False conditions.
    """
    if on or find_condition(status.conditions, type_):
        reason, message = when_on if on else when_off
        set_condition(
            status.conditions,
            type_,
            "True" if on else "False",
            reason,
            message,
            generation=gen,
            now=now,
        )


def _suspension(
    tj: TrainingJob, job: JobState, plan: Plan[TrainingJobStatus], remaining: int | None
) -> None:
    """Suspend or resume the attempt's Job; with Kueue, only Kueue resumes it.

    On resume the Job controller restarts the Job's own deadline timer, so the Job gets
    the run's remaining time again.
    """
    if job.finished:
        return
    if tj.spec.suspend and not job.suspended:
        plan.patches.append(Patch("Job", job.name, {"spec": {"suspend": True}}))
    elif not tj.spec.suspend and job.suspended and not tj.spec.queue_name:
        resume: dict[str, Any] = {"suspend": False}
        if remaining is not None:
            resume["activeDeadlineSeconds"] = remaining
        plan.patches.append(Patch("Job", job.name, {"spec": resume}))


def _paused(status: TrainingJobStatus) -> dict[str, datetime]:
    """The pause conditions (Suspended, Queued) that are True, each with when it began."""
    return {
        c.type: c.last_transition_time
        for c in status.conditions
        if c.type in _PAUSES and c.status == "True"
    }


def _lasted(
    began: datetime, status: TrainingJobStatus, current: JobState | None, now: datetime
) -> int:
    """Whole seconds a pause that began at ``began`` has stopped the deadline clock.

    It ends when the attempt's Job started again (the Job controller resets a Job's
    ``startTime`` on every resume), or else now. Time before the run first started does
    not count: the clock had not begun.
    """
    if status.start_time is None:
        return 0
    since = max(began, status.start_time)
    end = now
    if (
        current is not None
        and current.start_time is not None
        and since <= current.start_time <= now
    ):
        end = current.start_time
    return max(0, int((end - since).total_seconds()))


def _pausing(status: TrainingJobStatus, current: JobState | None, now: datetime) -> int:
    """Seconds of the pause in progress (one whose condition is still True), if any."""
    paused = _paused(status)
    return _lasted(min(paused.values()), status, current, now) if paused else 0


def _end_pauses(
    paused: dict[str, datetime],
    status: TrainingJobStatus,
    current: JobState | None,
    now: datetime,
) -> None:
    """Add each pause that just ended (its condition no longer True) to ``suspendedSeconds``.

    Only on the True -> False transition, so a pause is counted once however often the
    reconcile runs; Suspended and Queued are never True together, so pauses never overlap.
    """
    for type_, began in paused.items():
        ended = _lasted(began, status, current, now)
        if ended and not is_true(status.conditions, type_):
            status.suspended_seconds = (status.suspended_seconds or 0) + ended


def _succeed(
    status: TrainingJobStatus,
    plan: Plan[TrainingJobStatus],
    now: datetime,
    tj: TrainingJob,
    job: JobState,
) -> None:
    status.phase = P.SUCCEEDED
    status.completion_time = job.completion_time or now
    gen = _gen(tj)
    message = f"attempt {job.attempt} completed"
    if tj.spec.output:
        status.model = ModelRef(uri=tj.spec.output.model_uri)
        message += f"; model at {tj.spec.output.model_uri}"
    set_condition(
        status.conditions, C.SUCCEEDED, "True", "Completed", message, generation=gen, now=now
    )
    set_condition(
        status.conditions, C.RUNNING, "False", "Completed", message, generation=gen, now=now
    )
    _clear_restarting(status, gen, now)
    plan.events.append(Event("Normal", "Succeeded", message))


def _metrics_due(status: TrainingJobStatus, job: JobState | None) -> bool:
    """Whether the run's attempt completed and its metrics are not recorded yet."""
    return (
        job is not None
        and job.complete
        and status.metrics is None
        and not is_true(status.conditions, C.FAILED)
    )


def _record_metrics(
    status: TrainingJobStatus, plan: Plan[TrainingJobStatus], observed: Observed
) -> None:
    """Record the rank-0 termination message's metrics, once; what is unusable is an Event.

    Recorded even when empty, so the message is read only once; a message that cannot be
    read never fails the run.
    """
    report = read_metrics(observed.termination_message)
    status.metrics = report.metrics
    if report.unreadable is not None:
        plan.events.append(
            Event(
                "Warning",
                "MetricsUnreadable",
                f"no metrics recorded: the termination message of node 0 is "
                f'{report.unreadable}; expected {{"metrics": {{"<name>": <number>, ...}}}}',
            )
        )
    if report.ignored:
        plan.events.append(
            Event(
                "Warning",
                "MetricsIgnored",
                "metrics that are not finite numbers were left out: " + ", ".join(report.ignored),
            )
        )


def _fail(
    status: TrainingJobStatus,
    plan: Plan[TrainingJobStatus],
    now: datetime,
    tj: TrainingJob,
    reason: str,
    message: str,
) -> None:
    gen = _gen(tj)
    status.phase = P.FAILED
    status.completion_time = now
    set_condition(status.conditions, C.FAILED, "True", reason, message, generation=gen, now=now)
    set_condition(status.conditions, C.RUNNING, "False", reason, message, generation=gen, now=now)
    _clear_restarting(status, gen, now)
    plan.events.append(Event("Warning", reason, message))


def _clear_restarting(status: TrainingJobStatus, gen: int | None, now: datetime) -> None:
    if find_condition(status.conditions, C.RESTARTING):
        set_condition(
            status.conditions,
            C.RESTARTING,
            "False",
            "Finished",
            "the run finished",
            generation=gen,
            now=now,
        )


def _finished(
    tj: TrainingJob,
    status: TrainingJobStatus,
    current: JobState | None,
    now: datetime,
    plan: Plan[TrainingJobStatus],
) -> None:
    """After the end: stop a straggling attempt, and delete the run when its TTL is up."""
    if current is not None and not current.finished:
        _stop(current, plan)
    ttl = tj.spec.ttl_seconds_after_finished
    if ttl is None or status.completion_time is None:
        return
    expiry = status.completion_time + timedelta(seconds=ttl)
    if now >= expiry:
        plan.deletes.append(Delete("TrainingJob", _name(tj), tj.metadata.uid))
    else:
        plan.requeue((expiry - now).total_seconds())


def _stop(job: JobState | None, plan: Plan[TrainingJobStatus]) -> None:
    if job is not None and not job.finished and not job.deleting:
        plan.deletes.append(Delete("Job", job.name, job.uid))


def _job(
    tj: TrainingJob,
    attempt: int,
    now: datetime,
    deadline: datetime | None,
    defaults: TrainingDefaults,
) -> dict[str, Any]:
    remaining = None
    if deadline is not None:
        remaining = max(1, math.ceil((deadline - now).total_seconds()))
    elif tj.spec.active_deadline_seconds:
        remaining = tj.spec.active_deadline_seconds
    suspend = tj.spec.suspend or bool(tj.spec.queue_name)
    return builders.job(tj, attempt, defaults, suspend=suspend, active_deadline_seconds=remaining)


#: Exit codes of workers stopped by a signal (SIGKILL, SIGTERM): the teardown of a failed
#: attempt, rarely its cause.
_SIGNALLED = frozenset({137, 143})


def _failure(job: JobState, observed: Observed) -> str:
    """Why an attempt failed, in words: the worker that exited non-zero on its own, if any."""
    failed = [p for p in observed.pods_of(job.attempt) if p.exit_code]
    failed.sort(key=lambda p: (p.exit_code in _SIGNALLED, p.index))
    if failed:
        pod = failed[0]
        why = f"node {pod.index} (pod {pod.name}) exited with code {pod.exit_code}"
        return why + (f" ({pod.terminated_reason})" if pod.terminated_reason else "")
    return f"{job.failed_reason}: {job.failed_message}".rstrip(": ")


def _deadline(tj: TrainingJob, status: TrainingJobStatus, pausing: int) -> datetime | None:
    """When the run's active time runs out, with the pause in progress (``pausing``
    seconds so far) counted as stopped time; None without a deadline or before the start.

    While a pause goes on, this moves with it: it is passed only if the run was already out
    of time when the pause began.
    """
    seconds = tj.spec.active_deadline_seconds
    if seconds is None or status.start_time is None:
        return None
    stopped = (status.suspended_seconds or 0) + pausing
    return status.start_time + timedelta(seconds=seconds + stopped)


def _remaining(deadline: datetime | None, now: datetime) -> int | None:
    if deadline is None:
        return None
    return max(1, math.ceil((deadline - now).total_seconds()))


def _counts(job: JobState) -> NodeCounts:
    return NodeCounts(
        active=job.active, ready=job.ready, succeeded=job.succeeded, failed=job.failed
    )


def _first_start(observed: Observed) -> datetime | None:
    starts = [j.start_time for j in observed.jobs if j.start_time is not None]
    return min(starts) if starts else None


def _terminal(status: TrainingJobStatus) -> bool:
    return is_true(status.conditions, C.SUCCEEDED) or is_true(status.conditions, C.FAILED)


def _created_message(tj: TrainingJob) -> str:
    spec = tj.spec
    shape = f"{spec.nodes} node{'s' if spec.nodes > 1 else ''}"
    if spec.gpus_per_node:
        shape += f" x {spec.gpus_per_node} GPU{'s' if spec.gpus_per_node > 1 else ''}"
    if spec.suspend:
        return f"created attempt 1 ({shape}, framework {spec.framework.value}), suspended"
    return f"started attempt 1 ({shape}, framework {spec.framework.value})"


def _from_checkpoint(tj: TrainingJob) -> str:
    return f" from checkpoint {tj.spec.checkpoint.uri}" if tj.spec.checkpoint else ""


def _with_status(
    plan: Plan[TrainingJobStatus], tj: TrainingJob, status: TrainingJobStatus
) -> Plan[TrainingJobStatus]:
    status.observed_generation = _gen(tj)
    if status.triggered_by is None:  # copied once; status never follows later edits
        status.triggered_by = triggered_by(tj)
    plan.status = status
    return plan


def _gen(tj: TrainingJob) -> int | None:
    return tj.metadata.generation


def _name(tj: TrainingJob) -> str:
    return tj.metadata.name or ""
