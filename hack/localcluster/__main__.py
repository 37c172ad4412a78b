"""``python -m localcluster up|down|status|add-gpu-nodes`` (used by the Makefile).

``up`` and ``down`` are idempotent so that scripts and CI can call them blindly.
"""

from __future__ import annotations

import argparse
import sys

from localcluster import nodes
from localcluster.cluster import ClusterStartError, LocalCluster
from localcluster.paths import MissingBinaryError


def _up(cluster: LocalCluster, args: argparse.Namespace) -> int:
    try:
        result = cluster.up(with_prometheus=args.prometheus, timeout=args.timeout)
    except (ClusterStartError, MissingBinaryError, TimeoutError) as exc:
        print(f"localcluster: up failed: {exc}", file=sys.stderr)
        print(f"localcluster: logs are in {cluster.state_dir / 'logs'}", file=sys.stderr)
        return 1
    if result.already_running:
        print(f"localcluster: already running; kubeconfig: {result.kubeconfig}")
    else:
        print(f"localcluster: up in {result.seconds:.1f}s; kubeconfig: {result.kubeconfig}")
    if result.prometheus_url:
        print(f"localcluster: prometheus: {result.prometheus_url}")
    print(f"  export KUBECONFIG={result.kubeconfig}")
    return 0


def _down(cluster: LocalCluster, _: argparse.Namespace) -> int:
    result = cluster.down()
    if not result.was_running:
        print("localcluster: not running; nothing to do")
    else:
        names = ", ".join(result.stopped) or "no live processes"
        print(f"localcluster: down in {result.seconds:.1f}s (stopped {names})")
    return 0


def _status(cluster: LocalCluster, _: argparse.Namespace) -> int:
    status = cluster.status()
    if not status.components:
        print("localcluster: not running")
        return 3
    print(f"localcluster: {'running' if status.running else 'NOT healthy'}")
    print(f"  apiserver:  {status.apiserver}")
    print(f"  kubeconfig: {status.kubeconfig}")
    print(f"  prometheus: {status.prometheus_url or '-'}")
    print(f"  started by: {status.started_by}")
    for comp in status.components:
        state = "alive" if comp.alive else "DEAD"
        print(f"  {comp.name:<24} pid {comp.pid:<8} {state:<6} {comp.log}")
    return 0 if status.running else 1


def _add_gpu_nodes(cluster: LocalCluster, args: argparse.Namespace) -> int:
    if not cluster.is_running():
        print("localcluster: not running; run `make cluster-up` first", file=sys.stderr)
        return 1
    api = cluster.api_client()
    try:
        names = nodes.add_gpu_nodes(
            api, args.count, gpus_per_node=args.gpus, pods_per_node=args.pods
        )
    finally:
        api.close()
    print(f"localcluster: added {len(names)} GPU nodes ({names[0]} .. {names[-1]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local cluster (no-op if running)")
    up.add_argument("--prometheus", action="store_true", help="also start Prometheus")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait")
    up.set_defaults(func=_up)
    sub.add_parser("down", help="stop it and remove its state").set_defaults(func=_down)
    sub.add_parser("status", help="show its processes").set_defaults(func=_status)
    add = sub.add_parser("add-gpu-nodes", help="add fake GPU nodes to the running cluster")
    add.add_argument("--count", type=int, required=True)
    add.add_argument("--gpus", type=int, default=8, help="GPUs per node")
    add.add_argument("--pods", type=int, default=110, help="pods per node")
    add.set_defaults(func=_add_gpu_nodes)
    args = parser.parse_args(argv)
    cluster = LocalCluster()
    code: int = args.func(cluster, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
