"""The floor: the operator's children created by a plain script, as fast as it can.

Whatever the operator does, its runs cannot start faster than the API server can store
their Services and Jobs, the Job controller can create the pods, the scheduler can bind
them and the (fake) kubelet can start them. This script does only the first of those,
with the operator's manifests, the operator's client library and the operator's
concurrency, and no decision-making at all: its times are what the cluster alone costs.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from bench import cpu, pipeline, workload
from bench.arm import Work
from bench.kube import Kube, create_namespace, resource_path, run_concurrently
from bench.track import (
    Spread,
    Tracker,
    job_progress,
    owning_run,
    report_progress,
    tracking,
    way_to,
)


@dataclass(frozen=True)
class FloorResult:
    """Seconds from the first create; spreads are over the N Jobs; ``cores`` are averages
    from the first create until all Jobs were running."""

    namespace: str
    created_s: float
    all_running_s: float
    all_complete_s: float
    running: Spread
    complete: Spread
    #: Per run, from the create of its Job returning to the Job running.
    way_to_running: Spread
    requests: int
    watch_events: int
    cores: dict[str, float]
    pipeline: dict[str, dict[str, float] | None]

    @property
    def overlapped(self) -> bool:
        """Whether some Job completed before the last one was running (pod delay too short
        to see "all running" as a state of its own)."""
        return self.complete.first < self.all_running_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "created_s": round(self.created_s, 2),
            "all_running_s": round(self.all_running_s, 2),
            "all_complete_s": round(self.all_complete_s, 2),
            "running": self.running.as_dict(),
            "complete": self.complete.as_dict(),
            "way_to_running": self.way_to_running.as_dict(),
            "running_overlapped_completion": self.overlapped,
            "requests": self.requests,
            "watch_events": self.watch_events,
            "cores_used": self.cores,
            "pipeline_s": self.pipeline,
        }


async def run_floor(
    kube: Kube,
    namespace: str,
    work: Work,
) -> FloorResult:
    """Create each run's children (today a Service and a Job) and wait until every Job
    ran and completed."""
    count, pod_delay, concurrency = work.count, work.pod_delay, work.concurrency
    timeout, say = work.timeout, work.say
    await create_namespace(kube, namespace)
    training = workload.defaults()
    runs = [
        (workload.name(i), workload.children(workload.name(i), namespace, pod_delay, training))
        for i in range(count)
    ]
    jobs = resource_path("batch/v1", "jobs", namespace)
    tracker = Tracker(kube, jobs, job_progress, count, key=owning_run)
    created_at: dict[str, float] = {}

    async def create(run: tuple[str, list[dict[str, Any]]]) -> None:
        # In the operator's order: the Service first, so pod DNS names exist at start.
        for manifest in run[1]:
            version, plural = workload.CHILD_COLLECTIONS[manifest["kind"]]
            await kube.create(resource_path(version, plural, namespace), manifest)
        created_at[run[0]] = time.monotonic()

    async with tracking(tracker):
        progress = asyncio.create_task(
            report_progress(say, lambda: f"floor: Jobs {tracker.progress()}")
        )
        try:
            pids = {**work.pids, "bench": os.getpid()}
            cpu_before = cpu.Snapshot.take(pids)
            start = time.monotonic()
            await run_concurrently(runs, create, concurrency)
            created = time.monotonic() - start
            say(f"floor: {count} runs' children created in {created:.1f}s")
            running = await tracker.wait("running", timeout) - start
            # CPU while the cluster works; the pods' run time after it is idle.
            cores = cpu.usage(cpu_before, cpu.Snapshot.take(pids), running)
            say(f"floor: all {count} Jobs running after {running:.1f}s")
            stages = await pipeline.stages(kube, namespace, tracker.times("running"))
            complete = await tracker.wait("complete", timeout) - start
            say(f"floor: all {count} Jobs complete after {complete:.1f}s")
        finally:
            progress.cancel()
    running_spread = Spread.of(tracker.times("running").values(), start)
    complete_spread = Spread.of(tracker.times("complete").values(), start)
    way = way_to(tracker.times("running"), created_at)
    assert running_spread is not None
    assert complete_spread is not None
    return FloorResult(
        namespace=namespace,
        created_s=created,
        all_running_s=running,
        all_complete_s=complete,
        running=running_spread,
        complete=complete_spread,
        way_to_running=way,
        requests=sum(len(children) for _, children in runs),
        watch_events=tracker.events,
        cores=cores,
        pipeline=stages,
    )
