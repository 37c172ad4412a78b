"""The desired children of a ModelDeployment, as manifests (plain dicts).

- two Deployments of the model server, ``<md>-stable`` and ``<md>-canary``. The stable one
  serves the promoted model; the canary one serves the model being rolled out, and has 0
  replicas when no rollout runs. Each pod carries the variant and the revision as labels,
  so Prometheus queries can select one variant (``{{variant}}``);
- three Services: ``<md>`` for clients, which selects the pods of both variants (replica
  routing: traffic follows the pod counts), and ``<md>-stable`` / ``<md>-canary``, which
  select one variant each (the backends of a Gateway API HTTPRoute, and a way to reach one
  variant directly);
- with ``spec.autoscaling``, an HPA ``<md>`` on the stable Deployment. It owns the stable's
  replica count from then on: the operator leaves ``spec.replicas`` of the stable
  Deployment out of every write, and sizes the canary from the stable's current count.

Every child has a controller ownerReference and the labels of :func:`core.meta.child_labels`.
A Deployment also records a hash of the pod template it was built from
(:data:`TEMPLATE_HASH_ANNOTATION`), so the operator sees that a template is stale (a new
model, a new image) by comparing one short string instead of keeping whole templates in
memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from mlops_operator.api.keys import (
    MODELDEPLOYMENT_LABEL,
    REVISION_LABEL,
    TEMPLATE_HASH_ANNOTATION,
    VARIANT_LABEL,
    Variant,
)
from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.core.meta import child_labels, owner_reference
from mlops_operator.core.pods import (
    RESTRICTED_CONTAINER_SECURITY,
    RESTRICTED_POD_SECURITY,
    gpu_toleration,
    resources,
)
from mlops_operator.core.serving.defaults import ServingDefaults

__all__ = [
    "HPA_DEFAULT_CPU",
    "MODEL_URI_ENV",
    "PORT_NAME",
    "SERVER",
    "TEMPLATE_HASH_ANNOTATION",
    "deployment",
    "deployment_name",
    "deployment_patch",
    "hpa",
    "hpa_name",
    "hpa_spec",
    "pod_template",
    "service",
    "service_name",
    "service_ports",
    "services",
    "template_hash",
]

SERVER = "server"
"""Name of the model server container."""
MODEL_URI_ENV = "MODEL_URI"
"""The environment variable that tells the server which model to load."""
PORT_NAME = "http"
"""Name of the server's container port; the Services and the probe refer to it by name."""


HPA_DEFAULT_CPU = 80
"""The HPA's CPU utilization target (percent) when ``targetCPUUtilizationPercentage`` is
unset: the HPA's own default."""

#: A rolling update that never drops below the desired ready pods: a new model (or a
#: promote) brings new pods up before old ones go.
ROLLING_UPDATE: dict[str, Any] = {
    "type": "RollingUpdate",
    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
}


def deployment_name(md: str, variant: Variant) -> str:
    """``<md>-stable`` or ``<md>-canary``."""
    return f"{md}-{variant.value}"


def service_name(md: str, variant: Variant | None = None) -> str:
    """``<md>`` (clients: both variants), or ``<md>-stable`` / ``<md>-canary``."""
    return md if variant is None else f"{md}-{variant.value}"


def hpa_name(md: str) -> str:
    """The HPA of the stable Deployment: ``<md>``."""
    return md


def selector(md: ModelDeployment, variant: Variant | None = None) -> dict[str, str]:
    """Labels that select the pods of one variant, or of both."""
    labels = {MODELDEPLOYMENT_LABEL: _name(md)}
    if variant is not None:
        labels[VARIANT_LABEL] = variant.value
    return labels


def deployment(
    md: ModelDeployment,
    variant: Variant,
    model: str,
    revision: int,
    replicas: int | None,
    defaults: ServingDefaults,
) -> dict[str, Any]:
    """The Deployment of one variant, serving ``model`` as ``revision``.

    ``replicas`` None leaves the count out (the HPA owns it; a new Deployment starts at 1
    until the HPA scales it).
    """
    template = pod_template(md, variant, model, revision, defaults)
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(md, variant)},
        "strategy": copy.deepcopy(ROLLING_UPDATE),
        "template": template,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(_name(md), variant),
            "namespace": md.metadata.namespace,
            "labels": {**child_labels(md), VARIANT_LABEL: variant.value},
            "annotations": {TEMPLATE_HASH_ANNOTATION: template_hash(template)},
            "ownerReferences": [owner_reference(md)],
        },
        "spec": spec,
    }


def deployment_patch(manifest: dict[str, Any], *, template: bool, replicas: bool) -> dict[str, Any]:
    """A JSON merge patch that brings a Deployment to ``manifest`` (from :func:`deployment`).

    ``template``: the pod template and its hash. Lists (containers) are replaced whole by a
    merge patch, but keys of the pod spec are merged, so the optional ones we no longer want
    are set to null (``tolerations`` when GPUs were removed). ``replicas``: the count.
    """
    patch: dict[str, Any] = {}
    if template:
        tpl = copy.deepcopy(manifest["spec"]["template"])
        tpl["spec"].setdefault("tolerations", None)
        patch["metadata"] = {"annotations": dict(manifest["metadata"]["annotations"])}
        patch["spec"] = {"template": tpl}
    if replicas:
        patch.setdefault("spec", {})["replicas"] = manifest["spec"].get("replicas")
    return patch


def pod_template(
    md: ModelDeployment, variant: Variant, model: str, revision: int, defaults: ServingDefaults
) -> dict[str, Any]:
    """The pods of one variant: the server container with ``MODEL_URI``, restricted."""
    spec = md.spec
    server = spec.server
    user_env = copy.deepcopy(list(server.env or []))
    container: dict[str, Any] = {
        "name": SERVER,
        "image": server.image,
        # Ours wins: the operator reads the served model back from this variable.
        "env": [
            {"name": MODEL_URI_ENV, "value": model},
            *(e for e in user_env if e["name"] != MODEL_URI_ENV),
        ],
        "ports": [{"name": PORT_NAME, "containerPort": server.port, "protocol": "TCP"}],
        "readinessProbe": _probe(server.readiness_path),
        "securityContext": copy.deepcopy(RESTRICTED_CONTAINER_SECURITY),
    }
    if server.command:
        container["command"] = list(server.command)
    if server.args:
        container["args"] = list(server.args)
    wanted = resources(spec.resources, spec.gpus_per_replica, defaults.gpu_resource)
    if wanted:
        container["resources"] = wanted
    pod: dict[str, Any] = {
        "securityContext": copy.deepcopy(RESTRICTED_POD_SECURITY),
        "containers": [container],
    }
    if spec.gpus_per_replica:
        pod["tolerations"] = [gpu_toleration(defaults.gpu_toleration_key)]
    labels = {**child_labels(md), VARIANT_LABEL: variant.value, REVISION_LABEL: str(revision)}
    return {"metadata": {"labels": labels}, "spec": pod}


def template_hash(template: dict[str, Any]) -> str:
    """A short, stable digest of a pod template (key order does not matter)."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def services(md: ModelDeployment) -> list[dict[str, Any]]:
    """The client Service and the two per-variant Services."""
    return [service(md, None), service(md, Variant.STABLE), service(md, Variant.CANARY)]


def service(md: ModelDeployment, variant: Variant | None) -> dict[str, Any]:
    """The Service of one variant, or (``None``) the client Service over both."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(_name(md), variant),
            "namespace": md.metadata.namespace,
            "labels": child_labels(md),
            "ownerReferences": [owner_reference(md)],
        },
        "spec": {"selector": selector(md, variant), "ports": service_ports(md)},
    }


def service_ports(md: ModelDeployment) -> list[dict[str, Any]]:
    """The one port of every Service: the server's port, to the container port by name."""
    port = md.spec.server.port
    return [{"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}]


def hpa(md: ModelDeployment) -> dict[str, Any]:
    """The HPA that scales the stable Deployment; requires ``spec.autoscaling``."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": hpa_name(_name(md)),
            "namespace": md.metadata.namespace,
            "labels": child_labels(md),
            "ownerReferences": [owner_reference(md)],
        },
        "spec": hpa_spec(md),
    }


def hpa_spec(md: ModelDeployment) -> dict[str, Any]:
    """The HPA's spec. Without a CPU target it aims at :data:`HPA_DEFAULT_CPU` percent,
    written out: the API server would default an empty ``metrics`` to the same, and then
    return an object that differs from the one we wrote."""
    scaling = md.spec.autoscaling
    if scaling is None:
        raise ValueError("spec.autoscaling is not set")
    cpu = scaling.target_cpu_utilization_percentage
    return {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment_name(_name(md), Variant.STABLE),
        },
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": HPA_DEFAULT_CPU if cpu is None else cpu,
                    },
                },
            }
        ],
    }


def _probe(path: str | None) -> dict[str, Any]:
    if path:
        return {"httpGet": {"path": path, "port": PORT_NAME}}
    return {"tcpSocket": {"port": PORT_NAME}}


def _name(md: ModelDeployment) -> str:
    return md.metadata.name or ""
