"""The TrainingJob benchmark: three arms, several repetitions, one bench cluster.

Per repetition each arm runs once, in the order :func:`bench.summary.arm_order` gives
(rotated from one repetition to the next), each in fresh namespaces
(``bench-<arm>-r<rep>``, plus ``bench-<arm>-warmup-r<rep>`` for a controller's warm-up):

- ``floor``    :mod:`bench.floor`: our operator's children created by a script;
- ``peer``     :mod:`bench.peer`: Kubeflow's training operator on N PyTorchJobs;
- ``operator`` :mod:`bench.operator_run`: ``mlops-operator run`` on N TrainingJobs.

Between two arms the first one's controller is stopped and its namespaces are deleted,
and the next arm starts only once they are gone: its pods then hold no capacity, and the
namespace controller and the garbage collector are not working during the next
measurement. Every arm gets the same node capacity (enough for all N pods at once), pod
completion delay, submit concurrency and workers (our ``--workers``, the peer's
``--controller-threads``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import profile, summary, workload
from bench.cluster import WORK_DIR, Capacity, bench_cluster
from bench.kube import Kube, delete_namespace

#: How long an arm's namespaces may take to disappear before the next arm starts.
CLEANUP_TIMEOUT = 300.0


@dataclass(frozen=True)
class Settings:
    count: int
    reps: int
    arms: tuple[str, ...]
    pod_delay: str
    concurrency: int
    workers: int
    timeout: float
    profiling: profile.Profiling


def namespaces(arm: str, rep: int) -> tuple[str, str]:
    """The arm's namespace in repetition ``rep`` (1-based), and its warm-up namespace."""
    return f"bench-{arm}-r{rep}", f"bench-{arm}-warmup-r{rep}"


async def _cleanup(kube: Kube, names: Sequence[str]) -> float | None:
    """Delete the namespaces at once; seconds until all were gone, None on timeout."""
    taken = await asyncio.gather(*(delete_namespace(kube, n, CLEANUP_TIMEOUT) for n in names))
    return None if any(t is None for t in taken) else max(t for t in taken if t is not None)


async def _arm(
    kube: Kube,
    arm: str,
    rep: int,
    cfg: Settings,
    kubeconfig: Path,
    pids: dict[str, int],
    say: Callable[[str], None],
) -> tuple[dict[str, Any], list[str]]:
    """One arm once: its result's ``as_dict()`` and the namespaces it used."""
    from bench.arm import Work
    from bench.floor import run_floor
    from bench.operator_run import OperatorProcess, run_operator
    from bench.peer import PeerProcess, run_peer

    ns, warm = namespaces(arm, rep)
    work = Work(cfg.count, cfg.pod_delay, cfg.concurrency, cfg.timeout, say, pids)
    if arm == "floor":
        floor = await run_floor(kube, ns, work)
        return floor.as_dict(), [ns]
    if arm == "peer":
        peer = PeerProcess(kubeconfig, cfg.workers, WORK_DIR / f"peer-r{rep}.log")
        try:
            result = await run_peer(kube, peer, ns, warm, work)
        finally:
            peer.stop()
        return result.as_dict(cfg.count), [ns, warm]
    op = OperatorProcess(kubeconfig, (ns, warm), cfg.workers, WORK_DIR / f"operator-r{rep}.log")
    try:
        profiling = cfg.profiling.named(f"r{rep}") if cfg.profiling.on else None
        outcome = await run_operator(kube, op, ns, warm, work, profiling)
    finally:
        op.stop()
    return outcome.as_dict(cfg.count), [ns, warm]


async def repetitions(
    cfg: Settings, kubeconfig: Path, pids: dict[str, int], say: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Every arm in every repetition; one :func:`bench.summary.record` each."""
    records: list[dict[str, Any]] = []
    kube = await Kube.connect(kubeconfig)
    try:
        for rep in range(1, cfg.reps + 1):
            order = summary.arm_order(cfg.arms, rep - 1)
            say(f"repetition {rep}/{cfg.reps}: {', '.join(order)}")
            for position, arm in enumerate(order, start=1):
                say(f"{arm} (rep {rep}): {cfg.count} runs, {cfg.concurrency} concurrent creates")
                detail, used = await _arm(kube, arm, rep, cfg, kubeconfig, pids, say)
                cleanup = await _cleanup(kube, used)
                if cleanup is None:
                    say(f"{arm}: namespaces not gone after {CLEANUP_TIMEOUT:.0f}s; going on")
                else:
                    say(f"{arm}: namespaces deleted in {cleanup:.1f}s")
                records.append(summary.record(arm, rep, position, cfg.count, detail, cleanup))
    finally:
        await kube.close()
    return records


def profile_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The operator's collapsed stacks of all repetitions, summarised together."""
    texts = []
    for r in records:
        raw = r["arm"] == "operator" and r["detail"].get("profile_raw")
        if raw and Path(raw).is_file():
            texts.append(Path(raw).read_text())
    if not texts:
        return None
    return {**profile.summarize_raw(texts), "runs": len(texts)}


def run(args: argparse.Namespace, say: Callable[[str], None]) -> bool:
    """The TrainingJob benchmark; whether no target was missed."""
    from bench import peer
    from bench.report import (
        build,
        code_version,
        latest_json,
        machine,
        markdown,
        publish,
    )

    cfg = Settings(
        count=args.count or 1000,
        reps=args.reps,
        arms=tuple(args.arms),
        pod_delay=args.pod_delay,
        concurrency=args.concurrency,
        workers=args.workers,
        timeout=args.timeout or 300.0,
        profiling=profiling(args, "operator-profile"),
    )
    started = datetime.now(UTC)
    load = os.getloadavg()
    code = code_version()  # the operator started later runs the working tree of now
    # Before any cluster: the floor must create what the operator would.
    workload.check_children_match_operator(cfg.pod_delay, workload.defaults())
    if "peer" in cfg.arms:
        peer.ensure_built()
    capacity = Capacity.for_pods(cfg.count)
    with bench_cluster(capacity, say) as info:
        if "peer" in cfg.arms:
            peer.install_crd(info.kubeconfig)
        records = asyncio.run(repetitions(cfg, info.kubeconfig, dict(info.pids), say))
    stats = summary.summarize(records)
    cache = latest_json("cache")
    checks = summary.targets(stats, cfg.count, cache)
    config = {
        "count": cfg.count,
        "reps": cfg.reps,
        "arms": list(cfg.arms),
        "orders": [summary.arm_order(cfg.arms, r) for r in range(cfg.reps)],
        "pod_delay": cfg.pod_delay,
        "concurrency": cfg.concurrency,
        "workers": cfg.workers,
        "peer_version": peer.version(),
        "peer_qps": peer.CLIENT_QPS,
        "peer_burst": peer.CLIENT_BURST,
        "gpu_nodes": capacity.nodes,
        "gpus_per_node": capacity.gpus_per_node,
        "pods_per_node": capacity.pods_per_node,
        "kubernetes": info.versions.get("kubernetes", "?"),
        "cluster_up_s": round(info.up_seconds, 1),
        "profiled": any(
            r["detail"].get("profile") or r["detail"].get("profile_raw") for r in records
        ),
    }
    report = build(
        started, config, machine(load), records, stats, checks, profile_summary(records), code
    )
    return publish(report, "trainingjob", markdown, say, "training")


def profiling(args: argparse.Namespace, stem: str) -> profile.Profiling:
    """The profiles ``--py-spy`` and ``--py-spy-raw`` ask for, under the work directory."""
    return profile.Profiling(
        WORK_DIR / f"{stem}.svg" if args.py_spy else None,
        WORK_DIR / f"{stem}.raw.txt" if args.py_spy_raw else None,
    )
