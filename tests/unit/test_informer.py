"""The informer: list, watch, resume, relist, and wake a group only when its view moved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from mlops_operator.kube.client import ApiError
from mlops_operator.kube.informer import Informer, scopes
from mlops_operator.kube.resources import JOBS


def job(
    name: str, owner: str, ready: int = 0, namespace: str = "ml", rv: str = "1"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": rv,
            "labels": {"owner": owner},
        },
        "status": {"ready": ready, "uncountedTerminatedPods": {}},
    }


def index(body: Mapping[str, Any]) -> tuple[str, tuple[str, int]] | None:
    """Group by the owner label; the view is the name and ready count (not the rest)."""
    owner = body["metadata"]["labels"].get("owner")
    if owner is None:
        return None
    return owner, (body["metadata"]["name"], body["status"]["ready"])


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def bookmark(rv: str) -> dict[str, Any]:
    return event("BOOKMARK", {"metadata": {"resourceVersion": rv}})


class FakeKube:
    """Scripted LIST pages and watch streams; records the queries it was asked."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any] | BaseException] = []
        self.streams: list[list[dict[str, Any]] | BaseException] = []
        self.lists: list[tuple[str, list[tuple[str, str]]]] = []
        self.watches: list[tuple[str, dict[str, str]]] = []
        self.idle = asyncio.Event()  # set when the script is used up

    async def request(
        self, verb: str, resource: Any, path: str, body: Any = None, *, query: Any = None
    ) -> dict[str, Any]:
        assert verb == "list"
        self.lists.append((path, list(query)))
        if not self.pages:
            self.idle.set()
            await asyncio.Event().wait()  # hangs, until cancelled
        page = self.pages.pop(0)
        if isinstance(page, BaseException):
            raise page
        return page

    async def watch(
        self, resource: Any, path: str, query: list[tuple[str, str]], *, read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        self.watches.append((path, dict(query)))
        if not self.streams:
            self.idle.set()
            await asyncio.Event().wait()  # a quiet watch, until cancelled
        stream = self.streams.pop(0)
        if isinstance(stream, BaseException):
            raise stream
        for item in stream:
            yield item


def listing(*items: dict[str, Any], rv: str = "10", token: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": rv}
    if token:
        meta["continue"] = token
    return {"items": list(items), "metadata": meta}


def informer_of(kube: FakeKube, woken: list[str], **options: Any) -> Informer[str, Any]:
    """An informer of Jobs over the fake, recording whom it wakes."""
    settings: dict[str, Any] = {"labels": "managed-by=us", "retry_base": 0.0, **options}
    return Informer(kube, JOBS, index=index, changed=woken.append, **settings)  # type: ignore[arg-type]


async def drive(kube: FakeKube, **options: Any) -> tuple[Informer[str, Any], list[str]]:
    """Run an informer over the script until it is used up; return it and who was woken."""
    woken: list[str] = []
    informer = informer_of(kube, woken, **options)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(kube.idle.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return informer, woken


async def test_a_listing_fills_the_cache_page_by_page_then_the_watch_starts_from_its_version() -> (
    None
):
    kube = FakeKube()
    kube.pages = [
        listing(job("a-1", "a"), job("b-1", "b"), token="next"),
        listing(job("a-2", "a", ready=1), rv="42"),
    ]
    informer, woken = await drive(kube, page=2)
    assert informer.listed.is_set()
    assert sorted(informer.get("a", ())) == [("a-1", 0), ("a-2", 1)]
    assert informer["b"] == (("b-1", 0),)
    assert informer.get("c", ()) == ()
    assert sorted(woken) == ["a", "a", "b"]
    assert kube.lists[0] == (
        "/apis/batch/v1/jobs",
        [("labelSelector", "managed-by=us"), ("limit", "2")],
    )
    assert ("continue", "next") in kube.lists[1][1]
    assert kube.watches[0][1] == {
        "labelSelector": "managed-by=us",
        "watch": "true",
        "resourceVersion": "42",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "300",
    }


async def test_events_wake_the_owner_only_when_its_view_moved() -> None:
    kube = FakeKube()
    kube.pages = [listing(job("a-1", "a"))]
    quiet = job("a-1", "a", rv="12")
    quiet["status"]["uncountedTerminatedPods"] = {"succeeded": ["x"]}  # not in the view
    kube.streams = [
        [
            event("MODIFIED", quiet),
            event("MODIFIED", job("a-1", "a", ready=1, rv="13")),
            event("ADDED", job("b-1", "b", rv="14")),
            event("DELETED", job("b-1", "b", rv="15")),
        ]
    ]
    informer, woken = await drive(kube)
    assert woken == ["a", "a", "b", "b"]  # list, ready 0->1, added, deleted; not the quiet one
    assert informer["a"] == (("a-1", 1),)
    assert "b" not in informer
    assert informer.objects == 1
    assert kube.watches[1][1]["resourceVersion"] == "15"  # resumed after the server ended it


async def test_an_object_that_changes_owner_wakes_both() -> None:
    kube = FakeKube()
    kube.pages = [listing(job("x", "a"))]
    kube.streams = [[event("MODIFIED", job("x", "b", rv="11"))]]
    informer, woken = await drive(kube)
    assert woken == ["a", "a", "b"]
    assert list(informer) == ["b"]


async def test_an_object_the_index_refuses_is_dropped_and_its_old_owner_woken() -> None:
    kube = FakeKube()
    kube.pages = [listing(job("x", "a"))]
    orphan = job("x", "a", rv="11")
    del orphan["metadata"]["labels"]["owner"]
    kube.streams = [[event("MODIFIED", orphan)]]
    informer, woken = await drive(kube)
    assert woken == ["a", "a"]
    assert len(informer) == 0


async def test_a_resumed_watch_starts_from_the_last_bookmark() -> None:
    kube = FakeKube()
    kube.pages = [listing(rv="10")]
    kube.streams = [[bookmark("99")], ConnectionResetError("dropped"), [bookmark("120")]]
    _, woken = await drive(kube)
    assert [w[1]["resourceVersion"] for w in kube.watches] == ["10", "99", "99", "120"]
    assert len(kube.lists) == 1  # a dropped connection resumes; it never relists
    assert woken == []


async def test_410_relists_and_drops_what_was_deleted_meanwhile() -> None:
    kube = FakeKube()
    kube.pages = [
        listing(job("a-1", "a"), job("b-1", "b"), job("c-1", "c"), rv="10"),
        # While the watch was down: b-1 deleted, c-1 changed, d-1 added, a-1 untouched.
        listing(job("a-1", "a"), job("c-1", "c", ready=1), job("d-1", "d"), rv="50"),
    ]
    kube.streams = [[event("ERROR", {"code": 410, "reason": "Expired", "message": "too old"})]]
    informer, woken = await drive(kube)
    assert woken[3:] == ["b", "c", "d"]
    assert sorted(informer) == ["a", "c", "d"]
    assert informer["c"] == (("c-1", 1),)
    assert kube.watches[-1][1]["resourceVersion"] == "50"


async def test_a_watch_refused_with_410_relists_too() -> None:
    kube = FakeKube()
    kube.pages = [listing(rv="10"), listing(job("a-1", "a"), rv="60")]
    kube.streams = [ApiError(410, "Gone", "too old")]
    informer, woken = await drive(kube)
    assert woken == ["a"]
    assert len(kube.lists) == 2
    assert informer["a"] == (("a-1", 0),)


async def test_an_expired_continue_token_starts_the_listing_over() -> None:
    kube = FakeKube()
    kube.pages = [
        listing(job("a-1", "a"), token="t1"),
        ApiError(410, "Expired", "continue token expired"),
        listing(job("a-1", "a"), job("b-1", "b"), rv="30"),
    ]
    informer, _ = await drive(kube)
    assert sorted(informer) == ["a", "b"]
    assert [("continue", "t1") in q for _, q in kube.lists] == [False, True, False]


async def test_a_resource_not_served_is_an_empty_listed_cache_looked_for_later() -> None:
    kube = FakeKube()
    kube.pages = [ApiError(404, "NotFound", "the server could not find the requested resource")]
    kube.pages.append(listing(job("a-1", "a"), rv="5"))
    informer, woken = await drive(kube, absent_retry=0.01)
    assert informer.listed.is_set()
    assert woken == ["a"]  # it appeared on the next look
    assert len(kube.lists) == 2


async def test_other_errors_back_off_and_keep_the_cache() -> None:
    kube = FakeKube()
    kube.pages = [listing(job("a-1", "a"), rv="10")]
    kube.streams = [ApiError(500, "InternalError", "etcd"), ApiError(403, "Forbidden", "rbac")]
    informer, _ = await drive(kube)
    assert informer["a"] == (("a-1", 0),)
    assert [w[1]["resourceVersion"] for w in kube.watches] == ["10", "10", "10"]


async def test_exact_namespaces_are_watched_each_and_patterns_filter_one_cluster_watch() -> None:
    assert scopes(None) == [None]
    assert scopes([]) == [None]
    assert scopes(["ml", "nlp", "ml"]) == ["ml", "nlp"]
    assert scopes(["ml", "team-*"]) == [None]

    kube = FakeKube()
    kube.pages = [listing(job("a-1", "a", namespace="team-x"), job("b-1", "b", namespace="other"))]
    kube.streams = [[event("ADDED", job("c-1", "c", namespace="elsewhere", rv="11"))]]
    informer, woken = await drive(kube, namespaces=["team-*"])
    assert list(informer) == ["a"]
    assert woken == ["a"]


async def test_each_exact_namespace_is_listed_before_the_cache_counts_as_listed() -> None:
    kube = FakeKube()
    kube.pages = [listing(job("a-1", "a", namespace="ml")), listing(rv="3")]
    informer, _ = await drive(kube, namespaces=["ml", "nlp"])
    assert informer.listed.is_set()
    assert sorted(path for path, _ in kube.lists) == [
        "/apis/batch/v1/namespaces/ml/jobs",
        "/apis/batch/v1/namespaces/nlp/jobs",
    ]


async def test_not_listed_until_the_first_listing_succeeds() -> None:
    kube = FakeKube()
    kube.pages = [ApiError(403, "Forbidden", "no list"), ApiError(403, "Forbidden", "no list")]
    informer = informer_of(kube, [], labels="", retry_base=0.001)
    task = asyncio.create_task(informer.run())
    await asyncio.sleep(0.05)
    assert not informer.listed.is_set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
