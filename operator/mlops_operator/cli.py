"""``mlops-operator``: the command that runs the operator.

    mlops-operator run [--namespace NS ...] [--metrics-port N] [--health-port N] ...

Without ``--namespace`` it serves all namespaces. SIGTERM and SIGINT stop it cleanly:
kopf stops the watches, the cleanup handler stops the work queues, and it exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import kopf

from mlops_operator.observability import logging, metrics
from mlops_operator.settings import Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlops-operator", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator")
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        default=None,
        metavar="NS",
        help="serve this namespace (repeatable); default: all",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="port of the Prometheus /metrics endpoint (default 8080)",
    )
    run.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="port of the /healthz liveness endpoint (default 8081)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        help="concurrent reconciles per controller (default 16)",
    )
    run.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO)")
    run.add_argument(
        "--log-format", choices=("json", "console"), default=None, help="json (default) or console"
    )
    run.add_argument(
        "--leader-election",
        default=None,
        metavar="LEASE",
        help="run as one of several replicas: only the holder of Lease LEASE (in "
        "$POD_NAMESPACE, else --lease-namespace) acts; the others keep warm caches",
    )
    run.add_argument("--lease-namespace", default=None, help="namespace of the Lease")
    lineage = sub.add_parser(
        "lineage",
        help="show where a ModelDeployment's served model came from",
        description="From the model a ModelDeployment serves back to the TrainingJob that "
        "made it (dataset, hyperparameters, metrics) and the RetrainPolicy trigger and drift "
        "value that started it, read from status alone.",
    )
    lineage.add_argument("name", help="the ModelDeployment")
    lineage.add_argument("--namespace", "-n", default=None, help="default: the kubeconfig's")
    lineage.add_argument("--output", "-o", choices=("table", "json"), default="table")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "lineage":
        from mlops_operator.lineage import show

        return asyncio.run(show(args.name, args.namespace, args.output))
    settings = Settings.from_env(
        namespaces=tuple(args.namespaces) if args.namespaces else None,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        workers=args.workers,
        log_level=args.log_level,
        log_format=args.log_format,
        leader_election=args.leader_election,
        lease_namespace=args.lease_namespace,
    )
    logging.configure(settings.log_level, settings.log_format)
    metrics.serve(settings.metrics_port)

    import mlops_operator.controllers  # noqa: F401 - registers the handlers

    logging.get(__name__).info(
        "starting",
        namespaces=list(settings.namespaces) or "all",
        metrics_port=settings.metrics_port,
        health_port=settings.health_port,
    )
    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=True,  # replicas coordinate through a Lease (see --leader-election)
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
        memo=kopf.Memo(settings=settings),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
