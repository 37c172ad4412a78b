"""A lean list-and-watch cache of one resource, kept the way client-go's informers keep one.

kopf runs every watch event through its handler machinery (causes, keyword arguments, a
worker per object). That is right for our own kinds, whose events we act on, but at scale
it was most of the operator's CPU for the children, whose events only ever say "look at
your owner again". An :class:`Informer` keeps, per object, only a compact view grouped by
a key (the owner), and calls back with that key when a view changes; a change the view does
not show (a Job's bookkeeping of uncounted pods, a managed field) wakes nobody.

The protocol, as client-go's reflector follows it:

- LIST (in pages) gives the objects and a resourceVersion; WATCH from that version with
  bookmarks, so a reconnect resumes from the last version seen, even after quiet hours;
- a watch that ends (the server's timeout, a dropped connection) resumes from there;
- 410 Gone (the version is too old, events were lost): LIST again and compare with the
  cache, so an object deleted meanwhile is dropped and its owner woken;
- a resource the server does not serve (404: a CRD not installed) is an empty cache, looked
  for again every minute;
- any other error is retried with capped exponential backoff; nothing here ever raises
  out of :meth:`Informer.run` but cancellation.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import aiohttp

from mlops_operator.kube.client import ApiError, Kube
from mlops_operator.kube.resources import Resource
from mlops_operator.observability import logging

G = TypeVar("G", bound=Hashable)
V = TypeVar("V")

#: A cached object's identity: (namespace, name).
ObjectId = tuple[str, str]
#: What to keep of a raw object: its group key and compact view, or None to ignore it.
Indexer = Callable[[Mapping[str, Any]], "tuple[G, V] | None"]

log = logging.get(__name__)

#: Objects per LIST page: bounded memory for the response at any scale.
PAGE = 500
#: Seconds the server keeps one watch open (it then ends it cleanly; we resume).
WATCH_TIMEOUT = 300
#: Seconds to wait for a resource the server does not serve to appear.
ABSENT_RETRY = 60.0
#: Backoff after an error, doubled up to the cap.
RETRY_BASE = 0.5
RETRY_MAX = 30.0


class Expired(Exception):
    """410 Gone: the resourceVersion to resume from is no longer in the server's window."""


def scopes(namespaces: Sequence[str] | None) -> list[str | None]:
    """Where to list and watch: each namespace named exactly, else the whole cluster.

    Patterns (``team-*``) and "all namespaces" need one cluster-wide watch, filtered here.
    """
    if namespaces and not any(_is_pattern(n) for n in namespaces):
        return list(dict.fromkeys(namespaces))
    return [None]


def _is_pattern(namespace: str) -> bool:
    return any(c in namespace for c in "*?[")


class Informer(Mapping[G, tuple[V, ...]], Generic[G, V]):
    """The views of one resource's objects, grouped by key, kept current by a watch.

    As a mapping, ``informer[key]`` is the tuple of views in that group (missing keys are
    absent, so ``informer.get(key, ())`` reads like a kopf index).
    """

    def __init__(
        self,
        kube: Kube,
        resource: Resource,
        *,
        index: Indexer[G, V],
        changed: Callable[[G], None],
        labels: str = "",
        namespaces: Sequence[str] | None = None,
        page: int = PAGE,
        watch_timeout: int = WATCH_TIMEOUT,
        absent_retry: float = ABSENT_RETRY,
        retry_base: float = RETRY_BASE,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self._kube = kube
        self.resource = resource
        self._index = index
        self._changed = changed
        self._labels = labels
        self._patterns = tuple(namespaces or ())
        self._scopes = scopes(namespaces)
        self._page = page
        self._watch_timeout = watch_timeout
        self._absent_retry = absent_retry
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._objects: dict[ObjectId, tuple[G, V]] = {}
        self._groups: dict[G, dict[ObjectId, V]] = {}
        self._unlisted = set(self._scopes)
        #: Set once every scope has been listed: until then the cache may miss objects.
        self.listed = asyncio.Event()

    # --- the cache, read by reconciles ------------------------------------------------------

    def __getitem__(self, group: G) -> tuple[V, ...]:
        return tuple(self._groups[group].values())

    def __iter__(self) -> Iterator[G]:
        return iter(list(self._groups))

    def __len__(self) -> int:
        return len(self._groups)

    @property
    def objects(self) -> int:
        """How many objects are cached."""
        return len(self._objects)

    # --- keeping it current -----------------------------------------------------------------

    async def run(self) -> None:
        """List and watch every scope until cancelled."""
        await asyncio.gather(*(self._follow(scope) for scope in self._scopes))

    async def _follow(self, scope: str | None) -> None:
        version: str | None = None
        failures = 0
        while True:
            try:
                if version is None:
                    version = await self._list(scope)
                    self._mark_listed(scope)
                version = await self._watch(scope, version)
                failures = 0
            except Expired:
                version = None  # events were lost: list again and compare
            except ApiError as exc:
                if exc.status == 410:  # refused before the first event: same as above
                    version = None
                    continue
                if exc.not_found:  # not served here (yet): an empty cache, looked for later
                    self._replace(scope, {})
                    self._mark_listed(scope)
                    version = None
                    await asyncio.sleep(self._absent_retry)
                    continue
                failures += 1
                log.warning("watch failed", resource=self.resource.plural, error=str(exc))
                await asyncio.sleep(self._backoff(failures))
            except (OSError, TimeoutError, aiohttp.ClientError, ValueError) as exc:
                # A dropped connection or a torn line: resume from the last version seen.
                failures += 1
                log.info("watch interrupted", resource=self.resource.plural, error=repr(exc))
                await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        return float(min(self._retry_base * 2 ** (failures - 1), self._retry_max))

    def _mark_listed(self, scope: str | None) -> None:
        self._unlisted.discard(scope)
        if not self._unlisted:
            self.listed.set()

    async def _list(self, scope: str | None) -> str:
        """All objects of the scope, page by page; the version to watch from."""
        found: dict[ObjectId, tuple[G, V]] = {}
        token: str | None = None
        while True:
            query = [*self._selector(), ("limit", str(self._page))]
            if token:
                query.append(("continue", token))
            try:
                body = await self._kube.request(
                    "list", self.resource, self.resource.collection(scope), query=query
                )
            except ApiError as exc:
                if exc.status == 410:  # the continue token expired: start over
                    raise Expired from None
                raise
            for item in body.get("items") or ():
                oid = _identity(item)
                entry = self._index(item) if self._accepts(oid[0]) else None
                if entry is not None:
                    found[oid] = entry
            meta = body.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                self._replace(scope, found)
                return str(meta.get("resourceVersion") or "")

    async def _watch(self, scope: str | None, version: str) -> str:
        """Apply events from ``version`` on until the server ends the watch; the last version."""
        query = [
            *self._selector(),
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self._watch_timeout)),
        ]
        path = self.resource.collection(scope)
        async for event in self._kube.watch(
            self.resource, path, query, read_timeout=self._watch_timeout + 30
        ):
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Expired
                code = int(obj.get("code") or 0)
                raise ApiError(code, str(obj.get("reason", "")), str(obj.get("message", "")))
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            oid = _identity(obj)
            if not self._accepts(oid[0]):
                continue
            if kind == "DELETED":
                self._put(oid, None)
            else:
                self._put(oid, self._index(obj))
        return version

    def _selector(self) -> list[tuple[str, str]]:
        return [("labelSelector", self._labels)] if self._labels else []

    def _accepts(self, namespace: str) -> bool:
        return not self._patterns or any(fnmatch.fnmatchcase(namespace, p) for p in self._patterns)

    def _replace(self, scope: str | None, found: Mapping[ObjectId, tuple[G, V]]) -> None:
        """Make the scope's part of the cache what a fresh LIST found."""
        for oid in [o for o in self._objects if scope is None or o[0] == scope]:
            if oid not in found:
                self._put(oid, None)
        for oid, entry in found.items():
            self._put(oid, entry)

    def _put(self, oid: ObjectId, entry: tuple[G, V] | None) -> None:
        """Store (or with None, drop) one object's entry; wake its group if the view moved."""
        old = self._objects.get(oid)
        if entry == old:
            return  # nothing the view shows has changed
        if old is not None:
            members = self._groups[old[0]]
            del members[oid]
            if not members:
                del self._groups[old[0]]
        if entry is None:
            del self._objects[oid]
        else:
            self._objects[oid] = entry
            self._groups.setdefault(entry[0], {})[oid] = entry[1]
        if old is not None and (entry is None or old[0] != entry[0]):
            self._changed(old[0])
        if entry is not None:
            self._changed(entry[0])


def _identity(obj: Mapping[str, Any]) -> ObjectId:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")
