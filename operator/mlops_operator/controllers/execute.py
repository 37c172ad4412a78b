"""Carry out a :class:`~mlops_operator.core.plan.Plan` against the API server.

Order matters: children first (so status never claims what does not exist), then the
status, then Events. Names are deterministic, so creating what already exists is normal
after a crash or a cache lag, but only if the existing object is really ours: its
controller ownerReference must carry our uid. Deletes carry the uid they meant.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core.plan import Create, Plan
from mlops_operator.kube.client import ApiError
from mlops_operator.kube.resources import BY_KIND, Resource

__all__ = ["ApiError", "Blocked", "Gone", "StatusConflict", "children", "post_events", "status"]


class StatusConflict(Exception):
    """The object changed since the version a status was decided from (HTTP 409)."""


class Gone(Exception):
    """The object no longer exists on the server (HTTP 404 on its status)."""


@dataclass(frozen=True)
class Blocked:
    """A child the plan needs cannot be had as written.

    ``stale``: the name is held by a child of a deleted namesake that the garbage collector
    has not removed yet; wait. Otherwise it can never work: the API server refused the child
    as invalid, or the name belongs to an object that is not ours.
    """

    kind: str
    name: str
    message: str
    stale: bool = False

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.message}"


async def children(rt: Runtime, key: Key, uid: str | None, plan: Plan[Any]) -> Blocked | None:
    """Creates, patches and deletes of the plan; a blocked child stops it.

    Creates go out concurrently: they are independent (a Job's pods do not need their
    Service to exist first), and a start waits on the slowest, not on the sum.
    """
    # All settle before the reconcile goes on or raises: no create may land after it ended.
    outcomes = await asyncio.gather(
        *(_create(rt, key, uid, c) for c in plan.creates), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    blocked = [b for b in outcomes if isinstance(b, Blocked)]
    if blocked:
        return next((b for b in blocked if not b.stale), blocked[0])
    for patch in plan.patches:
        try:
            await rt.kube.patch(BY_KIND[patch.kind], key.namespace, patch.name, patch.patch)
        except ApiError as exc:
            if exc.conflict:  # a resourceVersion precondition in the patch: decide again
                raise StatusConflict(str(exc)) from None
            if exc.invalid:  # told once, like a refused create
                return Blocked(patch.kind, patch.name, f"was refused: {exc.message}")
            if not exc.not_found:
                raise
    for delete in plan.deletes:
        try:
            await rt.kube.delete(BY_KIND[delete.kind], key.namespace, delete.name, uid=delete.uid)
        except ApiError as exc:
            if not (exc.not_found or exc.conflict):  # gone, or a newer incarnation
                raise
    return None


async def _create(rt: Runtime, key: Key, uid: str | None, create: Create) -> Blocked | None:
    resource = BY_KIND[create.kind]
    try:
        await rt.kube.create(resource, key.namespace, create.manifest)
    except ApiError as exc:
        if exc.conflict:
            return await _existing(rt, key, uid, resource, create.name)
        if exc.invalid:
            return Blocked(create.kind, create.name, f"was refused: {exc.message}")
        raise
    rt.expectations.created(key, (create.kind, create.name))
    return None


async def _existing(
    rt: Runtime, key: Key, uid: str | None, resource: Resource, name: str
) -> Blocked | None:
    """A create found the name taken: ours (a lag), a dead namesake's, or someone else's."""
    try:
        body = await rt.kube.get(resource, key.namespace, name)
    except ApiError as exc:
        if exc.not_found:  # deleted in between: the next reconcile creates it
            return Blocked(resource.kind, name, "is being replaced", stale=True)
        raise
    meta = body.get("metadata") or {}
    owner = controller_owner(meta)
    if owner is not None and owner.get("uid") == uid:
        rt.expectations.created(key, (resource.kind, name))
        return None
    if owner is not None and owner.get("kind") == key.kind and owner.get("name") == key.name:
        return Blocked(resource.kind, name, "still belongs to a deleted namesake", stale=True)
    if meta.get("deletionTimestamp"):
        return Blocked(resource.kind, name, "is being deleted", stale=True)
    holder = f"{owner.get('kind')} {owner.get('name')}" if owner else "no controller"
    return Blocked(
        resource.kind,
        name,
        f"already exists and is not owned by this {key.kind} (owned by {holder}); "
        "it is never adopted: rename or delete one of them",
    )


def controller_owner(meta: Any) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true`` of an object's metadata, if any."""
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


async def status(
    rt: Runtime,
    key: Key,
    resource: Resource,
    patch: dict[str, Any],
    desired: BaseModel | None,
    over: str | None,
    version: str | None,
) -> bool:
    """Write a status diff decided from ``version``; True if anything was written.

    ``over`` is the version the cache showed (``version`` differs when the decision was
    made from our own earlier write that the cache has not shown yet).

    The patch carries that ``resourceVersion``: if the object moved on meanwhile the API
    server answers 409 and :class:`StatusConflict` sends the reconcile back to read again,
    so a decision is never written over a status it did not see.
    """
    if not patch or desired is None:
        return False
    body: dict[str, Any] = {"status": patch}
    if version:
        body["metadata"] = {"resourceVersion": version}
    try:
        written = await rt.kube.patch(resource, key.namespace, key.name, body, subresource="status")
    except ApiError as exc:
        if exc.not_found:  # deleted, perhaps while a watch was down: the cache may keep it
            raise Gone(str(exc)) from None
        if exc.conflict:
            raise StatusConflict(str(exc)) from None
        raise
    made = written.get("metadata", {}).get("resourceVersion")
    rt.writes.wrote(key, over, desired, made)
    return True


def post_events(rt: Runtime, involved: dict[str, Any], plan: Plan[Any]) -> None:
    """Hand the plan's Events to the sender; they are posted in the background."""
    for event in plan.events:
        rt.events.send(involved, event.type, event.reason, event.message)


def involved_object(resource: Resource, meta: Any) -> dict[str, Any]:
    """An Event's ``involvedObject`` for one of our objects."""
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "name": meta.name,
        "namespace": meta.namespace,
        "uid": meta.uid,
    }
