"""The cache test: what 10,000 TrainingJobs cost the operator when nothing runs.

An operator caches what it watches; at 10,000 runs with their Jobs and Services that is
what decides its memory limit. The runs are created suspended (``spec.suspend: true``: the
operator creates its children, the Job suspended, so no pod ever exists and the cluster's
other controllers stay nearly idle), by the same 16 concurrent workers as the training
benchmark. Measured:

- the operator's RSS when idle after a warm-up (one suspended run), when idle again after
  all N were reconciled, and its peak (``VmHWM``): the peak is what a memory limit meets;
- the time from the first create until every run shows phase ``Suspended``, against the
  time the creates themselves took (the operator keeping up with its input);
- its CPU and API requests over the batch.

Targets (issue "TrainingJob at scale"): peak RSS <= 250 MiB at 10,000 runs; all reconciled
within 1.5x the creates' time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import profile, workload
from bench.kube import Kube, create_namespace, resource_path, run_concurrently
from bench.operator_run import (
    REQUESTS_METRIC,
    OperatorProcess,
    Requests,
    count_log_problems,
    delta,
    sample_memory,
    samples,
    wait_quiet,
)
from bench.summary import MiB, operator_verbs, verdict
from bench.track import Spread, Tracker, report_progress, tracking, way_to
from mlops_operator import API_VERSION

NAMESPACE = "bench-cache"
WARMUP_NAMESPACE = "bench-cache-warmup"
DEFAULT_COUNT = 10_000
SUSPENDED = "Suspended"


@dataclass(frozen=True)
class Settings:
    count: int
    concurrency: int
    workers: int
    timeout: float


def suspended_trainingjob(name: str) -> dict[str, Any]:
    """A TrainingJob suspended from the start: a Service and a suspended Job, no pods."""
    body = workload.trainingjob(name, "1h")
    body["spec"]["suspend"] = True
    return body


def suspended_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A TrainingJob by phase; ``suspended`` once it shows ``Suspended``."""
    phase = str((obj.get("status") or {}).get("phase") or "New")
    milestones = ["created"]
    if phase == SUSPENDED:
        milestones.append("suspended")
    if phase == "Failed":
        milestones.append("failed")
    return phase, milestones


async def _warm_up(kube: Kube, op: OperatorProcess, timeout: float) -> None:  # noqa: ASYNC109
    path = resource_path(API_VERSION, workload.PLURAL, WARMUP_NAMESPACE)
    await kube.create(path, suspended_trainingjob("warmup"))
    async with asyncio.timeout(timeout):
        while True:
            op.check_alive()
            body = await kube.get(f"{path}/warmup")
            if (body.get("status") or {}).get("phase") == SUSPENDED:
                return
            await asyncio.sleep(0.25)


async def run_cache(
    kube: Kube,
    op: OperatorProcess,
    cfg: Settings,
    say: Callable[[str], None],
    pids: Mapping[str, int],
    profiling: profile.Profiling | None = None,
) -> dict[str, Any]:
    """Start the operator, warm it up, create ``cfg.count`` suspended TrainingJobs and wait
    until all show ``Suspended`` and the operator is quiet. The caller stops ``op``."""
    await create_namespace(kube, NAMESPACE)
    await create_namespace(kube, WARMUP_NAMESPACE)
    bodies = [suspended_trainingjob(workload.name(i)) for i in range(cfg.count)]
    path = resource_path(API_VERSION, workload.PLURAL, NAMESPACE)
    tracker = Tracker(kube, path, suspended_progress, cfg.count)
    created_at: dict[str, float] = {}

    async def create(body: dict[str, Any]) -> None:
        await kube.create(path, body)
        created_at[body["metadata"]["name"]] = time.monotonic()

    timeline: list[tuple[float, int]] = []
    async with aiohttp.ClientSession() as session:
        op.start()
        say(f"cache: operator pid {op.pid}, log {op.log_path}")
        await op.wait_healthy(session, 60.0)
        await _warm_up(kube, op, 90.0)
        baseline = await wait_quiet(op, session, 30.0)
        idle_before = op.memory()["VmRSS"]
        say(f"cache: warmed up; idle RSS {idle_before / MiB:.0f} MiB")
        recording = profile.Recording.begin(op.pid, profiling or profile.Profiling())
        try:
            async with tracking(tracker):
                cpu_before = op.cpu_seconds()
                start = time.monotonic()
                sampler = asyncio.create_task(sample_memory(op, timeline, start))
                progress = asyncio.create_task(
                    report_progress(
                        say,
                        lambda: (
                            f"cache: {len(created_at)} created | {tracker.progress()} | "
                            f"RSS {op.memory()['VmRSS'] / MiB:.0f} MiB"
                        ),
                    )
                )
                try:
                    await op.guard(run_concurrently(bodies, create, cfg.concurrency))
                    created = time.monotonic() - start
                    say(f"cache: {cfg.count} suspended TrainingJobs created in {created:.1f}s")
                    suspended = await op.guard(tracker.wait("suspended", cfg.timeout)) - start
                    say(f"cache: all {cfg.count} Suspended after {suspended:.1f}s")
                finally:
                    progress.cancel()
                    sampler.cancel()
                used = op.cpu_seconds() - cpu_before
        finally:
            recording.end()
        final = await wait_quiet(op, session, 60.0)
        memory = op.memory()
        op.log_path.with_suffix(".metrics").write_text(final)
    exit_code = op.stop()
    spread = Spread.of(tracker.times("suspended").values(), start)
    assert spread is not None
    requests = Requests.of(
        delta(samples(baseline, REQUESTS_METRIC), samples(final, REQUESTS_METRIC))
    )
    return {
        "count": cfg.count,
        "created_s": round(created, 2),
        "all_suspended_s": round(suspended, 2),
        "suspended": spread.as_dict(),
        "way_to_suspended": way_to(tracker.times("suspended"), created_at).as_dict(),
        "idle_rss_before_bytes": idle_before,
        "idle_rss_after_bytes": memory["VmRSS"],
        "peak_rss_bytes": memory["VmHWM"],
        "cpu_seconds": round(used, 2),
        "requests": {
            "total": requests.total,
            "writes": requests.writes,
            "by_verb_resource": requests.by_verb_resource,
            "by_code": requests.by_code,
        },
        "log_warnings_or_errors": count_log_problems(op.log_path),
        "exit_code": exit_code,
        "profile": recording.svg,
        "profile_raw": recording.raw,
        "rss_timeline": [(round(t, 1), b) for t, b in timeline[:: max(1, len(timeline) // 200)]],
    }


def markdown(report: dict[str, Any]) -> str:
    """The cache test's section of LATEST.md."""
    from bench.report import code_line, machine_line

    cfg, r = report["config"], report["result"]
    n = r["count"]
    verbs = operator_verbs(r["requests"]["by_verb_resource"])
    per_run_kib = (r["idle_rss_after_bytes"] - r["idle_rss_before_bytes"]) / n / 1024
    lines = [
        "# TrainingJob cache test: latest run",
        "",
        f"`python -m bench cache --count {n}` (`make bench` runs N = 10,000), started "
        f"{report['started_at']}.",
        "",
        f"- **Machine**: {machine_line(report)}",
        f"- **Workload**: N = {n} TrainingJobs created suspended (`spec.suspend: true`: the "
        "operator creates their children, the Job suspended, so no pod runs) by "
        f"{cfg['concurrency']} concurrent workers; `mlops-operator run --workers "
        f"{cfg['workers']}`, warmed up with one suspended run in another namespace."
        + (" *Profiled with py-spy (slower).*" if cfg.get("profiled") else ""),
        f"- **Code**: {code_line(report)}",
        "",
        "| measured | value |",
        "|---|---:|",
        f"| the creates took (first to last) | {r['created_s']:.1f} s |",
        f"| all `Suspended`, from the first create | {r['all_suspended_s']:.1f} s "
        f"({r['all_suspended_s'] / r['created_s']:.2f}x the creates) |",
        f"| a run's way to `Suspended`, p50 / p95 / max | "
        f"{r['way_to_suspended']['p50']:.1f} / {r['way_to_suspended']['p95']:.1f} / "
        f"{r['way_to_suspended']['last']:.1f} s |",
        "| operator RSS idle before (after warm-up) | "
        f"{r['idle_rss_before_bytes'] / MiB:.0f} MiB |",
        f"| operator RSS idle after all reconciled | {r['idle_rss_after_bytes'] / MiB:.0f} MiB "
        f"({per_run_kib:.1f} KiB per run) |",
        f"| operator peak RSS (`VmHWM`) | {r['peak_rss_bytes'] / MiB:.0f} MiB |",
        f"| operator CPU over the batch | {r['cpu_seconds']:.1f} s "
        f"({1000 * r['cpu_seconds'] / n:.1f} ms per run) |",
        f"| API requests per run | {r['requests']['total'] / n:.2f} (writes "
        f"{r['requests']['writes'] / n:.2f}: "
        + ", ".join(f"{v} {c / n:.2f}" for v, c in verbs.items() if c)
        + ") |",
        "",
        "## Targets",
        "",
        "| target | limit | measured | result |",
        "|---|---|---|---|",
        *(
            f"| {t['name']} | {t['limit']} | {t['measured']} | {verdict(t['passed'])} |"
            for t in report["targets"]
        ),
        "",
    ]
    if report.get("profile"):
        lines += profile.markdown(report["profile"], "the operator during the creates")
    lines += [f"Full report: `bench/reports/{report['file']}` (git-ignored).", ""]
    return "\n".join(lines)


def run(args: Any, say: Callable[[str], None]) -> bool:
    """The cache test on its own cluster (no nodes: nothing runs); whether its targets
    were met."""
    from datetime import UTC, datetime

    from bench.cluster import WORK_DIR, bench_cluster
    from bench.process import run_measured
    from bench.report import code_version, machine, publish, report_name
    from bench.summary import cache_targets
    from bench.training import profiling

    cfg = Settings(
        count=args.count or DEFAULT_COUNT,
        concurrency=args.concurrency,
        workers=args.workers,
        timeout=args.timeout or 900.0,
    )
    started, load = datetime.now(UTC), os.getloadavg()
    code = code_version()  # the working tree the operator will run, not at the end
    wanted = profiling(args, "operator-profile-cache")
    with bench_cluster(None, say) as info:
        op = OperatorProcess(
            info.kubeconfig,
            (NAMESPACE, WARMUP_NAMESPACE),
            cfg.workers,
            WORK_DIR / "operator-cache.log",
        )

        result = run_measured(
            op,
            info.kubeconfig,
            lambda kube: run_cache(kube, op, cfg, say, info.pids, wanted if wanted.on else None),
        )
    summary = None
    if result.get("profile_raw"):
        summary = profile.summarize_raw([Path(result["profile_raw"]).read_text()])
    report: dict[str, Any] = {
        "benchmark": "cache",
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(load),
        "code": code,
        "config": {
            **cfg.__dict__,
            "kubernetes": info.versions.get("kubernetes", "?"),
            "profiled": bool(result.get("profile") or result.get("profile_raw")),
        },
        "result": result,
        "targets": cache_targets(result),
        "profile": summary,
    }
    report["file"] = report_name(report, "cache")
    report["passed"] = all(t["passed"] for t in report["targets"])
    return publish(report, "cache", markdown, say)
