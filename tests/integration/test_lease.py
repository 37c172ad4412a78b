"""Leader election on a real Lease: one leader at a time, a fast hand-over on release,
and a take-over once a silent leader's Lease expires."""

from __future__ import annotations

import asyncio
import time

from mlops_operator.kube.client import Kube
from mlops_operator.kube.lease import LeaderElector
from mlops_operator.kube.resources import LEASES


class Replica:
    """One elector with a record of when it led."""

    def __init__(self, kube: Kube, namespace: str, identity: str) -> None:
        self.identity = identity
        self.started: list[float] = []
        self.stopped: list[float] = []

        async def on_started() -> None:
            self.started.append(time.monotonic())

        async def on_stopped() -> None:
            self.stopped.append(time.monotonic())

        self.elector = LeaderElector(
            kube,
            namespace,
            "mlops-test",
            identity,
            on_started=on_started,
            on_stopped=on_stopped,
            lease_duration=3.0,
            renew_deadline=2.0,
            retry_period=0.3,
        )
        self.task = asyncio.create_task(self.elector.run())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def until(predicate: object, within: float) -> float:
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - start > within:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_one_leader_then_a_fast_hand_over_when_it_releases(
    kubeconfig: str, namespace: str
) -> None:
    kube = await Kube.connect(kubeconfig)
    a, b = Replica(kube, namespace, "a"), Replica(kube, namespace, "b")
    try:
        await until(lambda: a.elector.leading or b.elector.leading, 5)
        await asyncio.sleep(1.0)  # several renew periods: still exactly one
        assert a.elector.leading != b.elector.leading
        leader, other = (a, b) if a.elector.leading else (b, a)
        await leader.stop()  # a clean stop releases the Lease
        assert leader.stopped
        took = await until(lambda: other.elector.leading, 5)
        assert took < 1.5  # one retry period or so, not a whole lease duration
        lease = await kube.get(LEASES, namespace, "mlops-test")
        assert lease["spec"]["holderIdentity"] == other.identity
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        await a.stop()
        await b.stop()
        await kube.close()


async def test_a_silent_leader_is_replaced_after_the_lease_duration(
    kubeconfig: str, namespace: str
) -> None:
    kube = await Kube.connect(kubeconfig)
    a = Replica(kube, namespace, "a")
    b: Replica | None = None
    try:
        await until(lambda: a.elector.leading, 5)
        # Freeze a without a release, as a SIGKILL or a network split would.
        a.task.cancel()
        a.elector.leading = False  # its finally-block must not release the Lease
        await asyncio.gather(a.task, return_exceptions=True)
        b = Replica(kube, namespace, "b")
        took = await until(lambda: b is not None and b.elector.leading, 10)
        assert took >= 2.5  # it waited for the Lease to expire on its own clock
    finally:
        await a.stop()
        if b is not None:
            await b.stop()
        await kube.close()
