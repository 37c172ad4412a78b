"""A work queue of object keys, in the manner of client-go's workqueue.

Watch events only say "look at this object again"; the reconcile reads the current state
from the caches and acts on that (level-based). The queue guarantees what makes that safe
and cheap:

- a key waits at most once, however many events arrive for it (deduplication);
- a key is never reconciled by two workers at once; an event that arrives during a
  reconcile schedules one more pass after it;
- a reconcile may ask to run again after a delay (deadlines, TTLs, polling);
- a reconcile that raises is retried with exponential backoff, so a broken object never
  spins in a hot loop and never blocks the others; an error that says when to come back
  (HTTP 429 with Retry-After) is retried no sooner than that;
- a reconcile that takes longer than ``timeout`` is cancelled and retried like an error, so
  one hung connection can never pin a key as busy forever;
- the queue can be paused (a replica that is not the leader) and resumed: while paused it
  runs nothing, and it forgets what was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from mlops_operator.observability import logging
from mlops_operator.observability.metrics import (
    QUEUE_DEPTH,
    RECONCILE_ERRORS,
    RECONCILE_TIME,
    RECONCILE_TOTAL,
)

K = TypeVar("K", bound=Hashable)

#: A reconcile returns the seconds after which to look again, or None.
Reconcile = Callable[[K], Awaitable[float | None]]

log = logging.get(__name__)


class WorkQueue(Generic[K]):
    """Keys due at a time, served to a fixed pool of workers."""

    def __init__(
        self,
        name: str,
        reconcile: Reconcile[K],
        *,
        workers: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 300.0,
        timeout: float | None = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._reconcile = reconcile
        self._workers = workers
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._timeout = timeout
        self._clock = clock
        self._started: dict[K, float] = {}  # busy keys and when their reconcile began
        self._paused = False
        self._group: asyncio.Task[None] | None = None
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}  # queued keys and when they are due
        self._busy: set[K] = set()  # keys a worker is reconciling now
        self._again: dict[K, float] = {}  # busy keys to queue once their reconcile ends
        self._failures: dict[K, int] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._due)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Reconcile ``key`` after ``delay`` seconds (or earlier, if already due earlier)."""
        if self._paused:
            return
        due = self._clock() + max(delay, 0.0)
        if key in self._busy:
            self._again[key] = min(due, self._again.get(key, due))
            return
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        QUEUE_DEPTH.labels(self.name).set(len(self._due))
        self._wake.set()

    def forget(self, key: K) -> None:
        """Drop the key's backoff history (the object is gone)."""
        self._failures.pop(key, None)

    def stuck(self, longer_than: float) -> list[K]:
        """Keys whose reconcile has been running longer than ``longer_than`` seconds."""
        now = self._clock()
        return [k for k, since in self._started.items() if now - since > longer_than]

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def alive(self) -> bool:
        """False if the workers ended on their own (they should only ever be cancelled)."""
        return self._group is None or not self._group.done()

    async def pause(self) -> None:
        """Stop every worker (reconciles in flight are cancelled) and drop what is queued."""
        self._paused = True
        group, self._group = self._group, None
        if group is not None:
            group.cancel()
            # Wait for it without swallowing a cancellation of our own caller.
            await asyncio.wait({group})
        self._heap.clear()
        self._due.clear()
        self._busy.clear()
        self._again.clear()
        self._started.clear()
        self._failures.clear()
        QUEUE_DEPTH.labels(self.name).set(0)

    def resume(self) -> None:
        """Serve keys again (in the background) after :meth:`pause`."""
        self._paused = False
        if self._group is None:
            self._group = asyncio.create_task(self.run(), name=f"workqueue:{self.name}")

    async def run(self) -> None:
        """Serve keys until cancelled."""
        async with asyncio.TaskGroup() as group:
            for _ in range(self._workers):
                group.create_task(self._worker())

    async def _next(self) -> K:
        """Wait for the earliest due key and claim it."""
        while True:
            while self._heap:
                due, _, key = self._heap[0]
                if self._due.get(key) != due:  # superseded by an earlier add
                    heapq.heappop(self._heap)
                    continue
                wait = due - self._clock()
                if wait > 0:
                    break
                heapq.heappop(self._heap)
                del self._due[key]
                self._busy.add(key)
                QUEUE_DEPTH.labels(self.name).set(len(self._due))
                return key
            self._wake.clear()
            timeout = (self._heap[0][0] - self._clock()) if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _worker(self) -> None:
        while True:
            key = await self._next()
            started = self._clock()
            self._started[key] = started
            try:
                async with asyncio.timeout(self._timeout):
                    after = await self._reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                after = min(self._backoff_base * 2 ** (failures - 1), self._backoff_max)
                after = max(after, float(getattr(exc, "retry_after", None) or 0.0))
                RECONCILE_ERRORS.labels(self.name).inc()
                RECONCILE_TOTAL.labels(self.name, "error").inc()
                log.exception(
                    "reconcile failed", controller=self.name, key=str(key), retry_in=after
                )
            else:
                self._failures.pop(key, None)
                RECONCILE_TOTAL.labels(self.name, "requeue" if after else "success").inc()
            finally:
                RECONCILE_TIME.labels(self.name).observe(self._clock() - started)
                self._busy.discard(key)
                self._started.pop(key, None)
            if key in self._again:
                again = self._again.pop(key)
                self.add(key, max(again - self._clock(), 0.0))
            if after is not None:
                self.add(key, after)
