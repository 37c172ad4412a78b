"""The operator run: the real ``mlops-operator run`` process, fed N TrainingJobs at once.

The operator is started exactly as in production (its console script, a kubeconfig, its
own namespaces) and measured from outside, as a user would see it: when each TrainingJob
reports ``Running`` and ``Succeeded``. Its memory is read from ``/proc`` (VmHWM is the
kernel's own peak-RSS counter, so no sample can miss the peak) and its API requests from
its own ``mlops_operator_kube_requests_total`` metric, as deltas over the batch.

The Jobs are tracked as well, which splits the operator's time into what it controls:
how long a TrainingJob waits for its children (``children_lag``), how long its status lags
behind its Job (``status_lag``), and what the cluster itself takes in between.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench import cpu, pipeline, profile, runtime, workload
from bench.kube import Kube, create_namespace, resource_path, run_concurrently
from bench.process import Controller, ControllerDied
from bench.track import (
    Spread,
    Tracker,
    job_progress,
    lags_of,
    owning_run,
    report_progress,
    status_changes,
    tracking,
    trainingjob_progress,
    way_to,
)
from localcluster.ports import free_ports
from mlops_operator import API_VERSION

REQUESTS_METRIC = "mlops_operator_kube_requests_total"
RECONCILES_METRIC = "mlops_operator_reconcile_total"
WRITE_VERBS = frozenset({"create", "patch", "delete", "update"})
#: Seconds without a new request after which the operator counts as idle.
QUIET = 3.0


#: Kept for callers that catch it by this name.
OperatorDied = ControllerDied


@dataclass
class OperatorProcess(Controller):
    """One ``mlops-operator run`` subprocess, its ports and its log."""

    kubeconfig: Path
    namespaces: tuple[str, ...]
    workers: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    health_port: int = 0
    title = "the operator"

    def start(self) -> None:
        """Start it in its own session, so a Ctrl-C reaches only us and we stop it."""
        self.metrics_port, self.health_port = free_ports(2)
        # As it ships: only its runtime dependencies importable (see bench/runtime.py).
        argv = [str(runtime.python()), "-m", "mlops_operator"]
        argv += [
            "run",
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
            "--workers",
            str(self.workers),
        ]
        for namespace in self.namespaces:
            argv += ["--namespace", namespace]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        env["PYTHONPATH"] = str(runtime.source())
        self.popen(argv, env)

    async def wait_healthy(self, session: aiohttp.ClientSession, timeout: float) -> None:  # noqa: ASYNC109
        await self.wait_answering(session, f"http://127.0.0.1:{self.health_port}/healthz", timeout)


# --- metrics --------------------------------------------------------------------------------


def samples(text: str, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of one counter, keyed by its sorted labels."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def delta(
    before: dict[tuple[tuple[str, str], ...], float],
    after: dict[tuple[tuple[str, str], ...], float],
) -> dict[tuple[tuple[str, str], ...], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


@dataclass(frozen=True)
class Requests:
    """The operator's API requests during the batch, by verb and resource."""

    by_verb_resource: dict[str, dict[str, int]]
    by_code: dict[str, int]

    @classmethod
    def of(cls, counts: dict[tuple[tuple[str, str], ...], float]) -> Requests:
        table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        codes: dict[str, int] = defaultdict(int)
        for labels, value in counts.items():
            label = dict(labels)
            table[label["verb"]][label["resource"]] += int(value)
            codes[label["code"]] += int(value)
        return cls({v: dict(r) for v, r in table.items()}, dict(codes))

    @property
    def total(self) -> int:
        return sum(sum(r.values()) for r in self.by_verb_resource.values())

    @property
    def writes(self) -> int:
        return sum(sum(r.values()) for v, r in self.by_verb_resource.items() if v in WRITE_VERBS)


# --- the run --------------------------------------------------------------------------------


@dataclass
class OperatorResult:
    """Seconds from the first TrainingJob create; spreads are over the N runs."""

    namespace: str
    created_s: float
    all_running_s: float
    all_succeeded_s: float
    running: Spread
    succeeded: Spread
    #: Per run, from its create returning to phase Running.
    way_to_running: Spread
    jobs_all_running_s: float
    jobs_all_complete_s: float
    jobs_running: Spread
    children_lag: Spread
    status_lag: Spread
    completion_lag: Spread
    peak_rss_bytes: int
    idle_rss_bytes: int
    cpu_seconds: float
    wall_seconds: float
    requests: Requests
    reconciles: dict[str, int]
    log_problems: int
    status_changes: dict[str, int]
    cores: dict[str, float]
    pipeline: dict[str, dict[str, float] | None]
    exit_code: int | None = None
    profile: str | None = None
    profile_raw: str | None = None
    rss_timeline: list[tuple[float, int]] = field(default_factory=list)

    @property
    def overlapped(self) -> bool:
        return self.succeeded.first < self.all_running_s

    def as_dict(self, count: int) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "created_s": round(self.created_s, 2),
            "all_running_s": round(self.all_running_s, 2),
            "all_succeeded_s": round(self.all_succeeded_s, 2),
            "running": self.running.as_dict(),
            "succeeded": self.succeeded.as_dict(),
            "way_to_running": self.way_to_running.as_dict(),
            "running_overlapped_completion": self.overlapped,
            "jobs_all_running_s": round(self.jobs_all_running_s, 2),
            "jobs_all_complete_s": round(self.jobs_all_complete_s, 2),
            "jobs_running": self.jobs_running.as_dict(),
            "children_lag_s": self.children_lag.as_dict(),
            "status_lag_s": self.status_lag.as_dict(),
            "completion_lag_s": self.completion_lag.as_dict(),
            "peak_rss_bytes": self.peak_rss_bytes,
            "idle_rss_bytes": self.idle_rss_bytes,
            "cpu_seconds": round(self.cpu_seconds, 2),
            "cpu_utilisation": round(self.cpu_seconds / self.wall_seconds, 3),
            "requests": {
                "total": self.requests.total,
                "writes": self.requests.writes,
                "per_trainingjob": round(self.requests.total / count, 2),
                "writes_per_trainingjob": round(self.requests.writes / count, 2),
                "by_verb_resource": self.requests.by_verb_resource,
                "by_code": self.requests.by_code,
            },
            "reconciles": self.reconciles,
            "log_warnings_or_errors": self.log_problems,
            "status_changes_seen": self.status_changes,
            "cores_used": self.cores,
            "pipeline_s": self.pipeline,
            "exit_code": self.exit_code,
            "profile": self.profile,
            "profile_raw": self.profile_raw,
            "rss_timeline": [(round(t, 1), b) for t, b in self.rss_timeline],
        }


lags = lags_of


async def wait_quiet(
    op: Controller,
    session: aiohttp.ClientSession,
    limit: float,
    metric: str = REQUESTS_METRIC,
) -> str:
    """Wait until the controller sent no request for :data:`QUIET` seconds (by its request
    counter ``metric``); its metrics then.

    Trailing writes (the Event after the last status, a held-back counter update) land
    after the last run looks finished; counting before them would flatter it.
    """
    deadline = time.monotonic() + limit
    text = await op.scrape(session)
    last, since = samples(text, metric), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        text = await op.scrape(session)
        now = samples(text, metric)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET:
            break
    return text


async def warm_up(
    kube: Kube,
    op: OperatorProcess,
    namespace: str,
    timeout: float,  # noqa: ASYNC109
) -> None:
    """One TrainingJob through to Succeeded: watches, caches, queue and writes all work."""
    path = resource_path(API_VERSION, workload.PLURAL, namespace)
    await kube.create(path, workload.trainingjob("warmup", "1s"))
    async with asyncio.timeout(timeout):
        while True:
            op.check_alive()
            body = await kube.get(f"{path}/warmup")
            phase = (body.get("status") or {}).get("phase")
            if phase == "Succeeded":
                return
            if phase == "Failed":
                raise RuntimeError(f"the warm-up TrainingJob failed: {body.get('status')}")
            await asyncio.sleep(0.25)


async def sample_memory(
    op: Controller, timeline: list[tuple[float, int]], start: float, every: float = 1.0
) -> None:
    """Record VmRSS every ``every`` seconds until cancelled (the peak is VmHWM anyway)."""
    while True:
        try:
            timeline.append((time.monotonic() - start, op.memory()["VmRSS"]))
        except (OSError, KeyError):
            return
        await asyncio.sleep(every)


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording the operator's flame graph until stopped (SIGINT makes it write
    ``out``); see :mod:`bench.profile` for collapsed stacks too."""
    return profile.start(pid, out)


def stop_profiler(spy: subprocess.Popen[bytes]) -> None:
    profile.stop(spy)


def count_log_problems(path: Path) -> int:
    """Lines the operator logged at warning level or worse."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    markers = ('"level": "warning"', '"level": "error"', '"level": "critical"', "Traceback")
    return sum(1 for line in text.splitlines() if any(m in line for m in markers))


@dataclass
class _Batch:
    """Raw measurements of one batch, in monotonic time."""

    start: float
    created: float
    running: float
    succeeded: float
    wall: float
    cpu: float
    cores: dict[str, float]
    pipeline: dict[str, dict[str, float] | None]
    baseline: str
    final: str
    timeline: list[tuple[float, int]]
    created_at: dict[str, float]


async def _batch(
    kube: Kube,
    op: OperatorProcess,
    session: aiohttp.ClientSession,
    tjs: Tracker,
    jobs: Tracker,
    bodies: list[dict[str, Any]],
    concurrency: int,
    timeout: float,  # noqa: ASYNC109
    say: Callable[[str], None],
    pids: dict[str, int],
    namespace: str,
) -> _Batch:
    """Create the TrainingJobs at once and follow them until all Succeeded."""
    count = len(bodies)
    created_at: dict[str, float] = {}

    async def create(body: dict[str, Any]) -> None:
        await kube.create(tjs.path, body)
        created_at[body["metadata"]["name"]] = time.monotonic()

    baseline = await wait_quiet(op, session, 30.0)
    timeline: list[tuple[float, int]] = []
    async with tracking(tjs, jobs):
        cpu_before = op.cpu_seconds()
        machine_before = cpu.Snapshot.take(pids)
        start = time.monotonic()
        sampler = asyncio.create_task(sample_memory(op, timeline, start))
        progress = asyncio.create_task(
            report_progress(
                say, lambda: f"operator: TrainingJobs {tjs.progress()} | Jobs {jobs.progress()}"
            )
        )
        try:
            await op.guard(run_concurrently(bodies, create, concurrency))
            created = time.monotonic()
            say(f"operator: {count} TrainingJobs created in {created - start:.1f}s")
            running = await op.guard(tjs.wait("running", timeout))
            # CPU while the cluster and the operator work; the pods' run time is idle.
            cores = cpu.usage(machine_before, cpu.Snapshot.take(pids), running - start)
            say(f"operator: all {count} TrainingJobs Running after {running - start:.1f}s")
            await jobs.wait("running", 10.0)
            stages = await pipeline.stages(kube, namespace, jobs.times("running"))
            succeeded = await op.guard(tjs.wait("succeeded", timeout))
            say(f"operator: all {count} TrainingJobs Succeeded after {succeeded - start:.1f}s")
            # The Jobs got there first; their trackers only need to catch up on events.
            await jobs.wait("running", 10.0)
            await jobs.wait("complete", 10.0)
        finally:
            progress.cancel()
            sampler.cancel()
        wall = time.monotonic() - start
        used = op.cpu_seconds() - cpu_before
    final = await wait_quiet(op, session, 30.0)
    # Kept for digging (reconcile time histogram, queue depth): .local/bench/operator.metrics
    op.log_path.with_suffix(".metrics").write_text(final)
    return _Batch(
        start,
        created,
        running,
        succeeded,
        wall,
        used,
        cores,
        stages,
        baseline,
        final,
        timeline,
        created_at,
    )


async def run_operator(
    kube: Kube,
    op: OperatorProcess,
    namespace: str,
    warm_namespace: str,
    count: int,
    pod_delay: str,
    concurrency: int,
    timeout: float,  # noqa: ASYNC109
    say: Callable[[str], None],
    pids: Mapping[str, int],
    profiling: profile.Profiling | None = None,
) -> OperatorResult:
    """Start the operator, warm it up, create ``count`` TrainingJobs, follow them to the end.

    The caller stops ``op`` (also when this raises).
    """
    await create_namespace(kube, namespace)
    await create_namespace(kube, warm_namespace)
    bodies = [workload.trainingjob(workload.name(i), pod_delay) for i in range(count)]
    tjs_path = resource_path(API_VERSION, workload.PLURAL, namespace)
    jobs_path = resource_path("batch/v1", "jobs", namespace)
    tjs = Tracker(kube, tjs_path, trainingjob_progress, count, keep_statuses=True)
    jobs = Tracker(kube, jobs_path, job_progress, count, key=owning_run)

    async with aiohttp.ClientSession() as session:
        op.start()
        say(f"operator: pid {op.pid}, log {op.log_path}")
        await op.wait_healthy(session, 60.0)
        await warm_up(kube, op, warm_namespace, 90.0)
        idle_rss = op.memory()["VmRSS"]
        say(f"operator: warmed up; idle RSS {idle_rss / 2**20:.0f} MiB")
        recording = profile.Recording.begin(op.pid, profiling or profile.Profiling())
        if profiling and profiling.on and not recording.recorded:
            say("operator: py-spy not found; running without a profile")
        try:
            pids = {**pids, "mlops-operator": op.pid, "bench": os.getpid()}
            batch = await _batch(
                kube, op, session, tjs, jobs, bodies, concurrency, timeout, say, pids, namespace
            )
        finally:
            recording.end()
        peak = op.memory()["VmHWM"]
    exit_code = op.stop()

    start = batch.start
    tj_running, tj_succeeded = tjs.times("running"), tjs.times("succeeded")
    job_running = jobs.times("running")
    running = Spread.of(tj_running.values(), start)
    succeeded = Spread.of(tj_succeeded.values(), start)
    jobs_running = Spread.of(job_running.values(), start)
    assert running is not None
    assert succeeded is not None
    assert jobs_running is not None
    requests = delta(
        samples(batch.baseline, REQUESTS_METRIC), samples(batch.final, REQUESTS_METRIC)
    )
    reconciles = delta(
        samples(batch.baseline, RECONCILES_METRIC), samples(batch.final, RECONCILES_METRIC)
    )
    return OperatorResult(
        namespace=namespace,
        created_s=batch.created - start,
        all_running_s=batch.running - start,
        all_succeeded_s=batch.succeeded - start,
        running=running,
        succeeded=succeeded,
        way_to_running=way_to(tj_running, batch.created_at),
        jobs_all_running_s=max(job_running.values()) - start,
        jobs_all_complete_s=max(jobs.times("complete").values()) - start,
        jobs_running=jobs_running,
        children_lag=lags(jobs.times("created"), tjs.times("created")),
        status_lag=lags(tj_running, job_running),
        completion_lag=lags(tj_succeeded, jobs.times("complete")),
        peak_rss_bytes=peak,
        idle_rss_bytes=idle_rss,
        cpu_seconds=batch.cpu,
        wall_seconds=batch.wall,
        requests=Requests.of(requests),
        reconciles={dict(k).get("result", "?"): int(v) for k, v in reconciles.items()},
        log_problems=count_log_problems(op.log_path),
        status_changes=dict(status_changes(tjs.statuses.values()).most_common()),
        cores=batch.cores,
        pipeline=batch.pipeline,
        exit_code=exit_code,
        profile=recording.svg,
        profile_raw=recording.raw,
        rss_timeline=batch.timeline,
    )
