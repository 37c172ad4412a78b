"""One reconcile machinery for every kind: read from the caches, call the pure core, write.

A :class:`Controller` describes a kind: its model and resource, the children it owns (each
an informer's compact views), what the core needs besides them (``observe``), the pure
decision (``decide``), and what "this can never work as written" means for the kind
(``invalid``: a TrainingJob ends ``Failed``, the others show ``Ready=False``). The registry
(:mod:`mlops_operator.controllers.registry`) turns each description into kopf indexes,
watch handlers and informers; :func:`reconcile` is the one read → decide → write skeleton
they share.

Rules the skeleton keeps for every kind:
- children count only if their controller ownerReference carries the object's uid, so a
  re-created object never adopts the children of its deleted namesake;
- a child that exists under our name but belongs to someone else is never adopted: the
  object says so (``invalid``), naming the child;
- the status write is a true diff (removed keys become ``null``) carrying the
  ``resourceVersion`` it was decided from; a 409 means "re-read and decide again";
- anything the core cannot build (:class:`InvalidSpec`) or the API server refuses as invalid
  is told once, in status and an Event, and never retried in a storm.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from mlops_operator.api.common import ObjectMeta
from mlops_operator.api.parse import InvalidSpec, parse, to_plain
from mlops_operator.api.resource import CustomResource
from mlops_operator.controllers import execute
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core.patch import merge_diff
from mlops_operator.core.plan import Plan
from mlops_operator.kube.resources import Resource
from mlops_operator.observability import logging
from mlops_operator.settings import Settings

M = TypeVar("M", bound=CustomResource)
S = TypeVar("S", bound=BaseModel)

log = logging.get(__name__)

#: How long to wait for the garbage collector to remove the children of a deleted namesake.
STALE_CHILD_WAIT = 1.0
#: How often to look again while a created child is not yet in the cache.
EXPECTATION_RECHECK = 1.0
#: How often to look again at an object blocked by a child it cannot have (a name held by
#: someone else): slowly, as that takes a human.
BLOCKED_RECHECK = 60.0


@dataclass(frozen=True)
class Unparsable:
    """An object the models refuse; kept so its status can say why."""

    metadata: ObjectMeta
    status: BaseModel
    error: InvalidSpec


@dataclass(frozen=True, slots=True)
class Cached:
    """One object of our kinds in a kopf index, kept compact until a reconcile reads it.

    A parsed model costs about 8 KB per object (every sub-model and its bookkeeping); its
    JSON, without ``managedFields``, about 1.3 KB. At 10,000 TrainingJobs that is the
    difference between fitting the chart's memory limit and not, so the cache keeps the
    JSON and :func:`parsed` builds the model when a reconcile (or a dependent) reads it.
    """

    uid: str
    resource_version: str
    created: str
    """``creationTimestamp`` as the API server wrote it (RFC 3339 sorts as text)."""
    phase: str | None
    """``status.phase``, for counting by phase without a parse."""
    raw: bytes

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Cached:
        plain = to_plain(body)
        meta = plain.setdefault("metadata", {})
        meta.pop("managedFields", None)  # the API server's bookkeeping, often the bulk
        annotations = meta.get("annotations") or {}
        annotations.pop(LAST_APPLIED, None)  # a second copy of the spec
        return cls(
            uid=str(meta.get("uid") or ""),
            resource_version=str(meta.get("resourceVersion") or ""),
            created=str(meta.get("creationTimestamp") or ""),
            phase=(plain.get("status") or {}).get("phase"),
            raw=json.dumps(plain, separators=(",", ":")).encode(),
        )


#: What ``kubectl apply`` (client-side) keeps in an annotation: the whole applied object.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: Parsed models kept for reuse: a key is often reconciled several times at one version
#: (requeues, a dependent's read), and parsing is most of a small reconcile's CPU.
PARSED_CACHE = 512


def parsed(ctl: Controller[Any, Any], cached: Cached) -> Any:
    """The typed model (or :class:`Unparsable`) of a cached object; shared, never mutate."""
    _MODELS.setdefault(ctl.index_id, (ctl.model, ctl.status_model))
    return _parsed(ctl.index_id, cached.raw)


_MODELS: dict[str, tuple[type[CustomResource], type[BaseModel]]] = {}


@lru_cache(maxsize=PARSED_CACHE)
def _parsed(index_id: str, raw: bytes) -> Any:
    model, status_model = _MODELS[index_id]
    return _parse(model, status_model, json.loads(raw))


@dataclass(frozen=True)
class Owned:
    """A child in an informer: its name, its controller owner's uid, and its compact view."""

    name: str
    owner_uid: str
    view: Any


@dataclass(frozen=True)
class Child:
    """A kind of object a controller creates, owns and watches."""

    resource: Resource
    view: Callable[[Mapping[str, Any]], Any]
    """A compact view of the raw object (what the core reads), or None to ignore it."""
    id: str
    """Name of its informer among the caches (unique across controllers)."""
    settle: float = 0.2
    """Children change in bursts (created, scheduled, running): look once they settle."""
    labels: Mapping[str, str] | None = None
    """Extra label filter of the watch, besides managed-by and the owner label."""


Observe = Callable[[Runtime, Key, Any, Mapping[str, tuple[Any, ...]]], Awaitable[Any]]
Decide = Callable[[Any, Any, datetime, Settings], Plan[Any]]
StatusFn = Callable[[Any, int | None, str, datetime], Any]


@dataclass(frozen=True)
class Controller(Generic[M, S]):
    """Everything the machinery needs to know about one kind."""

    model: type[M]
    status_model: type[S]
    resource: Resource
    observe: Observe
    """Build the core's observed state from the object's children (views by child id);
    may read more from the API (pods of a slow start, Prometheus), never write."""
    decide: Decide
    """The pure core: object, observed state, now, settings -> a :class:`Plan`."""
    invalid: StatusFn
    """The status of an object that can never work as written (status, generation,
    message, now); it is written once, with a Warning Event ``InvalidSpec``."""
    write_failed: StatusFn
    """The status while a child write fails for a reason that may pass (403 from a quota
    or an admission policy, 5xx): shown, then retried with backoff."""
    children: tuple[Child, ...] = ()
    references: Callable[[Any], Iterable[tuple[str, str]]] | None = None
    """``(kind, name)`` of other objects of ours (same namespace) this one reads, so that
    their changes wake it up."""
    record: Callable[[Key, Any, Any], None] | None = None
    """Count what a status write says happened (old status, new status) in the domain
    metrics, e.g. a finished rollout; called after the write succeeded."""
    volatile: frozenset[str] = frozenset()
    """Status fields whose changes alone may wait ``hold`` seconds for company."""
    hold: float = 0.0

    @property
    def kind(self) -> str:
        return self.model.crd.kind

    @property
    def index_id(self) -> str:
        return self.model.crd.plural


# --- reading -------------------------------------------------------------------------------


def parse_object(ctl: Controller[Any, Any], body: Mapping[str, Any]) -> Any:
    """The typed model of ``body``, or an :class:`Unparsable` that keeps its status."""
    return _parse(ctl.model, ctl.status_model, body)


def _parse(
    model: type[CustomResource], status_model: type[BaseModel], body: Mapping[str, Any]
) -> Any:
    try:
        return parse(model, body)
    except InvalidSpec as error:
        try:
            status = status_model.model_validate(to_plain(body.get("status") or {}))
        except ValueError:
            status = status_model()
        meta = ObjectMeta.model_validate(to_plain(body.get("metadata") or {}))
        return Unparsable(meta, status, error)


async def current(rt: Runtime, ctl: Controller[Any, Any], key: Key) -> Any:
    """The object of ``key`` from the cache; None if it is gone.

    A kopf index can hold two objects for one key for a while: one deleted while the watch
    was down (a relist after 410, a paused replica) and its namesake. The cache alone cannot
    tell which is real, so then the API server is asked.
    """
    entries = rt.alive(key, rt.index(ctl.index_id).get(key))
    if len(entries) <= 1:
        return parsed(ctl, entries[0]) if entries else None
    return await _fresh(rt, ctl, key)


def owned_children(
    rt: Runtime, ctl: Controller[Any, Any], key: Key, uid: str | None
) -> tuple[dict[str, tuple[Any, ...]], set[tuple[str, str]]]:
    """Views of the object's children by child id, and all their names.

    Only children whose controller owner is this very object (by uid) count: those of a
    deleted namesake are left to the garbage collector.
    """
    views: dict[str, tuple[Any, ...]] = {}
    names: set[tuple[str, str]] = set()
    for child in ctl.children:
        mine = [o for o in rt.index(child.id).get(key, ()) if o.owner_uid == uid]
        views[child.id] = tuple(o.view for o in mine)
        names.update((child.resource.kind, o.name) for o in mine)
    return views, names


# --- the skeleton --------------------------------------------------------------------------


async def reconcile(rt: Runtime, ctl: Controller[Any, Any], key: Key) -> float | None:
    """Read one object and its children, decide, write; the seconds until the next look."""
    obj = await current(rt, ctl, key)
    for attempt in (1, 2):
        if obj is None:  # deleted; owner references take its children with it
            rt.forget(key)
            return None
        try:
            return await _reconcile(rt, ctl, key, obj)
        except execute.Gone:
            # The cache kept an object deleted while a watch was down (kopf does not drop
            # it on a relist): never act on it again, whatever the cache says.
            rt.gone.add((key, str(obj.metadata.uid)))
            rt.forget(key)
            return None
        except execute.StatusConflict:
            # Someone else wrote the object since the version we decided from: read it
            # fresh and decide again, once; a second conflict goes to the queue's backoff.
            if attempt == 2:
                raise
            rt.writes.forget(key)
            obj = await _fresh(rt, ctl, key)
    return None


async def _fresh(rt: Runtime, ctl: Controller[Any, Any], key: Key) -> Any:
    """The object as the API server has it now; None if it is gone."""
    try:
        return parse_object(ctl, await rt.kube.get(ctl.resource, key.namespace, key.name))
    except execute.ApiError as exc:
        if exc.not_found:
            return None
        raise


async def _reconcile(rt: Runtime, ctl: Controller[Any, Any], key: Key, obj: Any) -> float | None:
    now = datetime.now(UTC)
    involved = execute.involved_object(ctl.resource, obj.metadata)
    if isinstance(obj, Unparsable):
        await _invalid(rt, ctl, key, obj.metadata, obj.status, str(obj.error), involved)
        return None
    if obj.metadata.deletion_timestamp is not None:
        return None

    written = rt.writes.status(key, obj.metadata.resource_version)
    version = obj.metadata.resource_version
    if written is not None:  # the cache lags our own last write: decide from what we wrote
        obj = obj.model_copy(update={"status": written.status})
        version = written.latest or version

    views, names = owned_children(rt, ctl, key, obj.metadata.uid)
    if rt.expectations.awaiting(key, names):
        return EXPECTATION_RECHECK  # a child we just created is not in the cache yet
    observed = await ctl.observe(rt, key, obj, views)
    try:
        plan = ctl.decide(obj, observed, now, rt.settings)
    except InvalidSpec as error:
        await _invalid(rt, ctl, key, obj.metadata, obj.status, str(error), involved, version)
        return None

    try:
        outcome = await execute.children(rt, key, obj.metadata.uid, plan)
    except execute.ApiError as exc:
        await _write_failed(rt, ctl, key, obj, str(exc), involved, version)
        raise  # the work queue retries with backoff (no sooner than a Retry-After)
    if isinstance(outcome, execute.Blocked):
        if outcome.stale:
            return STALE_CHILD_WAIT
        await _invalid(rt, ctl, key, obj.metadata, obj.status, str(outcome), involved, version)
        return BLOCKED_RECHECK  # the name may be freed; a kind that ended ignores it

    current_status = _dump(obj.status)
    desired = _dump(plan.status) if plan.status is not None else current_status
    wait = _hold(rt, ctl, key, current_status, desired)
    if wait:
        return min(wait, plan.requeue_after if plan.requeue_after is not None else wait)
    changed = await execute.status(
        rt,
        key,
        ctl.resource,
        merge_diff(current_status, desired),
        plan.status,
        obj.metadata.resource_version,
        version,
    )
    if changed and ctl.record is not None:
        ctl.record(key, obj.status, plan.status)
    if changed or plan.creates or plan.deletes or plan.patches:
        execute.post_events(rt, involved, plan)
    if changed and desired.get("phase") != current_status.get("phase"):
        log.info(
            "phase",
            kind=key.kind,
            namespace=key.namespace,
            name=key.name,
            phase=desired.get("phase"),
        )
    return plan.requeue_after


async def _invalid(
    rt: Runtime,
    ctl: Controller[Any, Any],
    key: Key,
    meta: ObjectMeta,
    status: BaseModel,
    message: str,
    involved: dict[str, Any],
    version: str | None = None,
) -> None:
    """Say once, in status and a Warning Event, that the object cannot work as written."""
    desired = ctl.invalid(status, meta.generation, message, datetime.now(UTC))
    patch = merge_diff(_dump(status), _dump(desired))
    over = meta.resource_version
    if await execute.status(rt, key, ctl.resource, patch, desired, over, version or over):
        rt.events.send(involved, "Warning", "InvalidSpec", message)


async def _write_failed(
    rt: Runtime,
    ctl: Controller[Any, Any],
    key: Key,
    obj: Any,
    message: str,
    involved: dict[str, Any],
    version: str | None,
) -> None:
    """Say in status why a child write failed; best effort, the retry is what matters."""
    desired = ctl.write_failed(obj.status, obj.metadata.generation, message, datetime.now(UTC))
    patch = merge_diff(_dump(obj.status), _dump(desired))
    try:
        over = obj.metadata.resource_version
        if await execute.status(rt, key, ctl.resource, patch, desired, over, version):
            rt.events.send(involved, "Warning", "WriteFailed", message)
    except (execute.ApiError, execute.StatusConflict, execute.Gone, OSError, TimeoutError) as exc:
        log.warning("status not written", key=str(key), error=str(exc))


def _hold(
    rt: Runtime,
    ctl: Controller[Any, Any],
    key: Key,
    current: dict[str, Any],
    desired: dict[str, Any],
) -> float:
    """Seconds to hold back a write that would only move volatile fields; 0 to write now.

    A phase or condition change in the meantime is written at once and carries the held
    fields along, which saves a write per object (see TrainingJob's node counters).
    """
    if not ctl.volatile or desired == current:
        return 0.0
    if {k: v for k, v in desired.items() if k not in ctl.volatile} != {
        k: v for k, v in current.items() if k not in ctl.volatile
    }:
        return 0.0
    return max(ctl.hold - rt.writes.held(key), 0.0)


def _dump(status: BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped
