"""The Gateway API CRDs, real ones, pinned by version and cached like the binaries.

The ModelDeployment controller writes the backendRefs' weights of an HTTPRoute and reads
its ``status.parents``. Tests need the API server to serve HTTPRoute with the upstream
schema, validation rules and defaults, so the CRDs come from the Go module
``sigs.k8s.io/gateway-api`` (standard channel, ``config/crd/standard``), pinned in
``hack/toolchain/gateway-api/go.mod``. ``hack/toolchain/build.sh gateway-api`` (part of
``make deps``) downloads the module and copies the YAML files to
``~/.cache/mlops-operator/gateway-api-<version>/``; :func:`manifest_paths` runs it
when the cache is empty.

No gateway controller runs here: routes are stored and validated, and nobody writes
their ``status.parents`` unless a test does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from localcluster import kube
from localcluster.toolchain import Component

COMPONENT = Component("gateway-api", "sigs.k8s.io/gateway-api")
GROUP = "gateway.networking.k8s.io"
HTTPROUTE_CRD = f"httproutes.{GROUP}"
#: The kinds of the admission policy shipped beside the CRDs ("safe-upgrades": refuses
#: experimental-channel CRDs over standard ones, and versions before v1.5).
POLICY_KINDS = frozenset({"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})


def version() -> str:
    """The pinned module version, read from the wrapper module's go.mod."""
    return COMPONENT.version()


def manifest_dir(at: str | None = None) -> Path:
    """Where the YAML files of version ``at`` (default: the pinned one) are cached."""
    return COMPONENT.cache_dir(at)


def manifest_paths() -> list[Path]:
    """The cached YAML files (10 CRDs and the admission policy), sorted by name.

    Fetches them first with ``build.sh gateway-api`` if they are not cached (needs Go
    and the module proxy, or a module cache that has them).
    """
    return COMPONENT.manifests("Gateway API manifests")


def _exists(api: client.ApiClient, manifest: dict[str, Any]) -> bool:
    found = kube.get(api, manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])
    return found is not None


def install(
    api: client.ApiClient,
    only_missing: bool = False,
    with_policy: bool = True,
    timeout: float = 60.0,
) -> list[str]:
    """Server-side apply the Gateway API CRDs and wait until each is Established.

    ``only_missing`` leaves alone what the cluster already has (a cluster that is not
    ours may run a gateway controller with its own Gateway API version). With
    ``with_policy`` the "safe-upgrades" ValidatingAdmissionPolicy and its binding are
    applied too, after the CRDs. Returns the names of all the CRDs of the bundle.
    """
    manifests = kube.load_manifests(manifest_paths())
    crds = [m for m in manifests if m.get("kind") == "CustomResourceDefinition"]
    policy = [m for m in manifests if m.get("kind") in POLICY_KINDS] if with_policy else []
    todo = crds + policy
    if only_missing:
        todo = [m for m in todo if not _exists(api, m)]
    kube.server_side_apply(api, todo)
    names = [m["metadata"]["name"] for m in crds]
    kube.wait_crds_established(api, names, timeout)
    return names


def served_versions(api: client.ApiClient, crd: str = HTTPROUTE_CRD) -> list[str]:
    """The versions the cluster serves for ``crd`` (empty if it is not installed)."""
    found = kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd)
    versions = (found or {}).get("spec", {}).get("versions", [])
    return [v["name"] for v in versions if v.get("served")]
