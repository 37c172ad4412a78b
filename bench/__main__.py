"""``python -m bench``: the benchmarks (what ``make bench`` runs: all three).

    python -m bench [training] [serving] [retraining] [options]

- ``training``: a floor (the operator's children created by a script), then the operator
  on N TrainingJobs (:mod:`bench.operator_run`).
- ``serving``: 200 ModelDeployments rolling out by canary at once, with 1,000 suspended
  TrainingJobs cached (:mod:`bench.serving`).
- ``retraining``: 500 RetrainPolicies watching drift, quiet then breached
  (:mod:`bench.retraining`).

Each brings up its own dedicated local cluster and tears it down (also on failure and
Ctrl-C), writes ``bench/reports/<kind>-*.json`` and its own section of
``bench/reports/LATEST.md``, and prints that section. Progress goes to stderr, the
summaries to stdout. A benchmark that fails is reported and the next one still runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from bench import source
from bench.cluster import WORK_DIR, BenchBusyError, Capacity, CpuNodes, bench_cluster, run_lock

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


BENCHMARKS = ("training", "serving", "retraining")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"which to run, of {', '.join(BENCHMARKS)} (default: all, in that order)",
    )
    p.add_argument("--count", type=int, default=1000, help="training: TrainingJobs (default 1000)")
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
        default=None,
        help="seconds to wait for each milestone before giving up (default: training 300, "
        "serving 600, retraining 120)",
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
    p.add_argument(
        "--deployments", type=int, default=200, help="serving: ModelDeployments (default 200)"
    )
    p.add_argument(
        "--cached-trainingjobs",
        type=int,
        default=1000,
        help="serving: suspended TrainingJobs in the operator's cache (default 1000)",
    )
    p.add_argument("--policies", type=int, default=500, help="retraining: policies (default 500)")
    p.add_argument(
        "--breach", type=int, default=100, help="retraining: policies that breach (default 100)"
    )
    p.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="retraining: seconds after the last create before the quiet window (default 60)",
    )
    p.add_argument(
        "--window",
        type=float,
        default=120.0,
        help="retraining: seconds of the quiet window (default 120)",
    )
    return p


async def _measure(
    args: argparse.Namespace, kubeconfig: Path, pids: dict[str, int], op: OperatorProcess
) -> tuple[FloorResult, float | None, OperatorResult]:
    from bench.floor import run_floor
    from bench.kube import Kube, delete_namespace
    from bench.operator_run import run_operator

    timeout = args.timeout or 300.0
    kube = await Kube.connect(kubeconfig)
    try:
        say(f"floor: {args.count} Services + Jobs, {args.concurrency} concurrent workers")
        floor = await run_floor(
            kube, FLOOR_NS, args.count, args.pod_delay, args.concurrency, timeout, say, pids
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
            timeout,
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


def run_training(args: argparse.Namespace, say_: Callable[[str], None]) -> bool:
    """The TrainingJob benchmark; whether its targets were met."""
    from bench import workload
    from bench.operator_run import OperatorProcess
    from bench.report import Config, build, machine, write

    started = datetime.now(UTC)
    load = os.getloadavg()
    # Before any cluster: the floor must create what the operator would.
    workload.check_children_match_operator(args.pod_delay, workload.defaults())
    capacity = Capacity.for_pods(args.count)
    with bench_cluster(capacity, say_) as info:
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
    say_(f"training: wrote {json_path} and {latest}")
    return bool(report["passed"])


def _envelope(
    kind: str, started: datetime, load: tuple[float, float, float], config: dict[str, Any]
) -> dict[str, Any]:
    """What every report starts with: which benchmark, when, where, which code, how."""
    from bench.report import code_version, machine, report_name

    report: dict[str, Any] = {
        "benchmark": kind,
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(load),
        "code": code_version(),
        "config": config,
    }
    report["file"] = report_name(report, kind)
    return report


def _finish(
    kind: str,
    report: dict[str, Any],
    markdown: Callable[[dict[str, Any]], str],
    say_: Callable[[str], None],
) -> bool:
    from bench.report import update_latest, write_json

    report["passed"] = all(t["passed"] for t in report["targets"])
    json_path = write_json(report, kind)
    text = markdown(report)
    latest = update_latest(kind, text)
    print(text)
    say_(f"{kind}: wrote {json_path} and {latest}")
    return bool(report["passed"])


def run_serving(args: argparse.Namespace, say_: Callable[[str], None]) -> bool:
    """The serving benchmark; whether its targets were met."""
    from bench import serving
    from bench.kube import Kube
    from bench.operator_run import OperatorProcess

    started, load = datetime.now(UTC), os.getloadavg()
    cfg = serving.Settings(
        deployments=args.deployments,
        trainingjobs=args.cached_trainingjobs,
        concurrency=args.concurrency,
        timeout=args.timeout or 600.0,
    )
    # Per ModelDeployment at most: 2 stable + 2 canary pods + 1 surge pod while promoting.
    cpu = CpuNodes.for_pods(5 * args.deployments)
    profile = WORK_DIR / "operator-profile-serving.svg" if args.py_spy else None
    with bench_cluster(None, say_, cpu=cpu, prometheus=True) as info:
        assert info.prometheus is not None
        op = OperatorProcess(
            info.kubeconfig, (serving.NAMESPACE,), args.workers, WORK_DIR / "operator-serving.log"
        )

        async def measure() -> dict[str, Any]:
            kube = await Kube.connect(info.kubeconfig)
            try:
                assert info.prometheus is not None
                return await serving.run_serving(
                    kube, op, info.prometheus.url, cfg, say_, info.pids, profile
                )
            finally:
                await kube.close()

        try:
            result = asyncio.run(measure())
        finally:
            op.stop()
    config = {
        **cfg.__dict__,
        "workers": args.workers,
        "cpu_nodes": cpu.nodes,
        "pods_per_cpu_node": cpu.pods_per_node,
        "kubernetes": info.versions.get("kubernetes", "?"),
    }
    report = _envelope("serving", started, load, config)
    report["result"] = result
    report["targets"] = serving.targets(result)
    return _finish("serving", report, serving.markdown, say_)


def run_retraining(args: argparse.Namespace, say_: Callable[[str], None]) -> bool:
    """The retraining benchmark; whether its targets were met."""
    from bench import retraining
    from bench.kube import Kube
    from bench.operator_run import OperatorProcess

    started, load = datetime.now(UTC), os.getloadavg()
    cfg = retraining.Settings(
        policies=args.policies,
        breach=min(args.breach, args.policies),
        settle=args.settle,
        window=args.window,
        concurrency=args.concurrency,
        timeout=args.timeout or 120.0,
    )
    profile = WORK_DIR / "operator-profile-retraining.svg" if args.py_spy else None
    with bench_cluster(None, say_, prometheus=True) as info:
        op = OperatorProcess(
            info.kubeconfig,
            (retraining.NAMESPACE,),
            args.workers,
            WORK_DIR / "operator-retraining.log",
        )

        async def measure() -> dict[str, Any]:
            kube = await Kube.connect(info.kubeconfig)
            try:
                assert info.prometheus is not None
                return await retraining.run_retraining(
                    kube, op, info.prometheus, cfg, say_, info.pids, profile
                )
            finally:
                await kube.close()

        try:
            result = asyncio.run(measure())
        finally:
            op.stop()
    config = {
        **cfg.__dict__,
        "workers": args.workers,
        "kubernetes": info.versions.get("kubernetes", "?"),
    }
    report = _envelope("retraining", started, load, config)
    report["result"] = result
    report["targets"] = retraining.targets(result, config)
    return _finish("retraining", report, retraining.markdown, say_)


RUNNERS: dict[str, Callable[[argparse.Namespace, Callable[[str], None]], bool]] = {
    "training": run_training,
    "serving": run_serving,
    "retraining": run_retraining,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    unknown = [b for b in args.benchmarks if b not in BENCHMARKS]
    if unknown:
        parser().error(
            f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}"
        )
    which = [b for b in BENCHMARKS if b in args.benchmarks] or list(BENCHMARKS)
    if args.count < 1 or args.concurrency < 1 or args.workers < 1:
        parser().error("--count, --concurrency and --workers must be >= 1")
    if args.deployments < 1 or args.cached_trainingjobs < 0 or args.policies < 1:
        parser().error("--deployments and --policies must be >= 1")
    if args.operator_ref and source.measured_commit() is None:
        source.reexec(args.operator_ref)

    signal.signal(signal.SIGTERM, _interrupt)
    outcome: dict[str, str] = {}
    try:
        with run_lock():
            for name in which:
                say(f"=== {name} benchmark ===")
                try:
                    outcome[name] = "pass" if RUNNERS[name](args, say) else "missed a target"
                except KeyboardInterrupt:
                    raise
                except Exception:
                    traceback.print_exc()
                    outcome[name] = "FAILED (see above)"
                say(f"=== {name}: {outcome[name]} ===")
    except BenchBusyError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; cluster and operator stopped", file=sys.stderr)
        return 130
    say(
        "done in "
        f"{time.monotonic() - _START:.0f}s: "
        + ", ".join(f"{name} {result}" for name, result in outcome.items())
    )
    if any(result.startswith("FAILED") for result in outcome.values()):
        return 1
    if args.strict and any(result != "pass" for result in outcome.values()):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
