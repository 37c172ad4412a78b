"""One controller arm of the training benchmark, measured the same way for ours and the peer.

The controller is started, warmed up with one run of its own and left to go quiet; then
its N runs are created at once by the same concurrent workers and followed (its runs and
their children, by list+watch) until all are ``running`` and ``succeeded``, while its
CPU-seconds, its RSS and the machine's CPU are taken, its progress printed every few
seconds. Its API requests are its own counter's delta over the batch, after it went quiet
again. What differs between the arms (its runs, their children, its request counter, its
titles) is the :class:`Arm`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench import cpu, pipeline, profile
from bench.kube import Kube, run_concurrently
from bench.process import Controller, delta, sample_memory, samples, wait_quiet
from bench.track import Spread, Tracker, lags_of, report_progress, tracking, way_to


@dataclass(frozen=True)
class Work:
    """What every arm of the training benchmark is given alike."""

    count: int
    pod_delay: str
    concurrency: int
    timeout: float
    say: Callable[[str], None]
    #: The cluster's processes, for the cores used.
    pids: Mapping[str, int]


@dataclass
class Arm:
    """What one arm's controller, runs and children are called and where they are."""

    #: Its lines' prefix: "peer", "operator".
    name: str
    controller: Controller
    #: Before "pid" in the line that says it started: "training-operator ", "".
    who: str
    #: Its process's row among the cores used: "training-operator", "mlops-operator".
    process: str
    #: The runs, by their controller's own view, and what it is called: "PyTorchJobs".
    runs: Tracker
    runs_title: str
    #: What the controller creates per run, and what it is called: "pods", "Jobs".
    children: Tracker
    children_title: str
    #: Its counter of API requests, for the quiet waits and the delta.
    metric: str
    #: Until its HTTP probe answers: ``(session, timeout)``.
    ready: Callable[[aiohttp.ClientSession, float], Awaitable[None]]
    #: Its warm-up: one run through to the end, in a namespace of its own.
    warm_up: Callable[[], Awaitable[None]]
    #: Where the pipeline's stages are taken once all runs are running (our operator's
    #: Jobs: :mod:`bench.pipeline`); None for none.
    pipeline_namespace: str | None = None


@dataclass(kw_only=True)
class ArmResult:
    """What both controller arms measure. Seconds from the first create; spreads are over
    the N runs."""

    namespace: str
    created_s: float
    all_running_s: float
    all_succeeded_s: float
    running: Spread
    succeeded: Spread
    #: Per run, from its create returning to its Running (phase or condition).
    way_to_running: Spread
    #: Per run, from its create to its children's creation being seen.
    children_lag: Spread
    #: Per run, its Running after its children were seen running.
    status_lag: Spread
    #: Per run, its Succeeded after its children were seen complete.
    completion_lag: Spread
    peak_rss_bytes: int
    idle_rss_bytes: int
    cpu_seconds: float
    wall_seconds: float
    cores: dict[str, float]
    exit_code: int | None = None
    rss_timeline: list[tuple[float, int]] = field(default_factory=list)

    @property
    def overlapped(self) -> bool:
        return self.succeeded.first < self.all_running_s

    def times_dict(self) -> dict[str, Any]:
        """The runs' times, as ``as_dict`` starts."""
        return {
            "namespace": self.namespace,
            "created_s": round(self.created_s, 2),
            "all_running_s": round(self.all_running_s, 2),
            "all_succeeded_s": round(self.all_succeeded_s, 2),
            "running": self.running.as_dict(),
            "succeeded": self.succeeded.as_dict(),
            "way_to_running": self.way_to_running.as_dict(),
            "running_overlapped_completion": self.overlapped,
        }

    def process_dict(self) -> dict[str, Any]:
        """The lags and the process's memory and CPU, as ``as_dict`` goes on."""
        return {
            "children_lag_s": self.children_lag.as_dict(),
            "status_lag_s": self.status_lag.as_dict(),
            "completion_lag_s": self.completion_lag.as_dict(),
            "peak_rss_bytes": self.peak_rss_bytes,
            "idle_rss_bytes": self.idle_rss_bytes,
            "cpu_seconds": round(self.cpu_seconds, 2),
            "cpu_utilisation": round(self.cpu_seconds / self.wall_seconds, 3),
        }

    def timeline(self) -> list[tuple[float, int]]:
        return [(round(t, 1), b) for t, b in self.rss_timeline]


@dataclass
class Batch:
    """Raw measurements of one arm's batch, in monotonic time."""

    start: float
    created: float
    running: float
    succeeded: float
    wall: float
    cpu: float
    cores: dict[str, float]
    pipeline: dict[str, dict[str, float] | None] | None
    baseline: str
    final: str
    created_at: dict[str, float]
    idle_rss: int
    peak_rss: int
    recording: profile.Recording
    exit_code: int | None = None
    timeline: list[tuple[float, int]] = field(default_factory=list)

    def spread(self, times: Mapping[str, float]) -> Spread:
        """Over the N runs, from the first create."""
        spread = Spread.of(times.values(), self.start)
        assert spread is not None
        return spread

    def counts(self, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
        """The counter ``metric`` over the batch, by its labels."""
        return delta(samples(self.baseline, metric), samples(self.final, metric))

    def common(self, runs: Tracker, children: Tracker) -> dict[str, Any]:
        """The fields both arms' results have, by their names there: the runs' times, the
        lags between runs and their children, the process's memory and CPU."""
        run_running, run_succeeded = runs.times("running"), runs.times("succeeded")
        return {
            "created_s": self.created - self.start,
            "all_running_s": self.running - self.start,
            "all_succeeded_s": self.succeeded - self.start,
            "running": self.spread(run_running),
            "succeeded": self.spread(run_succeeded),
            "way_to_running": way_to(run_running, self.created_at),
            "children_lag": lags_of(children.times("created"), runs.times("created")),
            "status_lag": lags_of(run_running, children.times("running")),
            "completion_lag": lags_of(run_succeeded, children.times("complete")),
            "peak_rss_bytes": self.peak_rss,
            "idle_rss_bytes": self.idle_rss,
            "cpu_seconds": self.cpu,
            "wall_seconds": self.wall,
            "cores": self.cores,
            "exit_code": self.exit_code,
            "rss_timeline": self.timeline,
        }


async def measure(
    arm: Arm,
    kube: Kube,
    bodies: list[dict[str, Any]],
    work: Work,
    profiling: profile.Profiling | None = None,
) -> Batch:
    """Start the controller, warm it up, create the runs at once, follow them to the end,
    stop it. The caller stops it too (also when this raises)."""
    concurrency, timeout, say = work.concurrency, work.timeout, work.say
    c, runs, children = arm.controller, arm.runs, arm.children
    count = len(bodies)
    created_at: dict[str, float] = {}

    async def create(body: dict[str, Any]) -> None:
        await kube.create(runs.path, body)
        created_at[body["metadata"]["name"]] = time.monotonic()

    async with aiohttp.ClientSession() as session:
        c.start()
        say(f"{arm.name}: {arm.who}pid {c.pid}, log {c.log_path}")
        await arm.ready(session, 60.0)
        await arm.warm_up()
        idle_rss = c.memory()["VmRSS"]
        say(f"{arm.name}: warmed up; idle RSS {idle_rss / 2**20:.0f} MiB")
        recording = profile.Recording.begin(c.pid, profiling or profile.Profiling())
        if profiling and profiling.on and not recording.recorded:
            say(f"{arm.name}: py-spy not found; running without a profile")
        try:
            pids = {**work.pids, arm.process: c.pid, "bench": os.getpid()}
            baseline = await wait_quiet(c, session, 30.0, arm.metric)
            timeline: list[tuple[float, int]] = []
            stages: dict[str, dict[str, float] | None] | None = None
            async with tracking(runs, children):
                cpu_before = c.cpu_seconds()
                machine_before = cpu.Snapshot.take(pids)
                start = time.monotonic()
                sampler = asyncio.create_task(sample_memory(c, timeline, start))
                progress = asyncio.create_task(
                    report_progress(
                        say,
                        lambda: (
                            f"{arm.name}: {arm.runs_title} {runs.progress()} | "
                            f"{arm.children_title} {children.progress()}"
                        ),
                    )
                )
                try:
                    await c.guard(run_concurrently(bodies, create, concurrency))
                    created = time.monotonic()
                    say(f"{arm.name}: {count} {arm.runs_title} created in {created - start:.1f}s")
                    running = await c.guard(runs.wait("running", timeout))
                    # CPU while the cluster and the controller work; the pods' run time is
                    # idle.
                    cores = cpu.usage(machine_before, cpu.Snapshot.take(pids), running - start)
                    say(
                        f"{arm.name}: all {count} {arm.runs_title} Running after "
                        f"{running - start:.1f}s"
                    )
                    if arm.pipeline_namespace is not None:
                        await children.wait("running", 10.0)
                        stages = await pipeline.stages(
                            kube, arm.pipeline_namespace, children.times("running")
                        )
                    succeeded = await c.guard(runs.wait("succeeded", timeout))
                    say(
                        f"{arm.name}: all {count} {arm.runs_title} Succeeded after "
                        f"{succeeded - start:.1f}s"
                    )
                    # The children got there first; their trackers only need to catch up
                    # on events.
                    await children.wait("running", 10.0)
                    await children.wait("complete", 10.0)
                finally:
                    progress.cancel()
                    sampler.cancel()
                wall = time.monotonic() - start
                used = c.cpu_seconds() - cpu_before
            final = await wait_quiet(c, session, 30.0, arm.metric)
            # Kept for digging (reconcile time histogram, queue depth): <log>.metrics
            c.log_path.with_suffix(".metrics").write_text(final)
        finally:
            recording.end()
        peak = c.memory()["VmHWM"]
    exit_code = c.stop()
    return Batch(
        start=start,
        created=created,
        running=running,
        succeeded=succeeded,
        wall=wall,
        cpu=used,
        cores=cores,
        pipeline=stages,
        baseline=baseline,
        final=final,
        created_at=created_at,
        idle_rss=idle_rss,
        peak_rss=peak,
        recording=recording,
        exit_code=exit_code,
        timeline=timeline,
    )
