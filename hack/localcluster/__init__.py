"""An embedded, real Kubernetes control plane for tests, demos and benchmarks.

The package starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
KWOK as plain local processes (built from Go modules by hack/toolchain/build.sh), so the
operator is tested against the real API server, scheduler and controllers instead of a
mock. KWOK plays the kubelet: it keeps fake nodes Ready and moves pods through their
phases. See ``python -m localcluster --help`` and :mod:`localcluster.pytest_plugin`.
"""

from localcluster.cluster import LocalCluster, UpResult
from localcluster.nodes import add_gpu_nodes, gpu_node_names
from localcluster.prometheus import PrometheusServer
from localcluster.waiting import WaitTimeout, wait_for, wait_for_async

__all__ = [
    "LocalCluster",
    "PrometheusServer",
    "UpResult",
    "WaitTimeout",
    "add_gpu_nodes",
    "gpu_node_names",
    "wait_for",
    "wait_for_async",
]
