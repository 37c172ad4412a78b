"""What every controller of one operator process shares, and the two kinds of memory it keeps.

The caches (kopf indexes, informers) are fed by watches and lag our own writes by a
moment. Right after a write, the next reconcile may still read the old world; without help
it would create a child it has just created, or write the same status again. Two small
records bridge that gap, as in client-go:

- :class:`Expectations`: children we created and wait to see in the cache;
- :class:`OwnWrites`: the status we wrote, until the cache shows the version we made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from pydantic import BaseModel

from mlops_operator.kube.client import Kube
from mlops_operator.kube.events import EventSender
from mlops_operator.kube.informer import Informer
from mlops_operator.kube.workqueue import WorkQueue
from mlops_operator.settings import Settings

#: How long a created child may stay unseen by the caches before we stop waiting for it.
EXPECTATION_TIMEOUT = 30.0


class Key(NamedTuple):
    """One object of ours: the kind is part of the key, so a TrainingJob and a
    ModelDeployment of the same name never share a queue entry or a memory."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


class Expectations:
    """Children we created and expect to appear in the cache (client-go's expectations)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._created: dict[Key, dict[tuple[str, str], float]] = {}

    def created(self, key: Key, child: tuple[str, str]) -> None:
        """Record that we created ``child`` (kind, name) of ``key`` just now.

        By kind and name: a Service and an HPA may share a name, and one appearing in the
        cache says nothing about the other.
        """
        self._created.setdefault(key, {})[child] = self._clock()

    def awaiting(self, key: Key, observed: set[tuple[str, str]]) -> bool:
        """Whether a child we created is still missing from the cache (and not too old)."""
        pending = self._created.get(key)
        if not pending:
            return False
        now = self._clock()
        for name in list(pending):
            if name in observed or now - pending[name] > EXPECTATION_TIMEOUT:
                del pending[name]
        if not pending:
            del self._created[key]
        return bool(pending)

    def forget(self, key: Key) -> None:
        self._created.pop(key, None)

    def clear(self) -> None:
        self._created.clear()


@dataclass(frozen=True)
class Written:
    """Our status writes over one cached version: what we wrote last, and every version
    our writes made since (several, when we write twice before the first echo arrives)."""

    over: str | None
    status: BaseModel | None
    """None once the cache shows our last write: the cache holds it then (a status kept
    per object for the operator's lifetime would double the cache's memory)."""
    made: tuple[str, ...]

    @property
    def latest(self) -> str | None:
        return self.made[-1] if self.made else None


class OwnWrites:
    """The status we wrote, while the cache still shows the object from before the write.

    Also remembers since when a change has been held back (see the reconciler's hold), and
    recognises the watch event of our own write, which brings nothing new to decide.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._written: dict[Key, Written] = {}
        self._held_since: dict[Key, float] = {}

    def wrote(self, key: Key, over: str | None, status: BaseModel, made: str | None) -> None:
        """Record a write decided over cached version ``over`` that made version ``made``."""
        before = self._written.get(key)
        versions: tuple[str, ...] = ()
        if before is not None and (before.over == over or over in before.made):
            # Written again before the cache showed the first write: keep every version
            # ours made, so each echo is recognised and none drops the memory too early.
            over, versions = before.over, before.made
        self._written[key] = Written(over, status, (*versions, *([made] if made else [])))
        self._held_since.pop(key, None)

    def status(self, key: Key, resource_version: str | None) -> Written | None:
        """Our last write, while the cache still shows a version from before it."""
        written = self._written.get(key)
        if written is None or written.status is None:
            return None
        if resource_version == written.latest:  # the cache has caught up with us
            # Keep only the versions, until the echo of the write is recognised.
            self._written[key] = replace(written, status=None)
            return None
        if resource_version == written.over or resource_version in written.made:
            return written
        del self._written[key]  # someone else wrote after us: the cache is the truth
        return None

    def is_ours(self, key: Key, resource_version: str | None) -> bool:
        """Whether this version of the object is one our own writes made.

        The echo of our last write is the last thing to recognise: the memory of that
        write ends with it.
        """
        written = self._written.get(key)
        if written is None or resource_version not in written.made:
            return False
        if resource_version == written.latest:
            del self._written[key]
        return True

    def held(self, key: Key) -> float:
        """Seconds since a change was first held back (0 the first time asked)."""
        now = self._clock()
        return now - self._held_since.setdefault(key, now)

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)
        self._held_since.pop(key, None)

    def clear(self) -> None:
        self._written.clear()
        self._held_since.clear()


@dataclass
class Runtime:
    """The API client, the caches (kopf indexes, informers), the queues, the Event sender, the
    memories."""

    kube: Kube
    settings: Settings
    #: The caches by id: kopf indexes of our kinds, informers of the children.
    indices: dict[str, Mapping[Any, Any]]
    events: EventSender
    queues: dict[str, WorkQueue[Key]] = field(default_factory=dict)
    expectations: Expectations = field(default_factory=Expectations)
    writes: OwnWrites = field(default_factory=OwnWrites)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: Per-key scratch memory of controllers (e.g. when pods were last listed); dropped
    #: with the key. Never a source of truth: losing it costs at most one extra read.
    scratch: dict[Key, dict[str, Any]] = field(default_factory=dict)
    prometheus: Any = None  # kube.prometheus.PrometheusClient once a controller needs it
    #: True once kopf has listed every index (it holds watch handlers until then): only
    #: then may a replica that becomes leader queue every cached object.
    listed: bool = False
    #: Objects the API server says are gone while the cache still holds them (kopf keeps
    #: an entry deleted while a watch was down): by key and uid, so a namesake is not hit.
    gone: set[tuple[Key, str]] = field(default_factory=set)
    #: When this process last started acting (monotonic): a restarted or newly elected
    #: replica spreads periodic work (drift queries) over the interval from then on.
    since: float = field(default_factory=time.monotonic)

    #: The children's informers: the queues start only once all have listed.
    informers: list[Informer[Any, Any]] = field(default_factory=list)

    async def children_listed(self) -> None:
        """Wait until every informer has listed its objects once."""
        await asyncio.gather(*(informer.listed.wait() for informer in self.informers))

    def index(self, name: str) -> Mapping[Any, Any]:
        index: Mapping[Any, Any] = self.indices[name]
        return index

    def alive(self, key: Key, entries: Any) -> list[Any]:
        """The cached objects of ``key`` the API server has not told us are gone."""
        return [e for e in entries or () if (key, e.uid) not in self.gone]

    def forget(self, key: Key) -> None:
        """Drop everything remembered about ``key`` (the object is gone, or not ours)."""
        self.expectations.forget(key)
        self.writes.forget(key)
        self.scratch.pop(key, None)
        queue = self.queues.get(key.kind)
        if queue is not None:
            queue.forget(key)

    def reset(self) -> None:
        """Drop all memories: a replica that (re)gains leadership starts from the caches."""
        self.expectations.clear()
        self.writes.clear()
        self.scratch.clear()
        self.since = time.monotonic()
