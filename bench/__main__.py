"""``python -m bench``: the TrainingJob benchmark (what ``make bench`` runs).

    python -m bench [--count N] [--pod-delay 120s] [--concurrency 16] [--workers 16] [--py-spy]

Brings up a dedicated local cluster, runs the floor (the operator's children created by a
script), then the operator on N TrainingJobs, writes ``bench/reports/trainingjob-*.json``
and ``bench/reports/LATEST.md``, prints the summary, and tears the cluster down (also on
failure and Ctrl-C). Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from bench import source
from bench.cluster import WORK_DIR, BenchBusyError, Capacity, bench_cluster, run_lock

if TYPE_CHECKING:
    from bench.floor import FloorResult
    from bench.operator_run import OperatorProcess, OperatorResult

FLOOR_NS = "bench-floor"
OPERATOR_NS = "bench-operator"
WARMUP_NS = "bench-warmup"
#: How long the floor's namespace may take to disappear before the operator run starts.
CLEANUP_TIMEOUT = 180.0
_START = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr, with seconds since the benchmark started."""
    print(f"[bench {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


def go_duration(value: str) -> str:
    """``30`` or ``30s`` -> ``30s``: KWOK reads the pod annotation as a Go duration."""
    if value.isdigit():
        return f"{value}s"
    if not re.fullmatch(r"(\d+(\.\d+)?(ms|s|m))+", value):
        raise argparse.ArgumentTypeError(f"not a duration like 30s or 1m: {value!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1000, help="TrainingJobs (default 1000)")
    p.add_argument(
        "--pod-delay",
        type=go_duration,
        default="120s",
        help="how long each pod runs before KWOK completes it (default 120s); long "
        "enough that every pod is running before the first one completes, in both runs",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="concurrent creates, of the floor and of the TrainingJobs (default 16)",
    )
    p.add_argument("--workers", type=int, default=16, help="operator --workers (default 16)")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for each milestone before giving up (default 300)",
    )
    p.add_argument(
        "--py-spy",
        action="store_true",
        help=f"profile the operator with py-spy into {WORK_DIR}/operator-profile.svg "
        "(slows it down: the numbers are then not comparable)",
    )
    p.add_argument(
        "--operator-ref",
        metavar="REF",
        help="measure the operator as committed at REF (e.g. HEAD) instead of the working tree",
    )
    p.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    return p


async def _measure(
    args: argparse.Namespace, kubeconfig: Path, pids: dict[str, int], op: OperatorProcess
) -> tuple[FloorResult, float | None, OperatorResult]:
    from bench.floor import run_floor
    from bench.kube import Kube, delete_namespace
    from bench.operator_run import run_operator

    kube = await Kube.connect(kubeconfig)
    try:
        say(f"floor: {args.count} Services + Jobs, {args.concurrency} concurrent workers")
        floor = await run_floor(
            kube, FLOOR_NS, args.count, args.pod_delay, args.concurrency, args.timeout, say, pids
        )
        cleanup = await delete_namespace(kube, FLOOR_NS, CLEANUP_TIMEOUT)
        if cleanup is None:
            say(f"floor: namespace not gone after {CLEANUP_TIMEOUT:.0f}s; going on")
        else:
            say(f"floor: namespace deleted in {cleanup:.1f}s")
        say(f"operator: {args.count} TrainingJobs, {args.concurrency} concurrent creates")
        profile = WORK_DIR / "operator-profile.svg" if args.py_spy else None
        result = await run_operator(
            kube,
            op,
            OPERATOR_NS,
            WARMUP_NS,
            args.count,
            args.pod_delay,
            args.concurrency,
            args.timeout,
            say,
            pids,
            profile,
        )
        return floor, cleanup, result
    finally:
        await kube.close()


def _interrupt(signum: int, _: FrameType | None) -> None:
    """SIGTERM like Ctrl-C: unwind, so the operator and the cluster are stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.count < 1 or args.concurrency < 1 or args.workers < 1:
        parser().error("--count, --concurrency and --workers must be >= 1")
    if args.operator_ref and source.measured_commit() is None:
        source.reexec(args.operator_ref)
    # Imported only now: with --operator-ref they must come from the measured commit.
    from bench import workload
    from bench.operator_run import OperatorProcess
    from bench.report import Config, build, machine, write

    signal.signal(signal.SIGTERM, _interrupt)
    started = datetime.now(UTC)
    load = os.getloadavg()
    # Before any cluster: the floor must create what the operator would.
    workload.check_children_match_operator(args.pod_delay, workload.defaults())
    capacity = Capacity.for_pods(args.count)
    try:
        with run_lock(), bench_cluster(capacity, say) as info:
            op = OperatorProcess(
                info.kubeconfig,
                (OPERATOR_NS, WARMUP_NS),
                args.workers,
                WORK_DIR / "operator.log",
            )
            try:
                floor, cleanup, result = asyncio.run(_measure(args, info.kubeconfig, info.pids, op))
            finally:
                op.stop()
    except BenchBusyError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; cluster and operator stopped", file=sys.stderr)
        return 130
    config = Config(
        count=args.count,
        pod_delay=args.pod_delay,
        concurrency=args.concurrency,
        workers=args.workers,
        gpu_nodes=capacity.nodes,
        gpus_per_node=capacity.gpus_per_node,
        pods_per_node=capacity.pods_per_node,
        kubernetes=info.versions.get("kubernetes", "?"),
        cluster_up_s=round(info.up_seconds, 1),
        profiled=result.profile is not None,
        floor_cleanup_s=None if cleanup is None else round(cleanup, 1),
    )
    report = build(started, config, machine(load), floor, result)
    json_path, latest, text = write(report)
    print(text)
    say(f"wrote {json_path} and {latest} in {time.monotonic() - _START:.0f}s")
    if args.strict and not report["passed"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
