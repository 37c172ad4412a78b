"""Kubernetes Events on our objects: every decision the operator takes is told there too.

An Event that cannot be posted is logged and dropped: Events are for humans, and losing
one must never fail or repeat a reconcile.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from datetime import UTC, datetime
from typing import Any

from mlops_operator.kube.client import ApiError, Kube
from mlops_operator.kube.resources import EVENTS
from mlops_operator.observability import logging

COMPONENT = "mlops-operator"
INSTANCE = os.environ.get("POD_NAME") or os.uname().nodename

log = logging.get(__name__)


def manifest(
    involved: dict[str, Any], type_: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (apiVersion, kind, name, namespace, uid)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    micro = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{involved['name']}.{secrets.token_hex(8)}",
            "namespace": involved["namespace"],
        },
        "involvedObject": involved,
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": INSTANCE,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": micro,
        "action": reason,
        "count": 1,
    }


async def post(kube: Kube, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """Post one Event; failures of any kind are logged, never raised.

    Not only API refusals: a dropped connection or a timeout must not end the sender task,
    or every later Event would be lost.
    """
    body = manifest(involved, type_, reason, message, datetime.now(UTC))
    try:
        await kube.create(EVENTS, involved["namespace"], body)
    except asyncio.CancelledError:
        raise
    except ApiError as exc:
        log.warning("event not posted", reason=reason, error=str(exc))
    except Exception as exc:
        log.warning("event not posted", reason=reason, error=repr(exc))


class EventSender:
    """Posts Events from a bounded queue, off the reconcile's critical path.

    A reconcile hands its Events over and moves on; a few sender tasks post them. When the
    queue is full (the API server is far behind) an Event is dropped and logged rather than
    slowing the reconciles down: Events are for humans, status is the record.
    """

    def __init__(self, kube: Kube, *, senders: int = 4, capacity: int = 10_000) -> None:
        self._kube = kube
        self._senders = senders
        self._queue: asyncio.Queue[tuple[dict[str, Any], str, str, str]] = asyncio.Queue(capacity)

    def send(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            self._queue.put_nowait((involved, type_, reason, message))
        except asyncio.QueueFull:
            log.warning("event dropped: queue full", reason=reason, name=involved.get("name"))

    async def run(self) -> None:
        """Post queued Events until cancelled."""
        async with asyncio.TaskGroup() as group:
            for _ in range(self._senders):
                group.create_task(self._sender())

    async def drain(self) -> None:
        """Wait until every queued Event is posted."""
        await self._queue.join()

    async def _sender(self) -> None:
        while True:
            involved, type_, reason, message = await self._queue.get()
            try:
                await post(self._kube, involved, type_, reason, message)
            finally:
                self._queue.task_done()
