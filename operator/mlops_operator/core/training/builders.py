"""The desired children of a TrainingJob, as manifests (plain dicts).

- one headless Service per run that has a rendezvous (more than one node, or a framework
  whose processes meet at a master address), so every pod has a stable DNS name and pod
  0's name can be that address. A single-node generic run needs no names: it gets no
  Service, one write and one cached object less per run;
- one Indexed Job per attempt (completions = parallelism = nodes). Its ``backoffLimit`` is
  0 on purpose: when any worker fails the Job controller fails the whole attempt and stops
  its pods, and the operator starts the next attempt from the checkpoint — a restart of the
  whole run, which distributed training needs, instead of one replaced worker that can never
  rejoin the collective.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from mlops_operator.api.keys import ATTEMPT_LABEL, owner_label
from mlops_operator.api.trainingjob import Framework, TrainingJob
from mlops_operator.core.meta import child_labels, owner_reference
from mlops_operator.core.pods import (
    RESTRICTED_CONTAINER_SECURITY,
    RESTRICTED_POD_SECURITY,
    gpu_toleration,
    resources,
)
from mlops_operator.core.training import frameworks, shapes
from mlops_operator.settings import TrainingDefaults

TRAINER = "trainer"
"""Name of the main container; ``podTemplate.spec.containers[name=trainer]`` merges into it."""
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

#: Lists in a pod template that the user's entries extend rather than replace.
_APPENDED_LISTS = frozenset(
    {
        "volumes",
        "tolerations",
        "initContainers",
        "imagePullSecrets",
        "volumeMounts",
        "env",
        "envFrom",
        "ports",
        "topologySpreadConstraints",
        "hostAliases",
    }
)


def needs_service(tj: TrainingJob) -> bool:
    """Whether the run's pods must find each other by name (see the module docstring)."""
    return tj.spec.nodes > 1 or tj.spec.framework is not Framework.GENERIC


def service_name(run: str) -> str:
    """The headless Service of a run: ``<run>-nodes``.

    Not the bare run name: a ModelDeployment's client Service is named like the
    deployment, and a run and a deployment may share a name in one namespace.
    """
    return f"{run}-nodes"


def job_name(run: str, attempt: int) -> str:
    """The Job of one attempt: ``<run>-a<attempt>``, e.g. ``resnet-a2``."""
    return f"{run}-a{attempt}"


def master_address(run: str, attempt: int) -> str:
    """Pod 0's DNS name: Indexed Job pods are named ``<job>-<index>`` under the Service."""
    return f"{job_name(run, attempt)}-0.{service_name(run)}"


def service(tj: TrainingJob, defaults: TrainingDefaults) -> dict[str, Any]:
    """The headless Service that gives the run's pods stable DNS names."""
    name = tj.metadata.name or ""
    labels = child_labels(tj)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(name),
            "namespace": tj.metadata.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(tj)],
        },
        "spec": {
            "clusterIP": "None",
            # Rendezvous happens before any pod is ready.
            "publishNotReadyAddresses": True,
            "selector": {owner_label(TrainingJob.crd.kind): name},
            "ports": [{"name": "rendezvous", "port": defaults.rendezvous_port}],
        },
    }


def job(
    tj: TrainingJob,
    attempt: int,
    defaults: TrainingDefaults,
    *,
    suspend: bool,
    active_deadline_seconds: int | None,
) -> dict[str, Any]:
    """The Indexed Job of one attempt."""
    spec = tj.spec
    name = tj.metadata.name or ""
    labels = {**child_labels(tj), ATTEMPT_LABEL: str(attempt)}
    job_labels = dict(labels)
    if spec.queue_name:
        job_labels[KUEUE_QUEUE_LABEL] = spec.queue_name
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": spec.nodes,
        "parallelism": spec.nodes,
        "backoffLimit": 0,
        # Same outcome as backoffLimit 0, but the Job controller then names the pod and
        # exit code in the Job's Failed condition, which outlives the pod.
        "podFailurePolicy": {
            "rules": [{"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0]}}]
        },
        "suspend": suspend,
        "template": pod_template(tj, attempt, defaults, labels),
    }
    if active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = active_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name, attempt),
            "namespace": tj.metadata.namespace,
            "labels": job_labels,
            "ownerReferences": [owner_reference(tj)],
        },
        "spec": job_spec,
    }


def pod_template(
    tj: TrainingJob, attempt: int, defaults: TrainingDefaults, labels: dict[str, str]
) -> dict[str, Any]:
    """Every pod of an attempt: our pod, then the user's ``podTemplate`` merged over it.

    Raises :class:`~mlops_operator.api.parse.InvalidSpec` naming the field when the user's
    pass-through data (env, resources, the pod spec fragment) has a wrong JSON type.
    """
    shapes.check(tj)
    spec = tj.spec
    name = tj.metadata.name or ""
    container: dict[str, Any] = {
        "name": TRAINER,
        "image": spec.image,
        "env": run_env(tj, attempt, defaults),
        "securityContext": copy.deepcopy(RESTRICTED_CONTAINER_SECURITY),
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    wanted = resources(spec.resources, spec.gpus_per_node, defaults.gpu_resource)
    if wanted:
        container["resources"] = wanted
    rendezvous = needs_service(tj)
    if rendezvous:
        container["ports"] = [{"name": "rendezvous", "containerPort": defaults.rendezvous_port}]

    pod: dict[str, Any] = {"restartPolicy": "Never"}
    if rendezvous:
        pod["subdomain"] = service_name(name)
    pod["securityContext"] = copy.deepcopy(RESTRICTED_POD_SECURITY)
    pod["containers"] = [container]
    if spec.gpus_per_node:
        pod["tolerations"] = [gpu_toleration(defaults.gpu_toleration_key)]
    if spec.priority_class_name:
        pod["priorityClassName"] = spec.priority_class_name
    if spec.service_account_name:
        pod["serviceAccountName"] = spec.service_account_name

    template = spec.pod_template
    user_meta = template.metadata if template else None
    metadata: dict[str, Any] = {
        # Our labels win: the Service selector and the operator's caches depend on them.
        "labels": {**((user_meta.labels if user_meta else None) or {}), **labels},
    }
    if user_meta and user_meta.annotations:
        metadata["annotations"] = dict(user_meta.annotations)
    if template and template.spec:
        # A copy: the manifest must never share mutable state with the cached spec.
        pod = merge_pod_spec(pod, copy.deepcopy(template.spec))
    return {"metadata": metadata, "spec": pod}


def run_env(tj: TrainingJob, attempt: int, defaults: TrainingDefaults) -> list[dict[str, Any]]:
    """The environment of the main container; the user's own ``env`` wins on a clash."""
    spec = tj.spec
    name = tj.metadata.name or ""
    topology = frameworks.Topology(
        nodes=spec.nodes,
        procs_per_node=spec.effective_procs_per_node,
        master_addr=master_address(name, attempt),
        master_port=defaults.rendezvous_port,
    )
    ours: list[dict[str, Any]] = [
        {"name": "TRAININGJOB_NAME", "value": name},
        {"name": "TRAININGJOB_ATTEMPT", "value": str(attempt)},
        *frameworks.env(spec.framework, topology),
    ]
    if spec.dataset:
        ours.append({"name": "DATASET_URI", "value": spec.dataset.uri})
        if spec.dataset.version:
            ours.append({"name": "DATASET_VERSION", "value": spec.dataset.version})
    if spec.output:
        ours.append({"name": "MODEL_OUTPUT_URI", "value": spec.output.model_uri})
    if spec.checkpoint:
        ours.append({"name": "CHECKPOINT_URI", "value": spec.checkpoint.uri})
    if spec.hyperparameters:
        params = dict(sorted(spec.hyperparameters.items()))
        ours.append({"name": "HYPERPARAMETERS", "value": json.dumps(params)})
        named: dict[str, str] = {}
        for key, value in params.items():  # learning-rate and learning_rate: the first wins
            named.setdefault(hp_env_name(key), value)
        ours.extend({"name": name, "value": value} for name, value in named.items())
    user = copy.deepcopy(list(spec.env or []))
    taken = {e["name"] for e in user}
    return [e for e in ours if e["name"] not in taken] + user


def hp_env_name(key: str) -> str:
    """``learning-rate`` -> ``HP_LEARNING_RATE``."""
    return "HP_" + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def merge_pod_spec(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Merge the user's pod spec fragment over ours.

    Maps merge key by key (the user wins), the lists in :data:`_APPENDED_LISTS` are
    extended, other values are replaced; a null counts as absent. In ``containers``, an
    entry named ``trainer`` (or unnamed) merges into the main container; any other entry is
    added (a sidecar). The shapes are those :mod:`.shapes` checked.
    """
    merged = dict(ours)
    for key, value in theirs.items():
        if value is None:
            continue
        if key == "containers" and isinstance(value, list):
            merged[key] = _merge_containers(merged.get(key, []), value)
        else:
            merged[key] = _merge_value(key, merged.get(key), value)
    return merged


def _merge_containers(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[Any]:
    result = [dict(c) for c in ours]
    for container in theirs:
        name = TRAINER if container.get("name") is None else container["name"]
        target = next((c for c in result if c.get("name") == name), None)
        if target is None:
            result.append(container)
        else:
            for key, value in container.items():
                if value is not None:
                    target[key] = _merge_value(key, target.get(key), value)
    return result


def _merge_value(key: str, ours: Any, theirs: Any) -> Any:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        merged = dict(ours)
        for k, v in theirs.items():
            if v is not None:
                merged[k] = _merge_value(k, merged.get(k), v)
        return merged
    if key in _APPENDED_LISTS and isinstance(ours, list) and isinstance(theirs, list):
        return ours + theirs
    return theirs
