"""Carry out a :class:`~mlops_operator.core.plan.Plan` against the API server.

Order matters: children first (so status never claims what does not exist), then the
status, then Events. Creating what already exists, or deleting what is already gone,
counts as done: names are deterministic and deletes carry the uid they meant.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core.plan import Create, Plan
from mlops_operator.kube.client import ApiError
from mlops_operator.kube.resources import BY_KIND, Resource


@dataclass(frozen=True)
class Refused:
    """The API server refused a child as invalid: the spec can never work as written."""

    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} was refused: {self.message}"


async def children(rt: Runtime, key: Key, plan: Plan[Any]) -> Refused | None:
    """Creates, patches and deletes of the plan; an invalid child stops it.

    Creates go out concurrently: they are independent (a Job's pods do not need their
    Service to exist first), and a run's start waits on the slowest, not on the sum.
    """
    namespace = key[0]
    refusals = await asyncio.gather(*(_create(rt, key, namespace, c) for c in plan.creates))
    refused = next((r for r in refusals if r is not None), None)
    if refused is not None:
        return refused
    for patch in plan.patches:
        try:
            await rt.kube.patch(BY_KIND[patch.kind], namespace, patch.name, patch.patch)
        except ApiError as exc:
            if not exc.not_found:
                raise
    for delete in plan.deletes:
        try:
            await rt.kube.delete(BY_KIND[delete.kind], namespace, delete.name, uid=delete.uid)
        except ApiError as exc:
            if not (exc.not_found or exc.conflict):  # gone, or a newer incarnation
                raise
    return None


async def _create(rt: Runtime, key: Key, namespace: str, create: Create) -> Refused | None:
    try:
        await rt.kube.create(BY_KIND[create.kind], namespace, create.manifest)
    except ApiError as exc:
        if exc.conflict:
            return None
        if exc.invalid:
            return Refused(create.kind, create.name, exc.message)
        raise
    rt.overlay.created(key, create.name)
    return None


async def status(
    rt: Runtime,
    key: Key,
    resource: Resource,
    current: dict[str, Any],
    desired: dict[str, Any] | None,
    resource_version: str | None,
) -> bool:
    """Write the desired status if it differs from the current one; True if written."""
    if desired is None or desired == current:
        return False
    try:
        written = await rt.kube.patch(
            resource, key[0], key[1], {"status": desired}, subresource="status"
        )
    except ApiError as exc:
        if exc.not_found:  # deleted meanwhile
            return False
        raise
    made = written.get("metadata", {}).get("resourceVersion")
    rt.overlay.wrote_status(key, resource_version, desired, made)
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
