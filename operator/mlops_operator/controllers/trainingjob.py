"""The TrainingJob controller: its children (Jobs, the headless Service) and extra reads.

Pods are not watched: at scale they are most of the watch traffic, and each Job's status
already counts its pods. A reconcile reads an attempt's pods only when it is slow to start,
to say why (e.g. the scheduler's Unschedulable), and then only the Pending ones, a bounded
page of them, at most once per re-check interval.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp

from mlops_operator.api import keys
from mlops_operator.api.trainingjob import TrainingJob, TrainingJobStatus
from mlops_operator.controllers.reconciler import Child, Controller
from mlops_operator.controllers.registry import register
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core.plan import Plan
from mlops_operator.core.training import observed as obs
from mlops_operator.core.training.reconcile import PODS_RECHECK, invalid, reads, write_failed
from mlops_operator.core.training.reconcile import reconcile as decide_training
from mlops_operator.kube.client import ApiError
from mlops_operator.kube.resources import EVENTS, JOBS, PODS, SERVICES, TRAININGJOBS, WORKLOADS
from mlops_operator.observability import logging
from mlops_operator.settings import Settings

log = logging.get(__name__)

#: A page of pending pods is enough to say why an attempt waits; a run of 9,999 nodes that
#: cannot be scheduled must not cost megabytes per reconcile.
PODS_PAGE = 20
#: How long node counters alone may lag the Job's own counts in status (see the controller).
COUNTERS_HOLD = 300.0
#: The Job controller's label of a pod's completion index (rank-0 is index 0).
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"

T = TypeVar("T")
NO_PODS: tuple[obs.PodState, ...] = ()
NO_EVENTS: tuple[dict[str, Any], ...] = ()


def _service_view(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name", ""))


async def observe(
    rt: Runtime, key: Key, tj: TrainingJob, children: Mapping[str, tuple[Any, ...]]
) -> obs.Observed:
    """The Jobs and Service from the caches, plus the few reads the core asks for."""
    jobs: tuple[obs.JobState, ...] = children["trainingjob_jobs"]
    wanted = reads(tj, jobs, datetime.now(UTC))
    pods: tuple[obs.PodState, ...] = ()
    if wanted.pods_of_attempt is not None:
        pods = await _remembered(rt, key, ("pods", wanted.pods_of_attempt), _pending_pods, NO_PODS)
    create_failure = None
    if wanted.job_events is not None:
        job = next((j for j in jobs if j.name == wanted.job_events), None)
        events = await _remembered(
            rt, key, ("events", wanted.job_events), _failed_create, NO_EVENTS
        )
        create_failure = obs.create_failure(events, job) if job is not None else None
    queue_message = None
    if wanted.workloads_of is not None:
        workloads = await _remembered(
            rt, key, ("workloads", wanted.workloads_of), _workloads, NO_EVENTS
        )
        queue_message = obs.kueue_reason(workloads)
    message = None
    if wanted.metrics_pod_of is not None:
        rank0 = await _remembered(rt, key, ("rank0", wanted.metrics_pod_of), _rank0_pods, NO_PODS)
        message = obs.termination_message(rank0)
    return obs.Observed(
        jobs=jobs,
        pods=pods,
        service=bool(children["trainingjob_services"]),
        create_failure=create_failure,
        termination_message=message,
        queue_message=queue_message,
    )


async def _remembered(
    rt: Runtime,
    key: Key,
    what: tuple[str, Any],
    read: Callable[[Runtime, Key, Any], Awaitable[T]],
    empty: T,
) -> T:
    """A read of an attempt's state, made at most once per re-check interval.

    Child events wake a slow attempt's reconcile many times a minute; the answer to "why
    does it wait" changes far more slowly, and the core re-checks on its own schedule.
    """
    memory = rt.scratch.setdefault(key, {})
    cached = memory.get(what[0])
    if cached is not None and cached[0] == what[1] and time.monotonic() - cached[1] < PODS_RECHECK:
        value: T = cached[2]
        return value
    try:
        value = await read(rt, key, what[1])
    except (ApiError, OSError, TimeoutError, aiohttp.ClientError) as exc:
        # These reads only explain; they must never keep a deadline, a TTL or a success
        # from being handled. Try again at the next re-check.
        log.warning("read failed", key=str(key), what=what[0], error=repr(exc))
        value = empty
    memory[what[0]] = (what[1], time.monotonic(), value)
    return value


async def _pending_pods(rt: Runtime, key: Key, attempt: int) -> tuple[obs.PodState, ...]:
    return await _pods(rt, key, attempt, rank0=False)


async def _rank0_pods(rt: Runtime, key: Key, attempt: int) -> tuple[obs.PodState, ...]:
    return await _pods(rt, key, attempt, rank0=True)


async def _pods(rt: Runtime, key: Key, attempt: int, *, rank0: bool) -> tuple[obs.PodState, ...]:
    """One bounded page of an attempt's pods: the Pending ones, or the rank-0 one."""
    selector = f"{keys.TRAININGJOB_LABEL}={key.name},{keys.ATTEMPT_LABEL}={attempt}"
    query = [("labelSelector", selector), ("limit", str(PODS_PAGE))]
    if rank0:
        query[0] = ("labelSelector", f"{selector},{COMPLETION_INDEX}=0")
    else:
        query.append(("fieldSelector", "status.phase=Pending"))
    listed = await rt.kube.request("list", PODS, PODS.path(key.namespace), query=query)
    states = (obs.pod_state(item) for item in listed.get("items", []))
    return tuple(state for state in states if state is not None)


async def _workloads(rt: Runtime, key: Key, job_uid: str) -> tuple[dict[str, Any], ...]:
    """Kueue's Workload for one Job (none where Kueue is not installed)."""
    try:
        listed = await rt.kube.request(
            "list",
            WORKLOADS,
            WORKLOADS.path(key.namespace),
            query=[("labelSelector", f"{keys.KUEUE_JOB_UID_LABEL}={job_uid}"), ("limit", "5")],
        )
    except ApiError as exc:
        if exc.not_found:  # no Kueue API here: queueName is a hand-off only
            return ()
        raise
    return tuple(listed.get("items", []))


async def _failed_create(rt: Runtime, key: Key, job: str) -> tuple[dict[str, Any], ...]:
    """The Job controller's FailedCreate Events about one Job (why it has no pods)."""
    selector = f"involvedObject.kind=Job,involvedObject.name={job},reason={obs.FAILED_CREATE}"
    listed = await rt.kube.request(
        "list",
        EVENTS,
        EVENTS.path(key.namespace),
        query=[("fieldSelector", selector), ("limit", str(PODS_PAGE))],
    )
    return tuple(listed.get("items", []))


def decide(
    tj: TrainingJob, observed: obs.Observed, now: datetime, settings: Settings
) -> Plan[TrainingJobStatus]:
    return decide_training(tj, observed, now, settings.training)


CONTROLLER = register(
    Controller(
        model=TrainingJob,
        status_model=TrainingJobStatus,
        resource=TRAININGJOBS,
        observe=observe,
        decide=decide,
        invalid=invalid,
        write_failed=write_failed,
        children=(
            Child(JOBS, obs.job_state, "trainingjob_jobs"),
            Child(SERVICES, _service_view, "trainingjob_services"),
        ),
        # Node counters (and the start time that comes with the first of them) wait for a
        # phase or condition change to ride along with, for up to COUNTERS_HOLD: one or two
        # writes less per run. Under load the Job controller reports a pod active tens of
        # seconds before ready, and finished a minute before complete (3, 15 and 60 s holds
        # still wrote counters alone at 1,000 runs). Nothing a user acts on waits: the phase
        # and every condition (whose message says "N/M nodes ready") are written at once.
        volatile=frozenset({"nodes", "startTime"}),
        hold=COUNTERS_HOLD,
    )
)
