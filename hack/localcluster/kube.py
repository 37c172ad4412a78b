"""Small Kubernetes client helpers for fixtures and tests.

They work on plain manifest-shaped dicts (camelCase keys, as in YAML) for any kind,
custom resources included, via the dynamic client: tests then read like the manifests
they create, and stay type-checkable without None-checks on every generated model
field. Manifests are applied with server-side apply, as ``kubectl apply
--server-side`` does, so the field ownership tests see is the one production sees.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from localcluster.waiting import wait_for

FIELD_MANAGER = "mlops-tests"


_DYNAMIC: weakref.WeakKeyDictionary[client.ApiClient, DynamicClient] = weakref.WeakKeyDictionary()


def dynamic(api: client.ApiClient) -> DynamicClient:
    """The DynamicClient of ``api``, made once: it caches API discovery."""
    dyn = _DYNAMIC.get(api)
    if dyn is None:
        dyn = _DYNAMIC[api] = DynamicClient(api)
    return dyn


def _resource(api: client.ApiClient, api_version: str, kind: str) -> Any:
    return dynamic(api).resources.get(api_version=api_version, kind=kind)


def create(
    api: client.ApiClient, manifest: dict[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    """Create any object (custom resources included) from its manifest.

    Returns the object as the server stored it, as plain JSON-style dicts (camelCase
    keys, exactly as in YAML manifests), which is what tests want to assert on.
    """
    resource = _resource(api, manifest["apiVersion"], manifest["kind"])
    ns = namespace or manifest.get("metadata", {}).get("namespace")
    created = dynamic(api).create(
        resource, body=manifest, namespace=ns if resource.namespaced else None
    )
    result: dict[str, Any] = created.to_dict()
    return result


def get(
    api: client.ApiClient, api_version: str, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any] | None:
    """The object as a dict, or None if it does not exist."""
    try:
        obj = dynamic(api).get(_resource(api, api_version, kind), name=name, namespace=namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    result: dict[str, Any] = obj.to_dict()
    return result


def list_objects(
    api: client.ApiClient,
    api_version: str,
    kind: str,
    namespace: str | None = None,
    label_selector: str | None = None,
) -> list[dict[str, Any]]:
    """The objects of a kind (in ``namespace``, matching ``label_selector``) as dicts."""
    found = dynamic(api).get(
        _resource(api, api_version, kind), namespace=namespace, label_selector=label_selector
    )
    items: list[dict[str, Any]] = found.to_dict()["items"]
    return items


def delete(
    api: client.ApiClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None = None,
    propagation_policy: str = "Background",
) -> None:
    """Delete an object (a missing one is fine) without waiting for it to be gone."""
    try:
        dynamic(api).delete(
            _resource(api, api_version, kind),
            name=name,
            namespace=namespace,
            propagation_policy=propagation_policy,
        )
    except ApiException as exc:
        if exc.status != 404:
            raise


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The ``status.conditions`` entry of ``type_`` (e.g. "Complete"), if any."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def has_condition(obj: dict[str, Any] | None, type_: str, status: str = "True") -> bool:
    """Whether ``obj`` has condition ``type_`` with ``status``."""
    cond = condition(obj, type_)
    return cond is not None and cond.get("status") == status


def load_manifests(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every non-empty YAML document in ``paths``, in order."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        with open(path) as handle:
            docs += [d for d in yaml.safe_load_all(handle) if d]
    return docs


def server_side_apply(
    api: client.ApiClient,
    manifests: Sequence[dict[str, Any]],
    field_manager: str = FIELD_MANAGER,
    force: bool = True,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Server-side apply each manifest; return the objects as the server stored them.

    With ``dry_run`` the server validates and admits (webhooks and admission policies
    included) but stores nothing, and returns what it would have stored.
    """
    dyn = dynamic(api)
    applied = []
    extra = {"dry_run": "All"} if dry_run else {}
    for manifest in manifests:
        resource = _resource(api, manifest["apiVersion"], manifest["kind"])
        result = dyn.server_side_apply(
            resource,
            body=manifest,
            namespace=manifest.get("metadata", {}).get("namespace"),
            field_manager=field_manager,
            force_conflicts=force,
            **extra,
        )
        applied.append(result.to_dict())
    return applied


def _established(crd: Any) -> bool:
    conditions = crd.status.conditions if crd.status and crd.status.conditions else []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def wait_crds_established(
    api: client.ApiClient, names: Iterable[str], timeout: float = 60.0
) -> None:
    """Wait until each CRD is Established, i.e. its custom resources can be created."""
    ext = client.ApiextensionsV1Api(api)
    for name in names:

        def established(name: str = name) -> bool:
            return _established(ext.read_custom_resource_definition(name))

        wait_for(established, timeout, f"CRD {name} Established")


def apply_crds(api: client.ApiClient, directory: Path, timeout: float = 60.0) -> list[str]:
    """Apply every ``*.yaml`` CRD in ``directory``; return the CRD names once Established.

    An empty or missing directory is fine (returns ``[]``): the CRDs may not exist yet.
    """
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    manifests = [m for m in load_manifests(files) if m.get("kind") == "CustomResourceDefinition"]
    server_side_apply(api, manifests)
    names = [m["metadata"]["name"] for m in manifests]
    wait_crds_established(api, names, timeout)
    return names
