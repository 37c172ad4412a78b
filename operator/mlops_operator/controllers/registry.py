"""The controllers of this operator, and how each becomes kopf indexes, watch handlers and
informers.

For every :class:`~mlops_operator.controllers.reconciler.Controller` registered here:

- a kopf index of the kind's objects (compact JSON, parsed when a reconcile reads it), and a
  watch handler that only enqueues keys: the object's own, and its dependents';
- a kopf index of the references the kind's objects make to other objects of ours, so that
  a change of a TrainingJob wakes the ModelDeployments that serve its model;
- one :class:`~mlops_operator.kube.informer.Informer` per child kind (compact views keyed
  by the owner's key, with the owner's uid), which wakes the owner when a view changes
  (after a short settle, as children change in bursts). Children are most of the watch
  traffic at scale, and only ever say "look at your owner again": they skip kopf's
  per-event machinery.

kopf holds every handler until its indexes are fully listed, and the queues start only
once every informer has listed too (:func:`~mlops_operator.controllers.operator.lead`), so
a reconcile never mistakes a cache that is still filling for a cluster without children.
All handlers are ``async``: kopf runs plain functions in threads, and the work queues must
only be touched from the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from mlops_operator.api import keys
from mlops_operator.controllers.execute import controller_owner
from mlops_operator.controllers.reconciler import Cached, Child, Controller, Owned, parse_object
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.kube.informer import Informer

CONTROLLERS: list[Controller[Any, Any]] = []


def refs_index_id(ctl: Controller[Any, Any]) -> str:
    return f"{ctl.index_id}_refs"


def index_ids() -> list[str]:
    """The ids of every kopf index the registered controllers use (children are informers)."""
    ids: list[str] = []
    for ctl in CONTROLLERS:
        ids.append(ctl.index_id)
        if ctl.references is not None:
            ids.append(refs_index_id(ctl))
    return ids


def controller(kind: str) -> Controller[Any, Any]:
    """The registered controller of ``kind``."""
    return next(ctl for ctl in CONTROLLERS if ctl.kind == kind)


def register(ctl: Controller[Any, Any]) -> Controller[Any, Any]:
    """Add a controller: its kopf indexes and handlers are registered now, at import."""
    CONTROLLERS.append(ctl)
    res = ctl.resource

    @kopf.index(res.group, res.version, res.plural, id=ctl.index_id)
    async def objects(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> Any:
        return {Key(ctl.kind, namespace or "", name): Cached.of(body)}

    if ctl.references is not None:
        refs = ctl.references

        @kopf.index(res.group, res.version, res.plural, id=refs_index_id(ctl))
        async def references(
            namespace: str | None, name: str, body: kopf.Body, **_: Any
        ) -> dict[Key, Key] | None:
            obj = parse_object(ctl, body)
            if not isinstance(obj, ctl.model):
                return None
            me = Key(ctl.kind, namespace or "", name)
            return {Key(kind, namespace or "", other): me for kind, other in refs(obj)}

    @kopf.on.event(res.group, res.version, res.plural, id=f"{ctl.index_id}_changed")
    async def changed(
        namespace: str | None, name: str, meta: kopf.Meta, memo: kopf.Memo, **_: Any
    ) -> None:
        rt: Runtime = memo.runtime
        rt.listed = True  # kopf calls watch handlers only once every index is listed
        key = Key(ctl.kind, namespace or "", name)
        wake_dependents(rt, key)
        if rt.writes.is_ours(key, meta.get("resourceVersion")):
            return  # the echo of our own status write: nothing new to decide
        rt.queues[ctl.kind].add(key)

    return ctl


def child_informers(
    rt: Runtime, namespaces: Sequence[str] | None
) -> dict[str, Informer[Key, Owned]]:
    """One informer per child kind of every controller, by the child's id."""
    return {
        child.id: _child_informer(rt, ctl, child, namespaces)
        for ctl in CONTROLLERS
        for child in ctl.children
    }


def _child_informer(
    rt: Runtime, ctl: Controller[Any, Any], child: Child, namespaces: Sequence[str] | None
) -> Informer[Key, Owned]:
    selector = [f"{keys.MANAGED_BY}={keys.OPERATOR}", keys.owner_label(ctl.kind)]
    selector += [f"{k}={v}" for k, v in (child.labels or {}).items()]

    def index(body: Mapping[str, Any]) -> tuple[Key, Owned] | None:
        meta = body.get("metadata") or {}
        ref = controller_owner(meta)
        if ref is None or ref.get("kind") != ctl.kind:
            return None
        view = child.view(body)
        if view is None:
            return None
        owner = Key(ctl.kind, str(meta.get("namespace") or ""), str(ref.get("name")))
        return owner, Owned(str(meta.get("name")), str(ref.get("uid")), view)

    def changed(owner: Key) -> None:
        rt.queues[ctl.kind].add(owner, child.settle)

    return Informer(
        rt.kube,
        child.resource,
        index=index,
        changed=changed,
        labels=",".join(selector),
        namespaces=namespaces,
    )


def wake_dependents(rt: Runtime, key: Key) -> None:
    """Enqueue the objects of other kinds that read ``key`` (e.g. serve its model)."""
    for ctl in CONTROLLERS:
        if ctl.references is None or ctl.kind == key.kind:
            continue
        for dependent in rt.index(refs_index_id(ctl)).get(key, ()):
            rt.queues[ctl.kind].add(dependent)
