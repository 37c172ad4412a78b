"""Progress of many objects, from one list+watch: when did each first reach what.

Sleeping a fixed time and then counting would measure the sleep. A watch sees every
change as it happens, so the moment the last of 1,000 objects reached a milestone
("running", "complete") is known to within one event's latency, and a single watch per
kind costs the API server far less than polling lists of 1,000 objects.

A :class:`Tracker` records, per object and milestone, the first time it was seen there
(milestones are sticky: a Job that completed was running, even if no event ever showed it
running). A relist after a broken or expired watch only adds what was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.kube import ApiError, Kube
from mlops_operator.api.keys import TRAININGJOB_LABEL

#: What an object looks like now: a label for progress lines, and the milestones reached.
Classify = Callable[[dict[str, Any]], tuple[str, Iterable[str]]]
Key = Callable[[dict[str, Any]], str]


def by_name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


@dataclass
class Tracker:
    """Follows one collection (list, then watch) until cancelled."""

    api: Kube
    path: str
    classify: Classify
    expected: int
    key: Key = by_name
    clock: Callable[[], float] = time.monotonic
    first: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    events: int = 0
    #: Keep every distinct ``status`` of every object, to explain status writes afterwards.
    keep_statuses: bool = False
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _reached: dict[str, asyncio.Event] = field(default_factory=dict)

    def _event(self, milestone: str) -> asyncio.Event:
        return self._reached.setdefault(milestone, asyncio.Event())

    def _see(self, obj: dict[str, Any], now: float) -> None:
        key = self.key(obj)
        label, milestones = self.classify(obj)
        if self.keep_statuses:
            history = self.statuses.setdefault(key, [])
            status = obj.get("status") or {}
            if not history or history[-1] != status:
                history.append(status)
        self.labels[key] = label
        for milestone in milestones:
            seen = self.first.setdefault(milestone, {})
            if key not in seen:
                seen[key] = now
                if len(seen) >= self.expected or milestone == "failed":
                    self._event(milestone).set()

    async def run(self) -> None:
        """List, then watch from the list's version; relist when the watch expires."""
        while True:
            try:
                listing = await self.api.list(self.path)
                now = self.clock()
                for item in listing.get("items") or []:
                    self._see(item, now)
                version = str(listing["metadata"]["resourceVersion"])
                while version:
                    version = await self._watch(version)
            except (TimeoutError, ApiError, OSError):
                await asyncio.sleep(0.5)  # a broken connection: relist

    async def _watch(self, version: str) -> str:
        """Follow one watch; the version to resume from, or "" to relist."""
        async for event in self.api.watch(self.path, version):
            now = self.clock()
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # typically 410 Gone: our version is too old
                return ""
            version = str(obj.get("metadata", {}).get("resourceVersion") or version)
            self.events += 1
            if kind in ("ADDED", "MODIFIED"):
                self._see(obj, now)
            elif kind == "DELETED":
                self.labels.pop(self.key(obj), None)
        return version

    def count(self, milestone: str) -> int:
        return len(self.first.get(milestone, {}))

    def times(self, milestone: str) -> dict[str, float]:
        return dict(self.first.get(milestone, {}))

    def progress(self) -> str:
        """``Running 812, Pending 188``: objects by their current label."""
        counts = Counter(self.labels.values())
        return ", ".join(f"{label} {n}" for label, n in counts.most_common()) or "none yet"

    async def wait(self, milestone: str, timeout: float) -> float:  # noqa: ASYNC109
        """Wait until ``expected`` objects reached ``milestone``; when the last one did.

        Gives up at once when any object fails: the run can no longer finish.
        """
        reached = asyncio.ensure_future(self._event(milestone).wait())
        failed = asyncio.ensure_future(self._event("failed").wait())
        try:
            done, _ = await asyncio.wait(
                {reached, failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            reached.cancel()
            failed.cancel()
        if reached not in done:
            why = "some failed" if failed in done else f"not within {timeout:.0f}s"
            raise TimeoutError(
                f"{self.count(milestone)}/{self.expected} objects of {self.path} reached "
                f"{milestone!r}: {why} (now: {self.progress()})"
            )
        return max(self.first[milestone].values())


@contextlib.asynccontextmanager
async def tracking(*trackers: Tracker) -> Any:
    """Run the trackers for the duration of the block."""
    tasks = [asyncio.create_task(t.run(), name=f"track {t.path}") for t in trackers]
    try:
        yield trackers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def report_progress(
    say: Callable[[str], None], lines: Callable[[], str], every: float = 5.0
) -> None:
    """Print ``lines()`` every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        say(lines())


@dataclass(frozen=True)
class Spread:
    """How a milestone was spread over objects, seconds after the run's start."""

    first: float
    p50: float
    p95: float
    last: float

    @classmethod
    def of(cls, times: Iterable[float], start: float) -> Spread | None:
        values = sorted(t - start for t in times)
        if not values:
            return None

        def at(q: float) -> float:
            return values[min(len(values) - 1, int(q * len(values)))]

        return cls(values[0], at(0.5), at(0.95), values[-1])

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.__dict__.items()}


def lags_of(later: dict[str, float], earlier: dict[str, float]) -> Spread:
    """Per object, ``later - earlier`` (only objects seen at both)."""
    spread = Spread.of((later[k] - earlier[k] for k in later if k in earlier), 0.0)
    return spread or Spread(0.0, 0.0, 0.0, 0.0)


def way_to(reached: dict[str, float], created: dict[str, float]) -> Spread:
    """Per run, from its create returning to its milestone (only runs seen at both): a
    run's own way there, whenever it was submitted."""
    return lags_of(reached, created)


# --- what the milestones are --------------------------------------------------------------


def job_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A Job is running once all its pods are ready, complete once Complete is True.

    ``status.ready`` counts pods that are Ready (KWOK's pod-ready stage); a Job whose pods
    already finished counts as having been running.
    """
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    completions = int(spec.get("completions") or 1)
    conditions = {
        c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    milestones = ["created"]
    if "Failed" in conditions:
        return "Failed", [*milestones, "failed"]
    done = "Complete" in conditions or int(status.get("succeeded") or 0) >= completions
    if done or int(status.get("ready") or 0) >= completions:
        milestones.append("running")
    if "Complete" in conditions:
        return "Complete", [*milestones, "complete"]
    return ("Running" if "running" in milestones else "Pending"), milestones


def trainingjob_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A TrainingJob by ``status.phase``: Running or later counts as running."""
    phase = str((obj.get("status") or {}).get("phase") or "New")
    milestones = ["created"]
    if phase in ("Running", "Succeeded"):
        milestones.append("running")
    if phase == "Succeeded":
        milestones.append("succeeded")
    if phase == "Failed":
        milestones.append("failed")
    return phase, milestones


def status_changes(histories: Iterable[list[dict[str, Any]]]) -> Counter[str]:
    """What each successive status of each object changed, e.g. ``phase->Running, nodes``.

    Every change of a TrainingJob's status is one status write of the operator (no-op
    writes make no new version, so they are not seen here but are in its metrics).
    """
    changes: Counter[str] = Counter()
    for history in histories:
        previous: dict[str, Any] = {}
        for status in history:
            if not status:
                previous = status
                continue
            parts = []
            for key in sorted(set(status) | set(previous)):
                if key == "conditions" or status.get(key) == previous.get(key):
                    continue
                parts.append(f"phase->{status.get(key)}" if key == "phase" else key)
            old = {c.get("type"): c for c in previous.get("conditions") or []}
            for condition in status.get("conditions") or []:
                before = old.get(condition.get("type"))
                if before is None or before.get("status") != condition.get("status"):
                    parts.append(f"{condition.get('type')}={condition.get('status')}")
                elif before.get("reason") != condition.get("reason"):
                    parts.append(f"{condition.get('type')}.reason={condition.get('reason')}")
                elif before.get("message") != condition.get("message"):
                    parts.append(f"{condition.get('type')}.message")
            changes[", ".join(parts) or "(conditions' times only)"] += 1
            previous = status
    return changes


def owning_run(obj: dict[str, Any]) -> str:
    """The run a Job belongs to (its ``mlops.dev/trainingjob`` label), to pair it with its
    TrainingJob; floor Jobs carry the label too."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return str(labels.get(TRAININGJOB_LABEL) or obj["metadata"]["name"])
