"""The controllers of this operator, and how each becomes kopf indexes and watch handlers.

For every :class:`~mlops_operator.controllers.reconciler.Controller` registered here:

- an index of the kind's objects (parsed once per change into the typed model), and one
  index per child kind (compact views keyed by the owner's key, with the owner's uid);
- an index of the references the kind's objects make to other objects of ours, so that a
  change of a TrainingJob wakes the ModelDeployments that serve its model;
- watch handlers that only enqueue keys: the object's own, its dependents', and for a child
  the owner's (after a short settle, as children change in bursts).

kopf holds every handler until all indexes are fully listed, so a reconcile never mistakes
a cache that is still filling for a cluster without children. All handlers are ``async``:
kopf runs plain functions in threads, and the work queues must only be touched from the
event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from mlops_operator.api import keys
from mlops_operator.controllers.execute import controller_owner
from mlops_operator.controllers.reconciler import Child, Controller, Owned, parse_object
from mlops_operator.controllers.runtime import Key, Runtime

CONTROLLERS: list[Controller[Any, Any]] = []


def refs_index_id(ctl: Controller[Any, Any]) -> str:
    return f"{ctl.index_id}_refs"


def index_ids() -> list[str]:
    """The ids of every kopf index the registered controllers use."""
    ids: list[str] = []
    for ctl in CONTROLLERS:
        ids.append(ctl.index_id)
        if ctl.references is not None:
            ids.append(refs_index_id(ctl))
        ids.extend(child.id for child in ctl.children)
    return ids


def register(ctl: Controller[Any, Any]) -> Controller[Any, Any]:
    """Add a controller: its kopf indexes and handlers are registered now, at import."""
    CONTROLLERS.append(ctl)
    res = ctl.resource

    @kopf.index(res.group, res.version, res.plural, id=ctl.index_id)
    async def objects(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> Any:
        return {Key(ctl.kind, namespace or "", name): parse_object(ctl, body)}

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

    for child in ctl.children:
        _register_child(ctl, child)
    return ctl


def _register_child(ctl: Controller[Any, Any], child: Child) -> None:
    res = child.resource
    labels: dict[str, Any] = {
        keys.MANAGED_BY: keys.OPERATOR,
        keys.owner_label(ctl.kind): kopf.PRESENT,
    }
    labels.update(child.labels or {})

    def owner(namespace: str | None, body: Mapping[str, Any]) -> tuple[Key, str] | None:
        ref = controller_owner(body.get("metadata") or {})
        if ref is None or ref.get("kind") != ctl.kind:
            return None
        return Key(ctl.kind, namespace or "", str(ref.get("name"))), str(ref.get("uid"))

    @kopf.index(res.group, res.version, res.plural, id=child.id, labels=labels)
    async def children(
        namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> dict[Key, Owned] | None:
        found = owner(namespace, body)
        view = child.view(body) if found else None
        if found is None or view is None:
            return None
        return {found[0]: Owned(name, found[1], view)}

    @kopf.on.event(res.group, res.version, res.plural, id=f"{child.id}_changed", labels=labels)
    async def child_changed(
        namespace: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        memo.runtime.listed = True
        found = owner(namespace, body)
        if found is not None:
            memo.runtime.queues[ctl.kind].add(found[0], child.settle)


def wake_dependents(rt: Runtime, key: Key) -> None:
    """Enqueue the objects of other kinds that read ``key`` (e.g. serve its model)."""
    for ctl in CONTROLLERS:
        if ctl.references is None or ctl.kind == key.kind:
            continue
        for dependent in rt.index(refs_index_id(ctl)).get(key, ()):
            rt.queues[ctl.kind].add(dependent)
