"""Fake nodes: what the cluster's "hardware" looks like to the scheduler.

Nodes are ordinary Node objects carrying the ``kwok.x-k8s.io/node: fake`` annotation,
which tells KWOK to act as their kubelet (mark them Ready, renew their Lease, run their
pods). Their capacity is whatever we declare, so two "8 x A100" nodes cost nothing and
the real scheduler still has to bin-pack GPUs, honour taints and report Unschedulable.
GPU nodes carry the labels NVIDIA's GPU feature discovery would put on them and the
``nvidia.com/gpu=present:NoSchedule`` taint cloud providers put on GPU pools, so
workloads must tolerate it as they would in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from localcluster import kwok
from localcluster.waiting import wait_for

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT: dict[str, str] = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
GPU_TOLERATION: dict[str, str] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}
GPU_PRODUCT = "NVIDIA-A100-SXM4-80GB"
GPU_INSTANCE_TYPE = "p4d.24xlarge"
CPU_INSTANCE_TYPE = "m6i.16xlarge"
ZONE = "local-a"
# Taints the node lifecycle controller sets while a node is not (yet) Ready.
_NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})


@dataclass(frozen=True)
class NodeSpec:
    """One fake node's identity and capacity."""

    name: str
    gpus: int = 0
    cpu: str = "64"
    memory: str = "256Gi"
    pods: int = 110
    instance_type: str = CPU_INSTANCE_TYPE
    gpu_product: str = GPU_PRODUCT
    labels: Mapping[str, str] = field(default_factory=dict)
    extra_taints: Sequence[Mapping[str, str]] = ()

    def body(self) -> dict[str, Any]:
        """The Node manifest, status included: KWOK keeps the declared capacity."""
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": self.instance_type,
            "topology.kubernetes.io/zone": ZONE,
            "type": "kwok",
        }
        resources: dict[str, str] = {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            "ephemeral-storage": "1Ti",
        }
        taints: list[dict[str, str]] = []
        if self.gpus:
            labels |= {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": self.gpu_product,
                "nvidia.com/gpu.count": str(self.gpus),
                "nvidia.com/gpu.memory": "81920",
                "nvidia.com/gpu.family": "ampere",
            }
            resources[GPU_RESOURCE] = str(self.gpus)
            taints.append(dict(GPU_TAINT))
        labels |= dict(self.labels)
        taints += [dict(t) for t in self.extra_taints]
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": labels,
                "annotations": {kwok.NODE_ANNOTATION: kwok.NODE_ANNOTATION_VALUE},
            },
            "spec": {"taints": taints},
            "status": {"capacity": resources, "allocatable": dict(resources)},
        }


def gpu_node(
    name: str,
    gpus: int = 8,
    pods: int = 110,
    labels: Mapping[str, str] | None = None,
    extra_taints: Sequence[Mapping[str, str]] = (),
) -> NodeSpec:
    """A p4d.24xlarge-like node: ``gpus`` A100s, 96 cores, 1152Gi."""
    return NodeSpec(
        name=name,
        gpus=gpus,
        cpu="96",
        memory="1152Gi",
        pods=pods,
        instance_type=GPU_INSTANCE_TYPE,
        labels=labels or {},
        extra_taints=extra_taints,
    )


def default_nodes() -> list[NodeSpec]:
    """The nodes every local cluster starts with: two 8-GPU nodes and a CPU node."""
    return [gpu_node("gpu-node-0"), gpu_node("gpu-node-1"), NodeSpec("cpu-node-0")]


def _name(obj: Any) -> str:
    """An object's metadata.name (always set on objects read from the API server)."""
    return str(obj.metadata.name) if obj.metadata and obj.metadata.name else ""


def create_nodes(api: client.ApiClient, specs: Iterable[NodeSpec]) -> list[str]:
    """Create the nodes (an existing node of the same name is left as it is)."""
    core = client.CoreV1Api(api)
    names = []
    for spec in specs:
        node = client.V1Node.from_dict(spec.body())
        if node is None:  # from_dict only returns None for None input
            raise ValueError(f"bad node manifest for {spec.name}")
        try:
            core.create_node(node)
        except ApiException as exc:
            if exc.status != 409:
                raise
        names.append(spec.name)
    return names


def _is_ready(node: Any) -> bool:
    conditions = (node.status.conditions or []) if node.status else []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    taints = {t.key for t in (node.spec.taints or [])}
    return ready and not taints & _NOT_READY_TAINTS


def wait_nodes_ready(api: client.ApiClient, names: Sequence[str], timeout: float = 60.0) -> None:
    """Wait until every named node is Ready and the lifecycle controller has lifted its
    not-ready taint, i.e. until the scheduler will actually place pods there."""
    core = client.CoreV1Api(api)
    wanted = set(names)

    def not_ready() -> set[str]:
        nodes = core.list_node().items
        return wanted - {_name(n) for n in nodes if _is_ready(n)}

    wait_for(lambda: not not_ready(), timeout, f"nodes Ready: {sorted(wanted)}")


def gpu_node_names(api: client.ApiClient) -> list[str]:
    """Names of the nodes that have allocatable ``nvidia.com/gpu``."""
    nodes = client.CoreV1Api(api).list_node().items
    return sorted(
        _name(n)
        for n in nodes
        if n.status
        and n.status.allocatable
        and int(n.status.allocatable.get(GPU_RESOURCE, "0") or 0) > 0
    )


def add_gpu_nodes(
    api: client.ApiClient,
    count: int,
    gpus_per_node: int = 8,
    pods_per_node: int = 110,
    prefix: str = "gpu-node",
    wait: bool = True,
    timeout: float = 120.0,
    labels: Mapping[str, str] | None = None,
    extra_taints: Sequence[Mapping[str, str]] = (),
) -> list[str]:
    """Add ``count`` more fake GPU nodes and return their names.

    Names continue the ``{prefix}-N`` numbering after the highest existing one, so this
    can be called repeatedly (a benchmark wanting ~1,000 GPUs calls it with
    ``count=125``). ``labels`` and ``extra_taints`` (besides the GPU taint) let a caller
    make a separate pool, e.g. one no other test's pods can land on. With ``wait`` it
    returns once the nodes are schedulable.
    """
    core = client.CoreV1Api(api)
    names = [_name(n) for n in core.list_node().items]
    taken = [n[len(prefix) + 1 :] for n in names if n.startswith(prefix + "-")]
    start = max((int(s) for s in taken if s.isdigit()), default=-1) + 1
    specs = [
        gpu_node(
            f"{prefix}-{i}",
            gpus=gpus_per_node,
            pods=pods_per_node,
            labels=labels,
            extra_taints=extra_taints,
        )
        for i in range(start, start + count)
    ]
    names = create_nodes(api, specs)
    if wait:
        wait_nodes_ready(api, names, timeout)
    return names


def delete_nodes(api: client.ApiClient, names: Iterable[str]) -> None:
    """Delete nodes (missing ones are ignored); their pods are then garbage-collected."""
    core = client.CoreV1Api(api)
    for name in names:
        try:
            core.delete_node(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
