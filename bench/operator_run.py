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
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import process, profile, runtime, workload
from bench.arm import Arm, ArmResult, Work, measure
from bench.kube import Kube, create_namespace, resource_path
from bench.process import Controller, ControllerDied
from bench.process import delta as delta
from bench.process import sample_memory as sample_memory
from bench.process import samples as samples
from bench.track import (
    Spread,
    Tracker,
    job_progress,
    lags_of,
    owning_run,
    status_changes,
    trainingjob_progress,
)
from localcluster.ports import free_ports
from mlops_operator import API_VERSION

REQUESTS_METRIC = "mlops_operator_kube_requests_total"
RECONCILES_METRIC = "mlops_operator_reconcile_total"
WRITE_VERBS = frozenset({"create", "patch", "delete", "update"})


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


@dataclass(kw_only=True)
class OperatorResult(ArmResult):
    """Ours: its runs are TrainingJobs, their children Jobs (and the Jobs' pods)."""

    jobs_all_running_s: float
    jobs_all_complete_s: float
    jobs_running: Spread
    requests: Requests
    reconciles: dict[str, int]
    log_problems: int
    status_changes: dict[str, int]
    pipeline: dict[str, dict[str, float] | None]
    profile: str | None = None
    profile_raw: str | None = None

    def as_dict(self, count: int) -> dict[str, Any]:
        return {
            **self.times_dict(),
            "jobs_all_running_s": round(self.jobs_all_running_s, 2),
            "jobs_all_complete_s": round(self.jobs_all_complete_s, 2),
            "jobs_running": self.jobs_running.as_dict(),
            **self.process_dict(),
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
            "rss_timeline": self.timeline(),
        }


lags = lags_of


async def wait_quiet(
    op: Controller,
    session: aiohttp.ClientSession,
    limit: float,
    metric: str = REQUESTS_METRIC,
) -> str:
    """:func:`bench.process.wait_quiet`, by our operator's request counter unless told."""
    return await process.wait_quiet(op, session, limit, metric)


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


async def run_operator(
    kube: Kube,
    op: OperatorProcess,
    namespace: str,
    warm_namespace: str,
    work: Work,
    profiling: profile.Profiling | None = None,
) -> OperatorResult:
    """Start the operator, warm it up, create ``count`` TrainingJobs, follow them to the end.

    The caller stops ``op`` (also when this raises).
    """
    await create_namespace(kube, namespace)
    await create_namespace(kube, warm_namespace)
    count = work.count
    bodies = [workload.trainingjob(workload.name(i), work.pod_delay) for i in range(count)]
    tjs_path = resource_path(API_VERSION, workload.PLURAL, namespace)
    jobs_path = resource_path("batch/v1", "jobs", namespace)
    tjs = Tracker(kube, tjs_path, trainingjob_progress, count, keep_statuses=True)
    jobs = Tracker(kube, jobs_path, job_progress, count, key=owning_run)
    arm = Arm(
        name="operator",
        controller=op,
        who="",
        process="mlops-operator",
        runs=tjs,
        runs_title="TrainingJobs",
        children=jobs,
        children_title="Jobs",
        metric=REQUESTS_METRIC,
        ready=op.wait_healthy,
        warm_up=lambda: warm_up(kube, op, warm_namespace, 90.0),
        pipeline_namespace=namespace,
    )
    batch = await measure(arm, kube, bodies, work, profiling)
    assert batch.pipeline is not None
    reconciles = batch.counts(RECONCILES_METRIC)
    return OperatorResult(
        namespace=namespace,
        **batch.common(tjs, jobs),
        jobs_all_running_s=max(jobs.times("running").values()) - batch.start,
        jobs_all_complete_s=max(jobs.times("complete").values()) - batch.start,
        jobs_running=batch.spread(jobs.times("running")),
        requests=Requests.of(batch.counts(REQUESTS_METRIC)),
        reconciles={dict(k).get("result", "?"): int(v) for k, v in reconciles.items()},
        log_problems=count_log_problems(op.log_path),
        status_changes=dict(status_changes(tjs.statuses.values()).most_common()),
        pipeline=batch.pipeline,
        profile=batch.recording.svg,
        profile_raw=batch.recording.raw,
    )
