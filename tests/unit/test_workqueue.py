"""WorkQueue: deduplication, one reconcile per key at a time, delays, backoff, requeue.

Real (sub-second) time with generous timeouts; delays are asserted as lower bounds, which
asyncio timers guarantee, and as the exact delays the queue asked for (recorded by a
subclass that spies on ``add``), which makes backoff assertions deterministic.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import structlog

from mlops_operator.kube.workqueue import WorkQueue

Key = str
EPS = 0.005  # clock granularity allowance for lower bounds


class SpyQueue(WorkQueue[Key]):
    """A WorkQueue that records every (key, delay) it is asked to schedule."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.adds: list[tuple[Key, float]] = []

    def add(self, key: Key, delay: float = 0.0) -> None:
        self.adds.append((key, delay))
        super().add(key, delay)


class Recorder:
    """A reconcile function that records calls and does what each test scripts."""

    def __init__(self, script: Callable[[Key, int], Awaitable[float | None]] | None = None):
        self.calls: list[tuple[Key, float]] = []
        self.active: set[Key] = set()
        self.max_active_per_key = 0
        self.max_active = 0
        self._script = script

    async def __call__(self, key: Key) -> float | None:
        assert key not in self.active, f"{key} reconciled concurrently"
        self.active.add(key)
        self.max_active = max(self.max_active, len(self.active))
        n = sum(1 for k, _ in self.calls if k == key)
        self.calls.append((key, time.monotonic()))
        try:
            if self._script is not None:
                return await self._script(key, n)
            return None
        finally:
            self.active.discard(key)

    def count(self, key: Key) -> int:
        return sum(1 for k, _ in self.calls if k == key)

    def times(self, key: Key) -> list[float]:
        return [t for k, t in self.calls if k == key]


@asynccontextmanager
async def serving(queue: WorkQueue[Key]) -> AsyncIterator[None]:
    task = asyncio.create_task(queue.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def until(predicate: Callable[[], bool], within: float = 1.5) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[dict[str, Any]]]:
    """The queue's log entries, captured (rendering tracebacks would be slow and noisy)."""
    with structlog.testing.capture_logs() as entries:
        yield entries


async def settle(seconds: float = 0.03) -> None:
    """Give the workers a moment to do anything they (wrongly) would."""
    await asyncio.sleep(seconds)


# --- deduplication ------------------------------------------------------------------------


async def test_repeated_adds_of_a_waiting_key_make_one_reconcile() -> None:
    rec = Recorder()
    queue = WorkQueue("t", rec, workers=4)
    for _ in range(5):
        queue.add("ml/llm")
    queue.add("ml/bert")
    assert len(queue) == 2
    async with serving(queue):
        await until(lambda: rec.count("ml/llm") == 1 and rec.count("ml/bert") == 1)
        await settle()
    assert rec.count("ml/llm") == 1
    assert rec.count("ml/bert") == 1
    assert len(queue) == 0


# --- one reconcile per key at a time ------------------------------------------------------


async def test_adds_during_a_reconcile_schedule_exactly_one_more_pass() -> None:
    release = asyncio.Event()

    async def script(key: Key, n: int) -> None:
        if key == "ml/llm" and n == 0:
            await release.wait()

    rec = Recorder(script)
    queue = WorkQueue("t", rec, workers=4)
    async with serving(queue):
        queue.add("ml/llm")
        await until(lambda: rec.count("ml/llm") == 1)
        for _ in range(3):
            queue.add("ml/llm")
        assert len(queue) == 0  # held back while busy, not queued for another worker
        await settle()
        assert rec.count("ml/llm") == 1
        # Other keys are not blocked by a busy one.
        queue.add("ml/bert")
        await until(lambda: rec.count("ml/bert") == 1)
        release.set()
        await until(lambda: rec.count("ml/llm") == 2)
        await settle()
    assert rec.count("ml/llm") == 2
    assert rec.max_active == 2  # llm and bert at once, never llm twice


async def test_a_delayed_add_during_a_reconcile_keeps_its_delay() -> None:
    release = asyncio.Event()

    async def script(key: Key, n: int) -> None:
        if n == 0:
            await release.wait()

    rec = Recorder(script)
    queue = WorkQueue("t", rec, workers=2)
    async with serving(queue):
        queue.add("k")
        await until(lambda: rec.count("k") == 1)
        added = time.monotonic()
        queue.add("k", 0.08)
        release.set()
        await until(lambda: rec.count("k") == 2)
    assert rec.times("k")[1] - added >= 0.08 - EPS


async def test_a_key_is_never_reconciled_concurrently_under_a_storm_of_adds() -> None:
    async def script(key: Key, n: int) -> None:
        await asyncio.sleep(0.005)

    rec = Recorder(script)
    queue = WorkQueue("t", rec, workers=8)
    async with serving(queue):
        for _ in range(20):
            for key in ("a", "b", "c"):
                queue.add(key)
            await asyncio.sleep(0.002)
        await until(lambda: len(queue) == 0 and not rec.active)
        await settle()
    # The Recorder asserts no concurrent call per key; far fewer passes than adds.
    for key in ("a", "b", "c"):
        assert 1 <= rec.count(key) < 20
    assert rec.max_active <= 3


# --- delays -------------------------------------------------------------------------------


async def test_delayed_add_waits_its_delay() -> None:
    rec = Recorder()
    queue = WorkQueue("t", rec)
    async with serving(queue):
        added = time.monotonic()
        queue.add("k", 0.1)
        await settle(0.04)
        assert rec.count("k") == 0
        assert len(queue) == 1
        await until(lambda: rec.count("k") == 1)
    assert rec.times("k")[0] - added >= 0.1 - EPS


async def test_negative_delay_means_now() -> None:
    rec = Recorder()
    queue = WorkQueue("t", rec)
    async with serving(queue):
        queue.add("k", -5.0)
        await until(lambda: rec.count("k") == 1, within=0.5)


async def test_an_earlier_add_wins_over_a_later_one() -> None:
    rec = Recorder()
    queue = WorkQueue("t", rec)
    async with serving(queue):
        queue.add("k", 30.0)
        queue.add("k", 0.02)
        assert len(queue) == 1
        await until(lambda: rec.count("k") == 1, within=0.5)
        await settle()
        # The superseded 30 s entry is gone, not waiting for a second pass.
        assert len(queue) == 0
        assert rec.count("k") == 1


async def test_a_later_add_does_not_postpone_an_earlier_one() -> None:
    rec = Recorder()
    queue = WorkQueue("t", rec)
    async with serving(queue):
        added = time.monotonic()
        queue.add("k", 0.05)
        queue.add("k", 30.0)
        await until(lambda: rec.count("k") == 1, within=1.0)
    assert rec.times("k")[0] - added >= 0.05 - EPS


async def test_an_immediate_add_wakes_a_worker_waiting_for_a_later_key() -> None:
    rec = Recorder()
    queue = WorkQueue("t", rec, workers=1)
    async with serving(queue):
        queue.add("later", 30.0)
        await settle(0.01)  # the only worker now sleeps until "later" is due
        queue.add("now")
        await until(lambda: rec.count("now") == 1, within=0.5)
        assert rec.count("later") == 0


async def test_requeue_after_is_honoured() -> None:
    async def script(key: Key, n: int) -> float | None:
        return 0.06 if n == 0 else None

    rec = Recorder(script)
    queue = WorkQueue("t", rec)
    async with serving(queue):
        queue.add("k")
        await until(lambda: rec.count("k") == 2)
        await settle(0.08)
    first, second = rec.times("k")
    assert second - first >= 0.06 - EPS
    assert rec.count("k") == 2  # None means: no more passes


# --- errors and backoff -------------------------------------------------------------------


async def test_errors_are_retried_with_exponential_backoff_until_success(
    logs: list[dict[str, Any]],
) -> None:
    async def script(key: Key, n: int) -> None:
        if n < 3:
            raise RuntimeError(f"apiserver said no ({n})")

    rec = Recorder(script)
    queue = SpyQueue("t", rec, backoff_base=0.01, backoff_max=10.0)
    async with serving(queue):
        queue.add("k")
        await until(lambda: rec.count("k") == 4)
        await settle()
    assert rec.count("k") == 4  # success: no further retries
    assert [d for k, d in queue.adds if k == "k"] == [0.0, 0.01, 0.02, 0.04]
    t = rec.times("k")
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert gaps[0] >= 0.01 - EPS
    assert gaps[1] >= 0.02 - EPS
    assert gaps[2] >= 0.04 - EPS
    # Each failure is logged with the key and when it will be retried.
    failures = [e for e in logs if e["event"] == "reconcile failed"]
    assert [(e["controller"], e["key"], e["retry_in"], e["log_level"]) for e in failures] == [
        ("t", "k", 0.01, "error"),
        ("t", "k", 0.02, "error"),
        ("t", "k", 0.04, "error"),
    ]
    assert all(e["exc_info"] for e in failures)


async def test_backoff_is_capped_at_backoff_max() -> None:
    async def script(key: Key, n: int) -> None:
        if n < 5:
            raise RuntimeError("still broken")

    rec = Recorder(script)
    queue = SpyQueue("t", rec, backoff_base=0.005, backoff_max=0.012)
    async with serving(queue):
        queue.add("k")
        await until(lambda: rec.count("k") == 6)
    assert [d for k, d in queue.adds if k == "k"] == [0.0, 0.005, 0.01, 0.012, 0.012, 0.012]


async def test_a_failing_key_does_not_block_the_others() -> None:
    async def script(key: Key, n: int) -> None:
        if key == "broken":
            raise ValueError("bad object")

    rec = Recorder(script)
    queue = WorkQueue("t", rec, workers=1, backoff_base=0.01)
    async with serving(queue):
        queue.add("broken")
        await until(lambda: rec.count("broken") >= 2)
        queue.add("fine")
        await until(lambda: rec.count("fine") == 1, within=0.5)


async def test_success_resets_the_backoff() -> None:
    outcomes: list[object] = [RuntimeError(), RuntimeError(), 0.005, RuntimeError(), None]

    async def script(key: Key, n: int) -> float | None:
        outcome = outcomes[n]
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is None or isinstance(outcome, float)
        return outcome

    rec = Recorder(script)
    queue = SpyQueue("t", rec, backoff_base=0.01)
    async with serving(queue):
        queue.add("k")
        await until(lambda: rec.count("k") == 5)
    # fail, fail, requeue 5 ms, fail (backoff starts over at the base), success.
    assert [d for k, d in queue.adds if k == "k"] == [0.0, 0.01, 0.02, 0.005, 0.01]


async def test_forget_drops_the_backoff_history() -> None:
    queue: SpyQueue

    async def script(key: Key, n: int) -> None:
        if n == 2:
            queue.forget(key)  # e.g. the object was deleted and re-created meanwhile
        if n < 3:
            raise RuntimeError("broken")

    rec = Recorder(script)
    queue = SpyQueue("t", rec, backoff_base=0.01)
    async with serving(queue):
        queue.add("k")
        await until(lambda: rec.count("k") == 4)
    # Without forget the third retry would wait 0.04 s.
    assert [d for k, d in queue.adds if k == "k"] == [0.0, 0.01, 0.02, 0.01]


async def test_forget_of_an_unknown_key_is_harmless() -> None:
    rec = Recorder()
    queue = WorkQueue("t", rec)
    queue.forget("never-seen")
    queue.add("k")
    async with serving(queue):
        await until(lambda: rec.count("k") == 1)
    assert rec.count("k") == 1


async def test_an_add_during_a_failing_reconcile_retries_at_once() -> None:
    """A new event means new information: it does not wait out the error backoff."""
    release = asyncio.Event()

    async def script(key: Key, n: int) -> None:
        if n == 0:
            await release.wait()
            raise RuntimeError("conflict")

    rec = Recorder(script)
    queue = WorkQueue("t", rec, backoff_base=30.0)
    async with serving(queue):
        queue.add("k")
        await until(lambda: rec.count("k") == 1)
        queue.add("k")
        release.set()
        await until(lambda: rec.count("k") == 2, within=0.5)


# --- timeouts, Retry-After, stuck keys, pause -----------------------------------------------


async def test_a_reconcile_over_its_timeout_is_cancelled_and_retried() -> None:
    async def script(key: Key, n: int) -> float | None:
        if n == 0:
            await asyncio.sleep(10)  # a hung request
        return None

    recorder = Recorder(script)
    queue = SpyQueue("t", recorder, workers=1, timeout=0.05, backoff_base=0.01)
    async with serving(queue):
        queue.add("a")
        await until(lambda: recorder.count("a") == 2)
    assert ("a", 0.01) in queue.adds  # retried with backoff, like any error
    assert queue.stuck(0.0) == []


async def test_retry_after_of_an_error_is_a_lower_bound_of_the_backoff() -> None:
    class TooMany(Exception):
        retry_after = 0.2

    async def script(key: Key, n: int) -> float | None:
        if n == 0:
            raise TooMany
        return None

    recorder = Recorder(script)
    queue = SpyQueue("t", recorder, workers=1, backoff_base=0.01)
    async with serving(queue):
        queue.add("a")
        await until(lambda: recorder.count("a") == 2)
    assert ("a", 0.2) in queue.adds
    first, second = recorder.times("a")
    assert second - first >= 0.2 - EPS


async def test_stuck_names_keys_reconciling_longer_than_asked() -> None:
    release = asyncio.Event()

    async def script(key: Key, n: int) -> float | None:
        await release.wait()
        return None

    queue = WorkQueue("t", Recorder(script), workers=2, timeout=None)
    async with serving(queue):
        queue.add("slow")
        await settle(0.05)
        assert queue.stuck(0.01) == ["slow"]
        assert queue.stuck(10.0) == []
        release.set()
        await until(lambda: queue.stuck(0.0) == [])


async def test_a_paused_queue_runs_nothing_and_forgets_what_was_queued() -> None:
    started = asyncio.Event()
    cancelled: list[Key] = []

    async def script(key: Key, n: int) -> float | None:
        if key == "busy":
            started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(key)
                raise
        return None

    recorder = Recorder(script)
    queue = WorkQueue("t", recorder, workers=2)
    queue.resume()
    queue.add("busy")
    await started.wait()
    queue.add("later", 0.05)
    await queue.pause()
    assert queue.paused
    assert cancelled == ["busy"]  # the reconcile in flight is cancelled
    assert len(queue) == 0
    queue.add("ignored")  # a watch event while another replica leads
    await settle(0.1)
    assert recorder.count("later") == 0
    assert recorder.count("ignored") == 0

    queue.resume()
    queue.add("after")
    await until(lambda: recorder.count("after") == 1)
    await queue.pause()
