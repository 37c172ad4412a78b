"""An async Kubernetes client that speaks plain JSON dicts.

The generated model classes of kubernetes_asyncio cost CPU and memory for every object
and add nothing here: the core builds manifests as dicts. So this wraps only the
authenticated transport and counts every request in ``mlops_operator_kube_requests_total``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from mlops_operator.kube.resources import Resource
from mlops_operator.observability.metrics import API_REQUESTS

MERGE_PATCH = "application/merge-patch+json"
VERBS = {
    "create": "POST",
    "get": "GET",
    "list": "GET",
    "patch": "PATCH",
    "delete": "DELETE",
    "update": "PUT",
}
USER_AGENT = "mlops-operator"


class ApiError(Exception):
    """A request the API server refused; ``status`` is the HTTP code."""

    def __init__(
        self, status: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        #: Seconds the server asked us to wait (429 Too Many Requests, some 503s); the
        #: work queue retries no sooner.
        self.retry_after = retry_after

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """AlreadyExists on create, or a stale resourceVersion on update."""
        return self.status == 409

    @property
    def invalid(self) -> bool:
        """The object can never be accepted as written (400, 422).

        Not 403: a ResourceQuota refusal is Forbidden and passes once quota frees up.
        """
        return self.status in (400, 422)


#: Seconds one request may take in all. kubernetes_asyncio sets no timeout by default: one
#: hung connection would pin a reconcile (and its key) forever.
REQUEST_TIMEOUT = 30.0


class Kube:
    """JSON-in, JSON-out requests against one cluster, each with a timeout."""

    def __init__(self, api: k8s.ApiClient, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self._api = api
        self.timeout = timeout

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, *, request_timeout: float = REQUEST_TIMEOUT
    ) -> Kube:
        """In-cluster credentials when running in a pod, else the kubeconfig."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            await k8s_config.load_kube_config(
                config_file=kubeconfig, client_configuration=configuration
            )
        # Enough connections that many workers never queue on the pool.
        configuration.connection_pool_maxsize = 64
        api = k8s.ApiClient(configuration)
        api.user_agent = USER_AGENT
        if not proxy_from_env():
            # kubernetes_asyncio's session trusts the environment, so aiohttp looks up a
            # netrc file in a worker thread and the proxy variables on every request: a
            # quarter of the operator's CPU at scale. Without a proxy to honour, skip both.
            api.rest_client.pool_manager._trust_env = False
        return cls(api, timeout=request_timeout)

    async def close(self) -> None:
        await self._api.close()

    async def request(
        self,
        verb: str,
        resource: Resource,
        path: str,
        body: Any = None,
        *,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """Send one request; return the decoded body or raise :class:`ApiError`."""
        response = await self._send(verb, resource, path, body, query, content_type, self.timeout)
        raw = await response.read()
        # Without preloading, the transport hands back error responses instead of raising.
        if not 200 <= response.status < 300:
            raise _api_error(response.status, response.reason, raw, response.headers)
        data: dict[str, Any] = json.loads(raw)
        return data

    async def watch(
        self,
        resource: Resource,
        path: str,
        query: list[tuple[str, str]],
        *,
        read_timeout: float,
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request (``query`` has ``watch=true``), as they arrive.

        Ends when the server ends the watch; a silence longer than ``read_timeout`` (no
        event, no bookmark) raises TimeoutError, so a dead connection is never waited on.
        """
        response = await self._send(
            "watch", resource, path, None, query, "application/json", (self.timeout, read_timeout)
        )
        try:
            if not 200 <= response.status < 300:
                raw = await response.read()
                raise _api_error(response.status, response.reason, raw, response.headers)
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)
        finally:
            response.release()

    async def _send(
        self,
        verb: str,
        resource: Resource,
        path: str,
        body: Any,
        query: list[tuple[str, str]] | None,
        content_type: str,
        limits: float | tuple[float, float],
    ) -> Any:
        """One request on the authenticated transport; the response, not yet read."""
        method = "GET" if verb == "watch" else VERBS[verb]
        code = "error"
        api = self._api
        headers = {
            **api.default_headers,
            "Accept": "application/json",
            "Content-Type": content_type,
        }
        params = list(query or [])
        try:
            # Straight to the transport: the generated ApiClient would walk every body to
            # "sanitize" plain dicts and build models we never use.
            await api.update_params_for_auth(headers, params, ["BearerToken"])
            transport: Any = api.rest_client  # its stub wants a dict; it urlencodes pairs
            response = await transport.request(
                method,
                f"{api.configuration.host}{path}",
                query_params=params,
                headers=headers,
                body=body,
                _preload_content=False,
                _request_timeout=limits,  # seconds in all, or (to connect, between reads)
            )
            code = str(response.status)
        except ApiException as exc:
            code = str(exc.status)
            raise _api_error(int(exc.status or 0), exc.reason, exc.body, exc.headers) from None
        finally:
            API_REQUESTS.labels(verb, resource.plural, code).inc()
        return response

    async def create(
        self, resource: Resource, namespace: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.request("create", resource, resource.path(namespace), body)

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        return await self.request("get", resource, resource.path(namespace, name))

    async def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) of the object or of a subresource."""
        path = resource.path(namespace, name, subresource)
        return await self.request("patch", resource, path, patch, content_type=MERGE_PATCH)

    async def replace(
        self, resource: Resource, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A full update (PUT); ``metadata.resourceVersion`` in ``body`` makes it conditional."""
        return await self.request("update", resource, resource.path(namespace, name), body)

    async def delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> None:
        """Delete; with ``uid``, only that incarnation of the name (never a newer one)."""
        options: dict[str, Any] = {"propagationPolicy": propagation}
        if uid:
            options["preconditions"] = {"uid": uid}
        await self.request("delete", resource, resource.path(namespace, name), options)


#: The variables aiohttp reads when it trusts the environment (it reads either case).
PROXY_VARIABLES = ("https_proxy", "http_proxy", "ws_proxy", "wss_proxy")


def proxy_from_env() -> bool:
    """Whether a proxy for the API server may be configured in the environment."""
    return any(os.environ.get(v) or os.environ.get(v.upper()) for v in PROXY_VARIABLES)


def _api_error(
    code: int, reason: str | None, body: str | bytes | None, headers: Any = None
) -> ApiError:
    """An :class:`ApiError` from a response, using the API's Status object when present."""
    message = ""
    try:
        status = json.loads(body or "{}")
        reason = status.get("reason", reason)
        message = status.get("message", "")
    except (TypeError, ValueError):
        message = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    return ApiError(code, str(reason or ""), str(message), _retry_after(headers))


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (the API server sends whole seconds)."""
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None
