"""A small async Kubernetes client that speaks plain JSON dicts.

The floor must use the same client family as the operator (kubernetes_asyncio over
aiohttp) with plain dict bodies, or the comparison would measure two clients instead of
one operator: the generated model classes cost CPU per object, and on a 2-core machine the
benchmark's own CPU competes with the control plane it measures. So, like
``mlops_operator.kube.client``, this wraps only the authenticated transport. Watches are
read line by line and decoded with :func:`json.loads`, nothing more.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

USER_AGENT = "mlops-bench"
MERGE_PATCH = "application/merge-patch+json"
#: Connections kept open: enough that the create workers and the watches never queue.
POOL_SIZE = 64


class ApiError(Exception):
    """A request the API server refused; ``status`` is the HTTP code."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class Kube:
    """JSON-in, JSON-out requests against one cluster."""

    def __init__(self, api: Any) -> None:
        self._api = api

    @classmethod
    async def connect(cls, kubeconfig: Path) -> Kube:
        """A client for the cluster of ``kubeconfig``."""
        configuration = k8s.Configuration()
        await k8s_config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = POOL_SIZE
        api = k8s.ApiClient(configuration)
        api.user_agent = USER_AGENT
        return cls(api)

    async def close(self) -> None:
        await self._api.close()

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Iterable[tuple[str, str]] = (),
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """The raw aiohttp response of one request (the caller reads and releases it).

        With ``_preload_content=False`` kubernetes_asyncio returns error responses instead
        of raising :class:`ApiException`, so the status is checked here.
        """
        try:
            response = await self._api.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Accept": accept, "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
            )
        except ApiException as exc:
            raise _api_error(exc) from None
        if not 200 <= response.status <= 299:
            raise _error(response.status, str(response.reason or ""), await response.read())
        return response

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Iterable[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """Send one request; return the decoded body or raise :class:`ApiError`."""
        response = await self._call(method, path, body, query)
        data: dict[str, Any] = json.loads(await response.read())
        return data

    async def text(self, path: str) -> str:
        """A plain-text GET, e.g. the API server's ``/metrics``."""
        response = await self._call("GET", path, accept="text/plain")
        body: bytes = await response.read()
        return body.decode()

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def list(self, path: str, **query: str) -> dict[str, Any]:
        return await self.request("GET", path, query=query.items())

    async def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386), as ``kubectl patch --type=merge`` sends."""
        response = await self._call("PATCH", path, body, content_type=MERGE_PATCH)
        data: dict[str, Any] = json.loads(await response.read())
        return data

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path, {"propagationPolicy": "Background"})

    async def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 240
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events (``{"type": ..., "object": {...}}``) from ``resource_version``.

        Ends when the server closes the watch; an ``ERROR`` event (e.g. 410 Gone) is
        yielded like any other, for the caller to relist.
        """
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        response = await self._call("GET", path, query=query)
        try:
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)
        finally:
            response.release()


def _api_error(exc: ApiException) -> ApiError:
    return _error(int(exc.status or 0), str(exc.reason or ""), exc.body)


def _error(status: int, reason: str, body: Any) -> ApiError:
    """An :class:`ApiError` from a response; the API server's Status body names the cause."""
    message = ""
    try:
        decoded = json.loads(body or "{}")
        reason = str(decoded.get("reason") or reason)
        message = str(decoded.get("message") or "")
    except (TypeError, ValueError, AttributeError):
        message = str(body)
    return ApiError(status, reason, message)


async def run_concurrently(
    items: Iterable[Any], work: Callable[[Any], Awaitable[None]], concurrency: int
) -> None:
    """``work(item)`` for every item, ``concurrency`` at a time, in order of ``items``.

    A fixed pool of workers over one queue, like the operator's work queue, rather than
    a task per item: 1,000 tasks started at once would all open connections together and
    measure connection set-up instead of request throughput.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await work(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())


def namespace_path(namespace: str | None = None) -> str:
    """``/api/v1/namespaces[/<name>]``."""
    return "/api/v1/namespaces" + (f"/{namespace}" if namespace else "")


def resource_path(api_version: str, plural: str, namespace: str, name: str = "") -> str:
    """The REST path of a namespaced collection, or of one object in it."""
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


async def create_namespace(kube: Kube, namespace: str, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Create ``namespace`` and wait for its ``default`` ServiceAccount.

    Pods cannot be created before the controller manager has made that account, and a
    run that started earlier would measure the wait for it.
    """
    await kube.create(
        namespace_path(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    account = f"{namespace_path(namespace)}/serviceaccounts/default"
    async with asyncio.timeout(timeout):
        while True:
            try:
                await kube.get(account)
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise
            await asyncio.sleep(0.2)


async def delete_namespace(kube: Kube, namespace: str, timeout: float) -> float | None:  # noqa: ASYNC109
    """Delete ``namespace`` and wait until it is gone; seconds taken, or None on timeout.

    Waiting matters: the namespace controller and the garbage collector deleting thousands
    of objects would otherwise load the cluster during the next measurement.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    await kube.delete(namespace_path(namespace))
    deadline = start + timeout
    while loop.time() < deadline:
        try:
            await kube.get(namespace_path(namespace))
        except ApiError as exc:
            if exc.status == 404:
                return loop.time() - start
            raise
        await asyncio.sleep(1.0)
    return None
