"""What every handler of one operator process shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_operator.kube.client import Kube
from mlops_operator.kube.events import EventSender
from mlops_operator.kube.workqueue import WorkQueue
from mlops_operator.settings import Settings

Key = tuple[str, str]  # (namespace, name)

#: How long a write may stay unseen by the caches before we stop waiting for it.
EXPECTATION_TIMEOUT = 30.0


class Overlay:
    """Our own writes that the watch-fed caches have not shown us yet.

    Right after a write, the next reconcile may still read the old object from the cache.
    Without this it would write the same status again, or try to create a Job it has just
    created. client-go calls the second half "expectations".
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._status: dict[Hashable, tuple[str | None, dict[str, Any]]] = {}
        self._created: dict[Hashable, dict[str, float]] = {}
        self._held_since: dict[Hashable, float] = {}
        self._made: dict[Hashable, str] = {}  # the resourceVersion our last write made

    def status(self, key: Hashable, resource_version: str | None) -> dict[str, Any] | None:
        """The status we wrote, while the cache still holds the version we wrote over."""
        entry = self._status.get(key)
        if entry is None:
            return None
        if entry[0] != resource_version:  # the cache has caught up (or moved on)
            del self._status[key]
            return None
        return entry[1]

    def wrote_status(
        self,
        key: Hashable,
        over_version: str | None,
        status: dict[str, Any],
        new_version: str | None = None,
    ) -> None:
        """Record a status write: over which version, what, and the version it made."""
        self._status[key] = (over_version, status)
        self._held_since.pop(key, None)
        if new_version is not None:
            self._made[key] = new_version

    def is_ours(self, key: Hashable, resource_version: str | None) -> bool:
        """Whether this version of the object is exactly the one our last write made."""
        return resource_version is not None and self._made.get(key) == resource_version

    def held(self, key: Hashable) -> float:
        """Seconds since a status change was first held back (0 the first time asked)."""
        now = self._clock()
        return now - self._held_since.setdefault(key, now)

    def created(self, key: Hashable, name: str) -> None:
        self._created.setdefault(key, {})[name] = self._clock()

    def awaiting(self, key: Hashable, observed: set[str]) -> bool:
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

    def forget(self, key: Hashable) -> None:
        self._status.pop(key, None)
        self._created.pop(key, None)
        self._held_since.pop(key, None)
        self._made.pop(key, None)


@dataclass
class Runtime:
    """The API client, the caches (kopf indexes), the queues, the Event sender, the overlay."""

    kube: Kube
    settings: Settings
    indices: Mapping[str, Any]  # kopf indexes by name, read-only views kept live by kopf
    events: EventSender
    queues: dict[str, WorkQueue[Key]] = field(default_factory=dict)
    overlay: Overlay = field(default_factory=Overlay)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def index(self, name: str) -> Mapping[Any, Any]:
        index: Mapping[Any, Any] = self.indices[name]
        return index
