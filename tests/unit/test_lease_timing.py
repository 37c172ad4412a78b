"""The leader elector's timing rules against an in-memory Lease (pure logic; the real Lease
on the real API server is in tests/integration/test_lease.py)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import aiohttp

from mlops_operator.kube.client import ApiError
from mlops_operator.kube.lease import LeaderElector


class Store:
    """The one Lease object both replicas see."""

    def __init__(self) -> None:
        self.lease: Any = None
        self.rv = 0


class FakeKube:
    """One replica's client onto the shared Lease; its GETs hang after ``hang_after``
    calls (a dead pooled connection), or fail with ``fail`` while it is set."""

    def __init__(
        self, store: Store, hang_after: int | None = None, fail: Exception | None = None
    ) -> None:
        self.store, self.calls, self.hang_after, self.fail = store, 0, hang_after, fail

    async def get(self, res: Any, ns: str, name: str) -> Any:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        if self.hang_after is not None and self.calls > self.hang_after:
            await asyncio.sleep(30)
            raise TimeoutError
        if self.store.lease is None:
            raise ApiError(404, "NotFound", "")
        return copy.deepcopy(self.store.lease)

    async def create(self, res: Any, ns: str, body: Any) -> Any:
        if self.store.lease is not None:
            raise ApiError(409, "AlreadyExists", "")
        return self._store(body)

    async def replace(self, res: Any, ns: str, name: str, body: Any) -> Any:
        if body["metadata"]["resourceVersion"] != self.store.lease["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "")
        return self._store(body)

    def _store(self, body: Any) -> Any:
        self.store.rv += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.store.rv)
        self.store.lease = body
        return body


def elector(kube: FakeKube, identity: str, log: list[tuple[str, str]]) -> LeaderElector:
    async def started() -> None:
        log.append((identity, "start"))

    async def stopped() -> None:
        log.append((identity, "stop"))

    return LeaderElector(
        kube,  # type: ignore[arg-type]
        "ns",
        "lease",
        identity,
        on_started=started,
        on_stopped=stopped,
        lease_duration=3.0,
        renew_deadline=2.0,
        retry_period=0.2,
    )


async def test_a_dropped_connection_is_a_failed_renewal_not_the_end() -> None:
    # aiohttp's disconnect errors are neither OSError nor TimeoutError.
    kube = FakeKube(Store(), fail=aiohttp.ServerDisconnectedError())
    e = elector(kube, "a", [])
    task = asyncio.create_task(e.run())
    try:
        await asyncio.sleep(0.5)
        assert not task.done()
        assert kube.calls > 1  # it keeps trying
        kube.fail = None
        await asyncio.sleep(0.5)
        assert e.leading  # and leads once the API server answers again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_hung_renew_stops_the_leader_before_another_may_take_over() -> None:
    store = Store()
    log: list[tuple[str, str]] = []
    a = elector(FakeKube(store, hang_after=3), "a", log)
    b = elector(FakeKube(store), "b", log)
    ta = asyncio.create_task(a.run())
    await asyncio.sleep(0.1)
    tb = asyncio.create_task(b.run())
    both = False
    try:
        for _ in range(45):  # a's renew deadline passes at ~2.5 s, b may take over at ~3.5 s
            await asyncio.sleep(0.1)
            both |= a.leading and b.leading
    finally:
        for task in (ta, tb):
            task.cancel()
        await asyncio.gather(ta, tb, return_exceptions=True)
    assert not both, log
    assert log.index(("a", "stop")) < log.index(("b", "start"))
