"""The informer against the real API server: list, watch, label selection, deletes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from mlops_operator.kube.client import Kube
from mlops_operator.kube.informer import Informer
from mlops_operator.kube.resources import Resource
from mlops_operator.observability.metrics import API_REQUESTS

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")


def configmap(name: str, group: str, value: str, label: str = "yes") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"informer-test": label, "group": group}},
        "data": {"value": value},
    }


def index(body: Mapping[str, Any]) -> tuple[str, tuple[str, str]]:
    meta = body["metadata"]
    return meta["labels"]["group"], (meta["name"], (body.get("data") or {}).get("value", ""))


async def until(check: Any) -> None:
    """Poll ``check`` for up to 10 s: the informer has no event of its own to wait on."""
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the informer's cache never got there")


async def test_the_cache_follows_creates_changes_and_deletes(
    kubeconfig: str, namespace: str
) -> None:
    kube = await Kube.connect(kubeconfig)
    woken: list[str] = []
    informer: Informer[str, tuple[str, str]] = Informer(
        kube,
        CONFIGMAPS,
        index=index,
        changed=woken.append,
        labels="informer-test=yes",
        namespaces=[namespace],
    )
    try:
        await kube.create(CONFIGMAPS, namespace, configmap("before", "a", "1"))
        watches = API_REQUESTS.labels("watch", "configmaps", "200")._value.get()
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(informer.listed.wait(), 10)
        assert informer["a"] == (("before", "1"),)  # from the listing

        await kube.create(CONFIGMAPS, namespace, configmap("later", "b", "2"))
        await kube.create(CONFIGMAPS, namespace, configmap("ignored", "b", "3", label="no"))
        await until(lambda: "b" in informer)
        assert informer["b"] == (("later", "2"),)

        await kube.patch(CONFIGMAPS, namespace, "later", {"data": {"value": "3"}})
        await until(lambda: informer.get("b") == (("later", "3"),))
        # A change the view does not show wakes nobody.
        before = list(woken)
        await kube.patch(CONFIGMAPS, namespace, "later", {"metadata": {"annotations": {"x": "y"}}})
        await kube.patch(CONFIGMAPS, namespace, "before", {"data": {"value": "9"}})
        await until(lambda: informer.get("a") == (("before", "9"),))
        assert woken[len(before) :] == ["a"]

        await kube.delete(CONFIGMAPS, namespace, "later")
        await until(lambda: "b" not in informer)
        assert informer.objects == 1
        assert woken.count("b") == 3  # created, changed, deleted
        # One listing and one watch served all of it.
        assert API_REQUESTS.labels("watch", "configmaps", "200")._value.get() == watches + 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await kube.close()


async def listed_once(kube: Kube, namespace: str) -> list[str]:
    """The groups a fresh informer finds once listed; it is stopped again."""
    informer: Informer[str, tuple[str, str]] = Informer(
        kube,
        CONFIGMAPS,
        index=index,
        changed=lambda _: None,
        labels="informer-test=yes",
        namespaces=[namespace],
    )
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.listed.wait(), 10)
        return sorted(informer)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_restarted_informer_relists_what_changed_while_it_was_away(
    kubeconfig: str, namespace: str
) -> None:
    kube = await Kube.connect(kubeconfig)
    try:
        for name, group in [("one", "a"), ("two", "b")]:
            await kube.create(CONFIGMAPS, namespace, configmap(name, group, "1"))
        assert await listed_once(kube, namespace) == ["a", "b"]

        await kube.delete(CONFIGMAPS, namespace, "two")  # while no one watches
        assert await listed_once(kube, namespace) == ["a"]
    finally:
        await kube.close()
