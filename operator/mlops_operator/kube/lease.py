"""Leader election on a ``coordination.k8s.io`` Lease, in the manner of client-go.

Several replicas of the operator may run; exactly one may act. kopf's own peering pauses
the watches of the others, but a paused replica's work queue would keep firing its timers
(deadlines, TTLs) against a frozen cache. With a Lease, every replica keeps its caches warm
from the watches, and only the holder of the Lease runs reconciles.

The rules are client-go's:
- a replica takes the Lease when it is free, or when its record has not changed for
  ``lease_duration`` as measured on *this* replica's clock (never the holder's timestamps,
  so clock skew between nodes does not matter);
- the holder renews every ``retry_period``; if it has not renewed for ``renew_deadline``
  (< ``lease_duration``) it stops acting at once, before anyone else may take over;
- a holder that stops cleanly releases the Lease, so the next one takes over within one
  ``retry_period`` instead of a whole ``lease_duration``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from mlops_operator.kube.client import ApiError, Kube
from mlops_operator.kube.resources import LEASES
from mlops_operator.observability import logging

log = logging.get(__name__)

Callback = Callable[[], Awaitable[None]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Holds or waits for one Lease; calls back when leadership starts and stops."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        *,
        on_started: Callback,
        on_stopped: Callback,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("want retry_period < renew_deadline < lease_duration")
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._on_started = on_started
        self._on_stopped = on_stopped
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock
        self.leading = False
        self._observed: tuple[Any, ...] | None = None  # the holder's record as last read
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._version: str | None = None
        self._lost = False  # the Lease, as last read, names another holder

    async def run(self) -> None:
        """Try to acquire and then renew until cancelled; release on the way out."""
        try:
            while True:
                began = self._clock()
                try:
                    # A leader's attempt may not outlive its renew deadline: a hung request
                    # must not keep it acting after another replica may have taken over.
                    budget = self._renewed_at + self.renew_deadline - began
                    async with asyncio.timeout(budget if self.leading else None):
                        held = await self._try()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any failure is a failed renewal, never the end
                    log.warning("lease not renewed", lease=self.name, error=repr(exc))
                    held = False
                if held:
                    self._renewed_at = began  # valid from when the attempt began
                    if not self.leading:
                        self.leading = True
                        log.info("leading", lease=self.name, identity=self.identity)
                        await self._on_started()
                elif self.leading and (
                    self._lost or self._clock() - self._renewed_at >= self.renew_deadline
                ):
                    await self._stop(
                        "another replica holds the lease" if self._lost else "renew deadline passed"
                    )
                await asyncio.sleep(self.retry_period)
        finally:
            if self.leading:
                await self._stop("stopping")
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._release())

    async def _stop(self, why: str) -> None:
        self.leading = False
        log.warning("stopped leading", lease=self.name, identity=self.identity, why=why)
        await self._on_stopped()

    async def _try(self) -> bool:
        """One acquire-or-renew attempt; True if we hold the Lease afterwards."""
        try:
            lease = await self.kube.get(LEASES, self.namespace, self.name)
        except ApiError as exc:
            if not exc.not_found:
                raise
            return await self._create()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        now = self._clock()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        free = not holder or now - self._observed_at >= float(
            spec.get("leaseDurationSeconds") or self.lease_duration
        )
        self._lost = bool(holder) and holder != self.identity
        if holder != self.identity and not free:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        new_spec = dict(spec)
        new_spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.lease_duration),
            renewTime=_now(),
        )
        if holder != self.identity:
            new_spec.update(acquireTime=_now(), leaseTransitions=transitions + 1)
        lease["spec"] = new_spec
        try:
            updated = await self.kube.replace(LEASES, self.namespace, self.name, lease)
        except ApiError as exc:
            if exc.conflict:  # someone else wrote it first
                return False
            raise
        self._version = updated.get("metadata", {}).get("resourceVersion")
        return True

    async def _create(self) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_duration),
                "acquireTime": _now(),
                "renewTime": _now(),
                "leaseTransitions": 0,
            },
        }
        try:
            await self.kube.create(LEASES, self.namespace, body)
        except ApiError as exc:
            if exc.conflict:
                return False
            raise
        return True

    async def _release(self) -> None:
        """Give the Lease up so the next replica need not wait for it to expire."""
        lease = await self.kube.get(LEASES, self.namespace, self.name)
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.identity:
            return
        spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=_now())
        lease["spec"] = spec
        await self.kube.replace(LEASES, self.namespace, self.name, lease)
        log.info("lease released", lease=self.name, identity=self.identity)
