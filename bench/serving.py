"""The serving benchmark: 200 ModelDeployments rolling a new model out by canary at once.

Set-up, as a user's cluster would look: 1,000 suspended TrainingJobs (children created,
no pods) sit in the operator's caches, then 200 ModelDeployments (2 replicas of a server
KWOK runs) are created with model v1 and become Healthy. Then all 200 are changed to v2
at once and roll out through::

    setWeight 50 -> pause 10s -> analysis -> setWeight 100 -> promote

with one analysis metric on the cluster's own Prometheus (``vector(0)``, inside its
range, so every measurement passes; interval 5s, so background measurements run while
the canary takes traffic).

Measured from outside, by watching (never by sleeping): each ModelDeployment's status
(when ``status.canary.stepIndex`` moved on, when the stable took v2) and each Deployment
(when the Deployment controller had the canary's pods ready). A step's time is split into
what the cluster did (the Deployment controller, the scheduler and KWOK starting pods,
for ``setWeight`` steps and the promotion) and what is left: the operator's overhead.
For the pause, the overhead is the time beyond the pause's end as ``status`` records it.
Analysis steps have no configured wait: all of it is overhead (two Prometheus queries,
one reconcile, one status write).

From the operator's own ``/metrics``: Prometheus queries per measurement (counted in
status: ``successes + failures + inconclusive`` per rollout), API requests by verb per
rollout, and its memory with all of it cached.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import cpu, workload
from bench.diagnose import (
    LoopLag,
    apiserver_latency,
    apiserver_totals,
    latency_table,
    reconcile_wall,
)
from bench.kube import Kube, create_namespace, resource_path, run_concurrently
from bench.operator_run import (
    RECONCILES_METRIC,
    REQUESTS_METRIC,
    OperatorProcess,
    Requests,
    count_log_problems,
    delta,
    sample_memory,
    samples,
    start_profiler,
    stop_profiler,
    wait_quiet,
)
from bench.report import code_line, machine_line
from bench.track import Spread, Tracker, report_progress, tracking
from mlops_operator import API_VERSION
from mlops_operator.api.keys import MODELDEPLOYMENT_LABEL
from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.core.serving.observed import deployment_state
from mlops_operator.core.serving.split import split

NAMESPACE = "bench-serving"
PLURAL = ModelDeployment.crd.plural
QUERIES_METRIC = "mlops_operator_prometheus_queries_total"
IMAGE = "registry.example/bench-server:1.0"
V1 = "s3://bench-models/m/v1"
V2 = "s3://bench-models/m/v2"
REPLICAS = 2
PAUSE_SECONDS = 10.0
INTERVAL = "5s"
QUERY = "vector(0)"
STEPS: tuple[dict[str, Any], ...] = (
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
    {"analysis": {}},
    {"setWeight": 100},
)
#: Queries one measurement runs: one metric, once per variant.
QUERIES_PER_MEASUREMENT = 2
#: The operator's overhead per step, p95.
MAX_STEP_OVERHEAD_P95 = 1.0
MiB = 2**20


def md_name(index: int) -> str:
    return f"md-{index:03d}"


def modeldeployment(name: str, model: str, prometheus: str) -> dict[str, Any]:
    """One ModelDeployment: 2 replicas of a server KWOK runs, the benchmark's canary."""
    return {
        "apiVersion": API_VERSION,
        "kind": ModelDeployment.crd.kind,
        "metadata": {"name": name},
        "spec": {
            "model": {"uri": model},
            "server": {"image": IMAGE, "port": 8080, "readinessPath": "/ready"},
            "replicas": REPLICAS,
            "rollout": {
                "canary": {
                    "steps": [dict(step) for step in STEPS],
                    "analysis": {
                        "interval": INTERVAL,
                        "failureLimit": 1,
                        "prometheus": {"address": prometheus},
                        "metrics": [
                            {"name": "errors", "query": QUERY, "thresholdRange": {"max": 0.01}}
                        ],
                    },
                }
            },
        },
    }


def suspended_trainingjob(name: str) -> dict[str, Any]:
    """A TrainingJob that is suspended from the start: a Service and a suspended Job, no pods."""
    body = workload.trainingjob(name, "1h")
    body["spec"]["suspend"] = True
    return body


# --- what the milestones are --------------------------------------------------------------


def step_milestone(done: int) -> str:
    """``step1`` .. ``step4``: the first time ``done`` steps were complete."""
    return f"step{done}"


def md_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A ModelDeployment's rollout: v1 served, the v2 canary's steps, v2 promoted."""
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "New")
    stable = (status.get("stable") or {}).get("model")
    canary = status.get("canary") or {}
    milestones = ["created"]
    if phase == "Degraded":
        return phase, [*milestones, "failed"]
    label = phase
    done = 0
    if canary.get("model") == V2:
        milestones.append("started")
        done = len(STEPS) if canary.get("promoting") else int(canary.get("stepIndex") or 0)
        label = "promoting" if canary.get("promoting") else f"at step {done + 1}"
    elif stable == V2 and not canary:
        milestones += ["started", "promoted"]
        done = len(STEPS)
        if phase == "Healthy":
            milestones.append("v2")
    elif stable == V1 and not canary and phase == "Healthy":
        milestones.append("v1")
    milestones += [step_milestone(k) for k in range(1, done + 1)]
    return label, milestones


def canary_milestone(weight: int) -> str:
    return f"canary@{weight}"


def deployment_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A Deployment of ours: when its pods were ready for a step, as the operator judges it
    (:meth:`DeploymentState.rolled_out`, the operator's own view of a Deployment)."""
    state = deployment_state(obj)
    milestones = []
    if state.variant == "canary" and state.model == V2:
        for step in STEPS:
            weight = step.get("setWeight")
            if weight is not None and state.rolled_out(split(REPLICAS, weight)):
                milestones.append(canary_milestone(weight))
    if state.variant == "stable" and state.rolled_out(REPLICAS):
        milestones.append(f"stable {'v2' if state.model == V2 else 'v1'}")
    return f"{state.variant} {state.ready}/{state.replicas}", milestones


def by_modeldeployment(obj: dict[str, Any]) -> str:
    labels = obj.get("metadata", {}).get("labels") or {}
    return str(labels.get(MODELDEPLOYMENT_LABEL) or obj["metadata"]["name"])


def trainingjob_suspended(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    phase = str((obj.get("status") or {}).get("phase") or "New")
    return phase, ["created", "suspended"] if phase == "Suspended" else ["created"]


# --- the numbers ----------------------------------------------------------------------------


def _wall(value: Any) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def measurements(history: Iterable[dict[str, Any]]) -> tuple[int, int, int]:
    """(measurements, failures, inconclusive) of the v2 canary, from its successive statuses.

    The counters only grow during one canary and the promoting status still carries them,
    so the largest seen is the rollout's total.
    """
    best = (0, 0, 0)
    for status in history:
        canary = status.get("canary") or {}
        if canary.get("model") != V2:
            continue
        analysis = canary.get("analysis") or {}
        ok, bad, none = (
            int(analysis.get(k) or 0) for k in ("successes", "failures", "inconclusive")
        )
        if ok + bad + none > best[0]:
            best = (ok + bad + none, bad, none)
    return best


def pause_started(history: Iterable[dict[str, Any]]) -> float | None:
    """``status.canary.stepStartedAt`` (epoch seconds) of the pause step, as written."""
    pause = next(i for i, step in enumerate(STEPS) if "pause" in step)
    for status in history:
        canary = status.get("canary") or {}
        if canary.get("model") == V2 and canary.get("stepIndex") == pause:
            return _wall(canary.get("stepStartedAt"))
    return None


def _diffs(
    later: Mapping[str, float], *earlier: Mapping[str, float], minus: float = 0.0
) -> list[float]:
    """Per ModelDeployment, ``later - max(earlier...) - minus``, where all are known."""
    out = []
    for key, end in later.items():
        starts = [e[key] for e in earlier if key in e]
        if len(starts) == len(earlier):
            out.append(end - max(starts) - minus)
    return out


def _spread(values: list[float]) -> dict[str, float] | None:
    spread = Spread.of(values, 0.0)
    return spread.as_dict() if spread else None


@dataclass(frozen=True)
class StepRow:
    """One row of the step table: a step's part, its spread, and whether it is the operator's."""

    name: str
    spread: dict[str, float] | None
    operator: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def step_rows(
    patched: Mapping[str, float],
    mds: Mapping[str, Mapping[str, float]],
    deps: Mapping[str, Mapping[str, float]],
    pause_ends: Mapping[str, float],
) -> list[StepRow]:
    """The step table: total, the cluster's share, the operator's share, per step.

    ``mds`` and ``deps`` are milestone -> {name: time}; ``pause_ends`` maps a name to the
    end of its pause per status (same clock).
    """
    s = {k: mds.get(step_milestone(k), {}) for k in range(1, len(STEPS) + 1)}
    started, promoted = mds.get("started", {}), mds.get("promoted", {})
    c50, c100 = deps.get(canary_milestone(50), {}), deps.get(canary_milestone(100), {})
    stable = deps.get("stable v2", {})
    return [
        StepRow(
            "rollout start: spec changed -> canary in status",
            _spread(_diffs(started, patched)),
            True,
            "from the benchmark's patch of spec.model (one reconcile, the canary "
            "Deployment's patch, one status write)",
        ),
        StepRow("1 setWeight 50: whole step", _spread(_diffs(s[1], started)), False),
        StepRow(
            "1 setWeight 50: canary pod start (cluster)",
            _spread(_diffs(c50, started)),
            False,
            "Deployment controller, scheduler, KWOK, Deployment status",
        ),
        StepRow(
            "1 setWeight 50: operator (pods ready -> step done)",
            _spread(_diffs(s[1], c50, started)),
            True,
        ),
        StepRow(
            "2 pause 10s: step time - 10s",
            _spread(_diffs(s[2], s[1], minus=PAUSE_SECONDS)),
            False,
            "as a user sees it, from the status write that showed the pause begun; the "
            "pause counts from stepStartedAt, the operator's decision time in whole seconds "
            "(up to 1s earlier), and that write can land seconds after the decision when the "
            "API server is slow, hence negative values",
        ),
        StepRow(
            "2 pause 10s: operator (pause end per status -> step done)",
            _spread(_diffs(s[2], pause_ends)),
            True,
        ),
        StepRow(
            "3 analysis: operator (whole step)",
            _spread(_diffs(s[3], s[2])),
            True,
            "2 queries, one reconcile, one status write; no configured wait",
        ),
        StepRow("4 setWeight 100: whole step", _spread(_diffs(s[4], s[3])), False),
        StepRow(
            "4 setWeight 100: canary pods start (cluster)",
            _spread(_diffs(c100, s[3])),
            False,
        ),
        StepRow(
            "4 setWeight 100: operator (pods ready -> step done)",
            _spread(_diffs(s[4], c100, s[3])),
            True,
        ),
        StepRow(
            "promotion: whole (last step -> v2 stable)", _spread(_diffs(promoted, s[4])), False
        ),
        StepRow(
            "promotion: stable rolling update (cluster)",
            _spread(_diffs(stable, s[4])),
            False,
        ),
        StepRow(
            "promotion: operator (stable rolled out -> promoted)",
            _spread(_diffs(promoted, stable, s[4])),
            True,
        ),
    ]


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What the serving benchmark runs."""

    deployments: int = 200
    trainingjobs: int = 1000
    concurrency: int = 16
    timeout: float = 300.0


async def run_serving(
    kube: Kube,
    op: OperatorProcess,
    prometheus: str,
    cfg: Settings,
    say: Callable[[str], None],
    pids: Mapping[str, int],
    profile: Path | None = None,
) -> dict[str, Any]:
    """Fill the caches, serve v1, roll v2 out everywhere at once; the measurements.

    The caller stops ``op`` (also when this raises).
    """
    await create_namespace(kube, NAMESPACE)
    md_path = resource_path(API_VERSION, PLURAL, NAMESPACE)
    tj_path = resource_path(API_VERSION, workload.PLURAL, NAMESPACE)
    tjs = Tracker(kube, tj_path, trainingjob_suspended, cfg.trainingjobs)
    mds = Tracker(kube, md_path, md_progress, cfg.deployments, keep_statuses=True)
    deps = Tracker(
        kube,
        resource_path("apps/v1", "deployments", NAMESPACE),
        deployment_progress,
        cfg.deployments,
        key=by_modeldeployment,
    )
    names = [md_name(i) for i in range(cfg.deployments)]
    out: dict[str, Any] = {"namespace": NAMESPACE}
    async with aiohttp.ClientSession() as session, tracking(tjs, mds, deps):
        op.start()
        say(f"serving: operator pid {op.pid}, log {op.log_path}")
        await op.wait_healthy(session, 60.0)
        out["idle_rss_bytes"] = op.memory()["VmRSS"]
        progress = asyncio.create_task(
            report_progress(
                say,
                lambda: (
                    f"serving: TrainingJobs {tjs.progress()} | ModelDeployments {mds.progress()}"
                ),
            )
        )
        try:
            # The TrainingJobs and the ModelDeployments are created side by side: only the
            # rollout afterwards is measured, and the set-up is what costs the time here.
            start = time.monotonic()

            async def create_tj(name: str) -> None:
                await kube.create(tj_path, suspended_trainingjob(name))

            async def create_md(name: str) -> None:
                await kube.create(md_path, modeldeployment(name, V1, prometheus))

            tj_names = [f"cached-{i:04d}" for i in range(cfg.trainingjobs)]
            await op.guard(
                asyncio.gather(
                    run_concurrently(tj_names, create_tj, cfg.concurrency),
                    run_concurrently(names, create_md, cfg.concurrency),
                )
            )
            suspended = await op.guard(tjs.wait("suspended", cfg.timeout)) - start
            say(f"serving: {cfg.trainingjobs} TrainingJobs Suspended after {suspended:.1f}s")
            out["trainingjobs_suspended_s"] = round(suspended, 1)
            healthy = await op.guard(mds.wait("v1", cfg.timeout)) - start
            say(f"serving: {cfg.deployments} ModelDeployments Healthy on v1 after {healthy:.1f}s")
            out["v1_healthy_s"] = round(healthy, 1)

            baseline = await wait_quiet(op, session, 60.0)
            scraped_before = time.monotonic()
            out["steady_rss_bytes"] = op.memory()["VmRSS"]
            say(
                f"serving: steady with {cfg.deployments} ModelDeployments + {cfg.trainingjobs} "
                f"TrainingJobs cached: RSS {out['steady_rss_bytes'] / MiB:.0f} MiB; rolling out v2"
            )
            spy = start_profiler(op.pid, profile) if profile else None
            timeline: list[tuple[float, int]] = []
            run_pids = {**pids, "mlops-operator": op.pid, "bench": os.getpid()}
            cpu_before, machine_before = op.cpu_seconds(), cpu.Snapshot.take(run_pids)
            start = time.monotonic()
            sampler = asyncio.create_task(sample_memory(op, timeline, start))
            lag = LoopLag(op, session)
            lagging = asyncio.create_task(lag.run())
            api_before = await apiserver_totals(kube)
            patched: dict[str, float] = {}

            async def to_v2(name: str) -> None:
                patched[name] = time.monotonic()
                await kube.patch(f"{md_path}/{name}", {"spec": {"model": {"uri": V2}}})

            try:
                # "At once": as many patches in flight as the client has connections.
                await op.guard(run_concurrently(names, to_v2, 50))
                say(f"serving: {len(names)} patched to v2 in {time.monotonic() - start:.1f}s")
                promoted = await op.guard(mds.wait("promoted", cfg.timeout)) - start
                say(f"serving: all promoted after {promoted:.1f}s")
                done = await op.guard(mds.wait("v2", cfg.timeout)) - start
                wall = time.monotonic() - start
                cores = cpu.usage(machine_before, cpu.Snapshot.take(run_pids), wall)
                used = op.cpu_seconds() - cpu_before
                say(f"serving: all Healthy on v2 after {done:.1f}s")
                api_after = await apiserver_totals(kube)
            finally:
                sampler.cancel()
                lagging.cancel()
                if spy is not None:
                    stop_profiler(spy)
            final = await wait_quiet(op, session, 60.0)
            scraped = time.monotonic() - scraped_before
            op.log_path.with_suffix(".metrics").write_text(final)
        finally:
            progress.cancel()
        out["peak_rss_bytes"] = op.memory()["VmHWM"]
        out["final_rss_bytes"] = op.memory()["VmRSS"]
    out["exit_code"] = op.stop()

    offset = time.time() - time.monotonic()
    md_times = {m: mds.times(m) for m in mds.first}
    dep_times = {m: deps.times(m) for m in deps.first}
    pause_ends = {}
    counted: dict[str, tuple[int, int, int]] = {}
    for name, history in mds.statuses.items():
        began = pause_started(history)
        if began is not None:
            pause_ends[name] = began + PAUSE_SECONDS - offset
        counted[name] = measurements(history)
    rows = step_rows(patched, md_times, dep_times, pause_ends)
    queries = delta(samples(baseline, QUERIES_METRIC), samples(final, QUERIES_METRIC))
    requests = Requests.of(
        delta(samples(baseline, REQUESTS_METRIC), samples(final, REQUESTS_METRIC))
    )
    reconciles = delta(samples(baseline, RECONCILES_METRIC), samples(final, RECONCILES_METRIC))
    total_measurements = sum(m for m, _, _ in counted.values())
    total_queries = int(sum(queries.values()))
    out.update(
        {
            "rollout_all_promoted_s": round(promoted, 1),
            "rollout_all_healthy_s": round(done, 1),
            "steps": [r.as_dict() for r in rows],
            "measurements": total_measurements,
            "measurements_per_rollout": _spread([float(m) for m, _, _ in counted.values()]),
            "measurement_failures": sum(f for _, f, _ in counted.values()),
            "measurement_inconclusive": sum(i for _, _, i in counted.values()),
            "prometheus_queries": total_queries,
            "prometheus_queries_by_result": {
                dict(k).get("result", "?"): int(v) for k, v in queries.items()
            },
            "queries_per_measurement": (
                round(total_queries / total_measurements, 3) if total_measurements else None
            ),
            "requests": {
                "total": requests.total,
                "writes": requests.writes,
                "writes_per_rollout": round(requests.writes / cfg.deployments, 2),
                "by_verb_resource": requests.by_verb_resource,
                "by_code": requests.by_code,
            },
            "reconciles": {
                f"{dict(k).get('controller', '?')} {dict(k).get('result', '?')}": int(v)
                for k, v in reconciles.items()
            },
            "cpu_seconds": round(used, 1),
            "wall_seconds": round(wall, 1),
            "cores_used": cores,
            "reconcile_wall": reconcile_wall(baseline, final, scraped),
            "loop_lag_s": lag.spread(),
            "apiserver_writes": apiserver_latency(api_before, api_after),
            "log_warnings_or_errors": count_log_problems(op.log_path),
            "watch_events": {"modeldeployments": mds.events, "deployments": deps.events},
            "profile": str(profile) if spy is not None else None,
            "rss_timeline": [(round(t, 1), b) for t, b in timeline],
        }
    )
    return out


# --- targets and the report section ---------------------------------------------------------


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """p95 of each operator part of a step < 1s; exactly 2 queries per measurement."""
    out = []
    steps = [r for r in result["steps"] if r["operator"] and r["spread"] and r["name"][0].isdigit()]
    worst = max(steps, key=lambda r: r["spread"]["p95"])
    p95 = worst["spread"]["p95"]
    out.append(
        {
            "name": "operator overhead per step, p95 (worst of the 4 steps)",
            "limit": f"< {MAX_STEP_OVERHEAD_P95:g} s",
            "measured": f"{p95:.2f} s ({worst['name']})",
            "passed": p95 < MAX_STEP_OVERHEAD_P95,
        }
    )
    qpm = result["queries_per_measurement"]
    out.append(
        {
            "name": "Prometheus queries per measurement",
            "limit": f"= {QUERIES_PER_MEASUREMENT} (1 metric x 2 variants)",
            "measured": "no measurement" if qpm is None else f"{qpm:g}",
            "passed": qpm == QUERIES_PER_MEASUREMENT,
        }
    )
    return out


def markdown(report: dict[str, Any]) -> str:
    """The serving section of ``LATEST.md``."""
    cfg, res = report["config"], report["result"]
    n = cfg["deployments"]
    req = res["requests"]

    def cell(spread: dict[str, float] | None) -> str:
        if not spread:
            return "- | - | - | -"
        return (
            f"{spread['first']:.2f} | {spread['p50']:.2f} | {spread['p95']:.2f} | "
            f"{spread['last']:.2f}"
        )

    lines = [
        "## Serving benchmark: latest run",
        "",
        f"`python -m bench serving`, started {report['started_at']}; {machine_line(report)}",
        "",
        f"- **Workload**: {cfg['trainingjobs']} suspended TrainingJobs (children, no pods) "
        f"cached first; then {n} ModelDeployments, {REPLICAS} replicas each (KWOK pods on "
        f"{cfg['cpu_nodes']} CPU nodes), serving v1; then all {n} changed to v2 at once "
        "(50 patches in flight). Steps: setWeight 50, pause 10s, analysis, setWeight 100; "
        f"analysis every {INTERVAL}, one metric `{QUERY}` (range max 0.01) on the cluster's own "
        f"Prometheus. Operator `--workers {cfg['workers']}`.",
        f"- **Code**: {code_line(report)}",
        f"- Set-up: {cfg['trainingjobs']} TrainingJobs Suspended in "
        f"{res['trainingjobs_suspended_s']:.1f}s; {n} ModelDeployments Healthy on v1 in "
        f"{res['v1_healthy_s']:.1f}s. Rollout: all promoted {res['rollout_all_promoted_s']:.1f}s "
        f"after the first patch, all Healthy on v2 at {res['rollout_all_healthy_s']:.1f}s.",
        "",
        "### Targets",
        "",
        "| target | limit | measured | result |",
        "|---|---|---|---|",
        *(
            f"| {t['name']} | {t['limit']} | {t['measured']} | "
            f"{'pass' if t['passed'] else '**MISS**'} |"
            for t in report["targets"]
        ),
        "",
        "### Per step, over the rollouts (seconds)",
        "",
        "Times come from the benchmark's watches of the ModelDeployments and Deployments "
        "(millisecond clock): a step is done when `status.canary.stepIndex` moves past it; "
        "the canary's pods are ready when its Deployment is rolled out as the operator "
        "judges it (replicas, observed generation, updated, ready). Rows in **bold** are the "
        "operator's own overhead; the others include the cluster starting pods.",
        "",
        "| step part | min | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in res["steps"]:
        name = f"**{row['name']}**" if row["operator"] else row["name"]
        lines.append(f"| {name} | {cell(row['spread'])} |")
    notes = [r for r in res["steps"] if r["note"]]
    lines += ["", *(f"- {r['name']}: {r['note']}." for r in notes)]
    by_result = ", ".join(
        f"{k} {v}" for k, v in sorted(res["prometheus_queries_by_result"].items())
    )
    per = res["measurements_per_rollout"] or {}
    lines += [
        "",
        "### Prometheus, API, memory, CPU",
        "",
        f"- Measurements: {res['measurements']} over {n} rollouts (per rollout p50 "
        f"{per.get('p50', 0):g}, min {per.get('first', 0):g}, max {per.get('last', 0):g}: the "
        "analysis step's own plus background ones every interval while the canary takes "
        f"traffic); failed {res['measurement_failures']}, inconclusive "
        f"{res['measurement_inconclusive']}. Prometheus queries: {res['prometheus_queries']} "
        f"({by_result}) = **{res['queries_per_measurement']} per measurement**.",
        f"- API requests during the rollout: {req['total']}, of which writes {req['writes']} "
        f"= **{req['writes_per_rollout']:.2f} writes per rollout**; by code "
        + ", ".join(f"{k}: {v}" for k, v in sorted(req["by_code"].items()))
        + ".",
        "",
        "| verb | resource | requests | per rollout |",
        "|---|---|---:|---:|",
    ]
    rows = sorted(
        ((v, r, c) for v, by in req["by_verb_resource"].items() for r, c in by.items()),
        key=lambda x: -x[2],
    )
    lines.extend(f"| {v} | {r} | {c} | {c / n:.2f} |" for v, r, c in rows)
    cores = res["cores_used"]
    lines += [
        "",
        f"- Operator memory with {n} ModelDeployments (and their {2 * n} Deployments, "
        f"{3 * n} Services) plus {cfg['trainingjobs']} TrainingJobs (and their Jobs and "
        f"Services) cached: RSS **{res['steady_rss_bytes'] / MiB:.0f} MiB** steady before "
        f"the rollout, peak {res['peak_rss_bytes'] / MiB:.0f} MiB (VmHWM, whole run), "
        f"{res['final_rss_bytes'] / MiB:.0f} MiB after; {res['idle_rss_bytes'] / MiB:.0f} MiB "
        "at start with empty caches.",
        f"- Operator CPU during the rollout: {res['cpu_seconds']:.1f}s in "
        f"{res['wall_seconds']:.1f}s ({100 * res['cpu_seconds'] / res['wall_seconds']:.0f}% of "
        "one core); cores used by process: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items(), key=lambda x: -x[1]))
        + ".",
        "- Reconciles during the rollout: "
        + ", ".join(f"{k} {v}" for k, v in sorted(res["reconciles"].items()))
        + f"; {res['log_warnings_or_errors']} warning/error log lines.",
        *_where(res, cfg["workers"]),
        "",
        f"Full report: `bench/reports/{report['file']}` (git-ignored).",
        "",
    ]
    return "\n".join(lines)


def _where(res: dict[str, Any], workers: int) -> list[str]:
    """Where a slow reconcile waited: the API server, or the operator's own event loop."""
    lines = []
    for controller, wall in sorted(res.get("reconcile_wall", {}).items()):
        lines.append(
            f"- Reconcile wall time ({controller}): mean {wall['mean_s']:.3f}s over "
            f"{wall['reconciles']}, {wall['over_1s']} over 1s (the operator's histogram; it "
            "includes waiting on the API server and on the event loop)"
            + (
                f"; on average {wall['busy_workers']:.1f} of the {workers} workers busy."
                if "busy_workers" in wall
                else "."
            )
        )
    lag = res.get("loop_lag_s")
    if lag:
        lines.append(
            f"- Operator event loop: `/healthz` (served by the same loop) answered in p50 "
            f"{lag['p50']:.3f}s / p95 {lag['p95']:.3f}s / max {lag['last']:.3f}s during the "
            "rollout."
        )
    table = latency_table(res.get("apiserver_writes") or [])
    return [*lines, "", *table] if table else lines
