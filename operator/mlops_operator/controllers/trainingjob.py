"""The TrainingJob controller: kopf indexes are the cache, a work queue drives reconciles.

kopf feeds three indexes (TrainingJobs, and the Jobs and Services they own) and holds
every other handler until all three are fully listed, so a reconcile never mistakes a cache
that is still filling for a cluster without children. Watch events only enqueue the
owning TrainingJob's key; :func:`reconcile` reads everything it needs from the indexes,
asks the pure core what to do, and does it. Pods are not watched: at scale they are most
of the watch traffic, and the Jobs' status counts them. The reconcile reads an attempt's
pods only when it is slow to start, to say why (e.g. the scheduler's Unschedulable).

The operator writes nothing on the TrainingJob besides ``status`` (no finalizers, no kopf
annotations): children are cleaned up by owner references.

Every handler is ``async``: kopf runs plain functions in a thread pool, and the work
queue, like all asyncio state, must only be touched from the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from mlops_operator import GROUP, VERSION
from mlops_operator.api.common import ObjectMeta
from mlops_operator.api.parse import InvalidSpec, parse, to_plain
from mlops_operator.api.trainingjob import TrainingJob, TrainingJobStatus
from mlops_operator.controllers import execute
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core.meta import MANAGED_BY, OPERATOR, owner_label
from mlops_operator.core.training import observed as obs
from mlops_operator.core.training.builders import ATTEMPT_LABEL
from mlops_operator.core.training.reconcile import invalid, pods_wanted
from mlops_operator.core.training.reconcile import reconcile as decide
from mlops_operator.kube.resources import PODS, TRAININGJOBS
from mlops_operator.observability import logging

NAME = "trainingjob"
OWNER = owner_label("TrainingJob")
OWNED: dict[str, Any] = {MANAGED_BY: OPERATOR, OWNER: kopf.PRESENT}
#: Children change in bursts (pod created, scheduled, running): look once they settle.
SETTLE = 0.2
#: A status change that only moves these fields (node counters, and the start time that
#: comes with the first of them) is held back this long from when it is first seen; a
#: phase or condition change in the meantime (usually Running) is written at once and
#: carries them along, which saves a write per run.
COUNTS_INTERVAL = 3.0
VOLATILE = frozenset({"nodes", "startTime"})

log = logging.get(__name__)


@dataclass(frozen=True)
class Unparsable:
    """A TrainingJob the models refuse; kept so its status can say why."""

    metadata: ObjectMeta
    status: TrainingJobStatus
    error: InvalidSpec


# --- the cache ----------------------------------------------------------------------------


@kopf.index(GROUP, VERSION, "trainingjobs")
async def trainingjobs(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Key, Any]:
    """Every TrainingJob, parsed once per change into its typed model."""
    try:
        return {_key(namespace, name): parse(TrainingJob, body)}
    except InvalidSpec as error:
        try:
            status = TrainingJobStatus.model_validate(to_plain(body.get("status") or {}))
        except ValueError:
            status = TrainingJobStatus()
        meta = ObjectMeta.model_validate(to_plain(body.metadata))
        return {_key(namespace, name): Unparsable(meta, status, error)}


@kopf.index("batch", "v1", "jobs", labels=OWNED)
async def trainingjob_jobs(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, obs.JobState] | None:
    state = obs.job_state(body)
    return {_key(namespace, labels[OWNER]): state} if state else None


@kopf.index("", "v1", "services", labels=OWNED)
async def trainingjob_services(
    namespace: str | None, labels: kopf.Labels, name: str, **_: Any
) -> dict[Key, str]:
    return {_key(namespace, labels[OWNER]): name}


# --- the triggers -------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, "trainingjobs")
async def trainingjob_changed(
    namespace: str | None, name: str, meta: kopf.Meta, memo: kopf.Memo, **_: Any
) -> None:
    rt: Runtime = memo.runtime
    key = _key(namespace, name)
    if rt.overlay.is_ours(key, meta.get("resourceVersion")):
        return  # the echo of our own status write: nothing new to decide
    rt.queues[NAME].add(key)


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
@kopf.on.event("", "v1", "services", labels=OWNED)
async def child_changed(
    namespace: str | None, labels: kopf.Labels, memo: kopf.Memo, **_: Any
) -> None:
    memo.runtime.queues[NAME].add(_key(namespace, labels[OWNER]), SETTLE)


# --- the reconcile ------------------------------------------------------------------------


async def reconcile(rt: Runtime, key: Key) -> float | None:
    """Read one TrainingJob and its children from the caches, decide, write."""
    tj = _one(rt.index("trainingjobs"), key)
    if tj is None:  # deleted; owner references take its children with it
        rt.overlay.forget(key)
        rt.queues[NAME].forget(key)
        return None
    now = datetime.now(UTC)
    involved = execute.involved_object(TRAININGJOBS, tj.metadata)
    if isinstance(tj, Unparsable):
        await _invalid(rt, key, tj.metadata, tj.status, str(tj.error), involved)
        return None
    if tj.metadata.deletion_timestamp is not None:
        return None

    jobs = tuple(rt.index("trainingjob_jobs").get(key, ()))
    services = set(rt.index("trainingjob_services").get(key, ()))
    if rt.overlay.awaiting(key, {j.name for j in jobs} | services):
        return 1.0  # a child we just created is not in the cache yet
    attempt = pods_wanted(tj, jobs, now)
    pods = await _pods(rt, key, attempt) if attempt is not None else ()
    seen = obs.Observed(jobs=jobs, pods=pods, service=bool(services))
    written = rt.overlay.status(key, tj.metadata.resource_version)
    if written is not None:
        tj = tj.model_copy(update={"status": TrainingJobStatus.model_validate(written)})

    plan = decide(tj, seen, now, rt.settings.training)
    refused = await execute.children(rt, key, plan)
    if refused is not None:
        await _invalid(rt, key, tj.metadata, tj.status, str(refused), involved)
        return None
    current = tj.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    desired = (
        plan.status.model_dump(by_alias=True, exclude_none=True, mode="json")
        if plan.status is not None
        else None
    )
    wait = _counts_wait(rt, key, current, desired)
    if wait:
        return min(wait, plan.requeue_after or wait)
    if await execute.status(rt, key, TRAININGJOBS, current, desired, tj.metadata.resource_version):
        execute.post_events(rt, involved, plan)
        if desired and desired.get("phase") != current.get("phase"):
            log.info(
                "trainingjob phase",
                namespace=key[0],
                name=key[1],
                phase=desired.get("phase"),
                attempts=desired.get("attempts"),
            )
    return plan.requeue_after


async def _invalid(
    rt: Runtime,
    key: Key,
    meta: ObjectMeta,
    status: TrainingJobStatus,
    message: str,
    involved: dict[str, Any],
) -> None:
    """Fail a run that can never work, once: status, an Event, and no retries."""
    current = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    desired = invalid(status, meta.generation, message, datetime.now(UTC))
    dumped = desired.model_dump(by_alias=True, exclude_none=True, mode="json")
    if await execute.status(rt, key, TRAININGJOBS, current, dumped, meta.resource_version):
        rt.events.send(involved, "Warning", "InvalidSpec", message)


async def _pods(rt: Runtime, key: Key, attempt: int) -> tuple[obs.PodState, ...]:
    """Read the pods of one attempt (only for an attempt slow to start: no pod watch)."""
    selector = f"{OWNER}={key[1]},{ATTEMPT_LABEL}={attempt}"
    listed = await rt.kube.request(
        "list", PODS, PODS.path(key[0]), query=[("labelSelector", selector)]
    )
    states = (obs.pod_state(item) for item in listed.get("items", []))
    return tuple(state for state in states if state is not None)


def _counts_wait(
    rt: Runtime, key: Key, current: dict[str, Any], desired: dict[str, Any] | None
) -> float:
    """Seconds to hold back a write that would only move volatile fields; 0 to write now."""
    if desired is None or desired == current:
        return 0.0
    if {k: v for k, v in desired.items() if k not in VOLATILE} != {
        k: v for k, v in current.items() if k not in VOLATILE
    }:
        return 0.0
    return max(COUNTS_INTERVAL - rt.overlay.held(key), 0.0)


def _key(namespace: str | None, name: str) -> Key:
    """Every kind we watch is namespaced, so kopf always passes a namespace."""
    return (namespace or "", name)


def _one(index: Mapping[Key, Any], key: Key) -> Any:
    store = index.get(key)
    return next(iter(store), None) if store is not None else None
