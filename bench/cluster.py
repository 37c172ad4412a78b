"""The benchmark's own local cluster: separate state, separate lock, always torn down.

A developer may have ``make cluster-up`` running and a test session sharing it; a
benchmark that created 2,000 objects there (or tore it down) would ruin both, and their
load would skew the numbers. So the benchmark brings up a second
:class:`localcluster.cluster.LocalCluster` in ``.local/bench-cluster`` with its own lock
file, gives it enough fake GPU capacity for every pod at once (the point is to measure
controllers, not queueing for GPUs), installs the CRDs as a user would
(``kubectl apply --server-side``), and removes all of it at the end, on failure and on
Ctrl-C too.

A second lock, held for the whole run, keeps two benchmarks from sharing that cluster:
the second one would tear down the first one's cluster when it starts.

Each benchmark asks for what it needs: GPU nodes for the TrainingJob runs, untainted CPU
nodes for model servers, and the cluster's own Prometheus (``LocalCluster.ensure_prometheus``)
for canary analysis and drift queries.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from localcluster import nodes, paths
from localcluster.cluster import LocalCluster
from localcluster.prometheus import PrometheusServer

STATE_DIR = paths.LOCAL_DIR / "bench-cluster"
LOCK_FILE = paths.LOCAL_DIR / "bench-cluster.lock"
RUN_LOCK = paths.LOCAL_DIR / "bench.lock"
#: Operator logs and profiles of the last run (git-ignored, kept for inspection).
WORK_DIR = paths.LOCAL_DIR / "bench"
CRD_DIR = paths.REPO_ROOT / "crds"
NODE_PREFIX = "bench-gpu"
CPU_NODE_PREFIX = "bench-cpu"


class BenchBusyError(RuntimeError):
    """Another benchmark holds the run lock."""


@dataclass(frozen=True)
class Capacity:
    """Fake GPU nodes to add: enough for every benchmark pod to run at the same time."""

    nodes: int
    gpus_per_node: int
    pods_per_node: int

    @classmethod
    def for_pods(cls, pods: int, gpus_per_node: int = 64, pods_per_node: int = 110) -> Capacity:
        """``pods`` one-GPU pods at once: 1,000 pods -> 16 nodes x 64 GPUs (1,024 GPUs).

        ``pods_per_node`` must exceed ``gpus_per_node`` or the kubelet's pod limit, not
        the GPUs, would cap a node; 110 is the kubelet's default.
        """
        if pods_per_node < gpus_per_node:
            raise ValueError(f"pods per node ({pods_per_node}) < GPUs per node ({gpus_per_node})")
        return cls(max(1, math.ceil(pods / gpus_per_node)), gpus_per_node, pods_per_node)

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@dataclass(frozen=True)
class ClusterInfo:
    """What the report says about the cluster."""

    kubeconfig: Path
    up_seconds: float
    capacity: Capacity | None
    versions: dict[str, str]
    pids: dict[str, int]
    prometheus: PrometheusServer | None = None


@contextmanager
def run_lock() -> Iterator[None]:
    """Hold the benchmark's run lock, or fail at once if another run holds it."""
    RUN_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(RUN_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchBusyError(
                f"another benchmark is running (it holds {RUN_LOCK}); wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class CpuNodes:
    """Untainted fake nodes for pods that need no GPU (model servers)."""

    nodes: int
    pods_per_node: int

    @classmethod
    def for_pods(cls, pods: int, pods_per_node: int = 250) -> CpuNodes:
        """``pods`` pods at once, with a quarter spare: 1,000 pods -> 5 nodes x 250 pods."""
        return cls(max(1, math.ceil(pods * 1.25 / pods_per_node)), pods_per_node)


@contextmanager
def bench_cluster(
    capacity: Capacity | None,
    log: Callable[[str], None],
    *,
    cpu: CpuNodes | None = None,
    prometheus: bool = False,
) -> Iterator[ClusterInfo]:
    """A fresh cluster with ``capacity`` GPU nodes, ``cpu`` nodes, the CRDs and, with
    ``prometheus``, the cluster's Prometheus; removed when the block exits."""
    cluster = LocalCluster(state_dir=STATE_DIR, lock_file=LOCK_FILE)
    # Leftovers of a run that was killed: ours by construction (the run lock is held).
    cluster.down()
    try:
        log(f"starting a local cluster in {STATE_DIR}")
        up = cluster.up(started_by="bench")
        api = cluster.api_client()
        try:
            added = []
            if capacity is not None:
                names = nodes.add_gpu_nodes(
                    api,
                    capacity.nodes,
                    gpus_per_node=capacity.gpus_per_node,
                    pods_per_node=capacity.pods_per_node,
                    prefix=NODE_PREFIX,
                )
                added.append(
                    f"{len(names)} GPU nodes x {capacity.gpus_per_node} GPUs ({capacity.gpus} GPUs)"
                )
            if cpu is not None:
                specs = [
                    nodes.NodeSpec(f"{CPU_NODE_PREFIX}-{i}", pods=cpu.pods_per_node)
                    for i in range(cpu.nodes)
                ]
                nodes.wait_nodes_ready(api, nodes.create_nodes(api, specs), 120.0)
                added.append(f"{cpu.nodes} CPU nodes x {cpu.pods_per_node} pods")
        finally:
            api.close()  # type: ignore[no-untyped-call]
        log(f"cluster up in {up.seconds:.1f}s; added {', '.join(added) or 'no nodes'}")
        apply_crds(cluster.kubeconfig)
        server = None
        if prometheus:
            server = cluster.ensure_prometheus()
            log(f"Prometheus at {server.url}")
        pids = {r.name: r.pid for r in cluster.table.records()}
        yield ClusterInfo(
            cluster.kubeconfig,
            up.seconds,
            capacity,
            versions(cluster.kubeconfig),
            pids,
            server,
        )
    finally:
        start = time.monotonic()
        result = cluster.down()
        log(f"cluster down in {time.monotonic() - start:.1f}s ({len(result.stopped)} processes)")


def kubectl(kubeconfig: Path, *args: str, timeout: float = 120.0) -> str:
    """Run the pinned kubectl against ``kubeconfig``; raise with its output on failure."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [str(paths.find_binary("kubectl")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def apply_crds(kubeconfig: Path, timeout: float = 60.0) -> None:
    """Install the CRDs as a user would, and wait until the API serves them.

    Established is not enough: the API server answers 429 "storage is (re)initializing"
    for a moment after it, which the operator would log as an error at start.
    """
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(CRD_DIR))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    deadline = time.monotonic() + timeout
    while True:
        try:
            kubectl(kubeconfig, "get", "mlops", "--all-namespaces")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def versions(kubeconfig: Path) -> dict[str, str]:
    """The API server's version, for the report."""
    out = json.loads(kubectl(kubeconfig, "version", "-o", "json"))
    server = out.get("serverVersion") or {}
    return {"kubernetes": str(server.get("gitVersion", "?"))}
