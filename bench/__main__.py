"""``python -m bench``: the benchmarks (what ``make bench`` runs: all three).

    python -m bench [cache] [training] [serving] [retraining] [options]

- ``cache``: 10,000 suspended TrainingJobs: the operator's memory and whether it keeps up
  (:mod:`bench.cache`). Run first, so the training report's targets include its own.
- ``training``: three arms on N one-GPU runs, several repetitions in rotated order: a
  floor (the operator's children created by a script), Kubeflow's training operator on
  PyTorchJobs, and the operator on TrainingJobs (:mod:`bench.training`).
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
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from bench import source
from bench.cluster import WORK_DIR, BenchBusyError, CpuNodes, bench_cluster, run_lock
from bench.summary import ARMS

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


BENCHMARKS = ("cache", "training", "serving", "retraining")


def arm_list(value: str) -> list[str]:
    """``floor,peer,operator`` (any of them, in the order given)."""
    arms = [a.strip() for a in value.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if not arms or unknown or len(set(arms)) != len(arms):
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(ARMS)}: {value!r}")
    return arms


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"which to run, of {', '.join(BENCHMARKS)} (default: all, in that order)",
    )
    p.add_argument(
        "--count",
        type=int,
        default=None,
        help="runs per arm of training (default 1000), TrainingJobs of cache (default 10000)",
    )
    p.add_argument(
        "--reps",
        type=int,
        default=3,
        help="training: repetitions, the arms' order rotated each time (default 3)",
    )
    p.add_argument(
        "--arms",
        type=arm_list,
        default=list(ARMS),
        help=f"training: which arms, of {','.join(ARMS)} (default all, in that order)",
    )
    p.add_argument(
        "--pod-delay",
        type=go_duration,
        default="120s",
        help="how long each pod runs before KWOK completes it (default 120s); long "
        "enough that every pod is running before the first one completes, in every arm",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="concurrent creates of every arm (default 16)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=16,
        help="operator --workers, and the peer's --controller-threads (default 16)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for each milestone before giving up (default: training 300, "
        "cache 900, serving 600, retraining 120)",
    )
    p.add_argument(
        "--py-spy",
        action="store_true",
        help=f"profile the operator with py-spy: a flame graph, {WORK_DIR}/operator-profile*.svg "
        "(slows it down: the numbers are then not comparable)",
    )
    p.add_argument(
        "--py-spy-raw",
        action="store_true",
        help=f"profile the operator with py-spy's collapsed stacks, {WORK_DIR}/"
        "operator-profile*.raw.txt, summarised in the report (training and cache); with "
        "--py-spy too, two samplers run",
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


def _interrupt(signum: int, _: FrameType | None) -> None:
    """SIGTERM like Ctrl-C: unwind, so the operator and the cluster are stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


def run_training(args: argparse.Namespace, say_: Callable[[str], None]) -> bool:
    """The TrainingJob benchmark (:mod:`bench.training`); whether no target was missed."""
    from bench import training

    return training.run(args, say_)


def run_cache(args: argparse.Namespace, say_: Callable[[str], None]) -> bool:
    """The cache test (:mod:`bench.cache`); whether its targets were met."""
    from bench import cache

    return cache.run(args, say_)


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
    from bench.report import publish

    report["passed"] = all(t["passed"] for t in report["targets"])
    return publish(report, kind, markdown, say_)


def run_serving(args: argparse.Namespace, say_: Callable[[str], None]) -> bool:
    """The serving benchmark; whether its targets were met."""
    from bench import serving
    from bench.kube import Kube
    from bench.operator_run import OperatorProcess
    from bench.process import run_measured

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

        async def measure(kube: Kube) -> dict[str, Any]:
            assert info.prometheus is not None
            return await serving.run_serving(
                kube, op, info.prometheus.url, cfg, say_, info.pids, profile
            )

        result = run_measured(op, info.kubeconfig, measure)
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
    from bench.process import run_measured

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

        async def measure(kube: Kube) -> dict[str, Any]:
            assert info.prometheus is not None
            return await retraining.run_retraining(
                kube, op, info.prometheus, cfg, say_, info.pids, profile
            )

        result = run_measured(op, info.kubeconfig, measure)
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
    "cache": run_cache,
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
    if (args.count is not None and args.count < 1) or args.concurrency < 1 or args.workers < 1:
        parser().error("--count, --concurrency and --workers must be >= 1")
    if args.reps < 1:
        parser().error("--reps must be >= 1")
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
