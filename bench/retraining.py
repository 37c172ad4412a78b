"""The retraining benchmark: 500 RetrainPolicies watching drift every 10 s, then a breach.

Each policy's drift query reads its own series of a gauge the benchmark publishes
(:class:`localcluster.exporter.Exporter`, scraped by the cluster's own Prometheus every
second): ``max(bench_drift_score{policy="<name>"})``, threshold 0.5, ``for: 10s``,
``interval: 10s``. The runs it would start are suspended TrainingJobs (no pods).

1. **Quiet.** Every series holds 0.1, below the threshold, and nothing changes. After the
   first minute (the first evaluations write each policy's first value) a window of
   ``--window`` seconds is measured from the operator's own ``/metrics``: Prometheus
   queries per interval (one per policy is the contract), status patches of
   RetrainPolicies (none is the target: nothing changed), its CPU and memory.
2. **Breach.** A subset's series jump to 0.9 at once. Each of those policies opens a
   breach window at its next evaluation (``status.breachingSince``), and at the
   evaluation ``for`` later the breach has lasted ``for`` and a TrainingJob is created.

Reaction time, measured per policy: the operator evaluates each policy on a fixed grid
(every ``interval``, at an offset derived from its uid: the operator's own
:func:`~mlops_operator.core.retraining.triggers.next_evaluation`), so the benchmark knows to
the millisecond when each evaluation was due. The breach has lasted ``for`` at the
evaluation slot ``for`` after the one that opened the window (the slot whose evaluation
wrote ``breachingSince``). From that moment to the TrainingJob's appearance in the
benchmark's watch is the reaction time: the operator's lateness in running the due
evaluation, the query, the reconcile, the create and the watch's delivery. The TrainingJob's
``mlops.dev/trigger-time`` says which evaluation decided; a decision one or more
intervals later than due is counted apart (it would show as ~10 s). The API server's
whole-second ``creationTimestamp`` minus ``breachingSince + for`` is reported as a cross-check.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench import cpu
from bench.diagnose import LoopLag, reconcile_wall
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
from bench.serving import QUERIES_METRIC
from bench.track import Spread, Tracker, report_progress, tracking
from localcluster.exporter import Exporter
from localcluster.prometheus import PrometheusServer
from mlops_operator import API_VERSION
from mlops_operator.api.keys import RETRAINPOLICY_LABEL, TRIGGER_TIME_ANNOTATION
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.retraining.triggers import next_evaluation

NAMESPACE = "bench-retraining"
PLURAL = RetrainPolicy.crd.plural
METRIC = "bench_drift_score"
IMAGE = "registry.example/bench-trainer:1.0"
THRESHOLD = 0.5
QUIET_VALUE = 0.1
BREACH_VALUE = 0.9
INTERVAL_SECONDS = 10
FOR_SECONDS = 10
#: Reaction time beyond the evaluation that saw the breach last ``for``, p95.
MAX_REACTION_P95 = 1.0
MiB = 2**20


def policy_name(index: int) -> str:
    return f"rp-{index:03d}"


def query(name: str) -> str:
    return f'max({METRIC}{{policy="{name}"}})'


def retrainpolicy(name: str, prometheus: str) -> dict[str, Any]:
    """One policy: its own drift series, 10s interval and ``for``; suspended runs."""
    return {
        "apiVersion": API_VERSION,
        "kind": RetrainPolicy.crd.kind,
        "metadata": {"name": name},
        "spec": {
            "triggers": {
                "drift": {
                    "prometheus": {"address": prometheus},
                    "query": query(name),
                    "threshold": THRESHOLD,
                    "for": f"{FOR_SECONDS}s",
                    "interval": f"{INTERVAL_SECONDS}s",
                }
            },
            "trainingJobTemplate": {"spec": {"image": IMAGE, "suspend": True}},
        },
    }


def policy_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A policy: evaluated once (a value in status), breaching, triggered."""
    status = obj.get("status") or {}
    milestones = ["created"]
    if status.get("lastEvaluationTime"):
        milestones.append("evaluated")
    if status.get("breachingSince"):
        milestones.append("breaching")
    if status.get("activeTrainingJob") or status.get("lastTrigger"):
        milestones.append("triggered")
    return str(status.get("phase") or "New"), milestones


def by_policy(obj: dict[str, Any]) -> str:
    labels = obj.get("metadata", {}).get("labels") or {}
    return str(labels.get(RETRAINPOLICY_LABEL) or obj["metadata"]["name"])


def run_created(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    return "created", ["created"]


# --- the numbers ----------------------------------------------------------------------------


def epoch(value: Any) -> float | None:
    """An RFC 3339 time as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def slot_before(policy: RetrainPolicy, t: float) -> float:
    """The latest evaluation slot of ``policy`` strictly before epoch ``t``."""
    after = datetime.fromtimestamp(t - INTERVAL_SECONDS, UTC)
    slot = next_evaluation(policy, after)
    assert slot is not None
    if slot.timestamp() >= t:
        slot -= timedelta(seconds=INTERVAL_SECONDS)
    return slot.timestamp()


def first_breach(history: Iterable[dict[str, Any]]) -> float | None:
    """The first ``breachingSince`` (epoch seconds) a policy's statuses showed."""
    for status in history:
        since = epoch(status.get("breachingSince"))
        if since is not None:
            return since
    return None


@dataclass(frozen=True)
class Reaction:
    """One breached policy: when its breach had lasted ``for``, and when its run appeared."""

    name: str
    lasted_for: float
    """The evaluation slot ``for`` after the one that opened the window (epoch seconds)."""
    decided: float
    """The slot of the evaluation that started the run (from its trigger time)."""
    seen: float
    """When the benchmark's watch saw the TrainingJob (epoch seconds, ms precision)."""
    server: float | None
    """``creationTimestamp - (breachingSince + for)``, whole seconds."""

    @property
    def reaction(self) -> float:
        return self.seen - self.lasted_for

    @property
    def beyond_decision(self) -> float:
        return self.seen - self.decided

    @property
    def late_evaluations(self) -> int:
        return round((self.decided - self.lasted_for) / INTERVAL_SECONDS)


def reaction(
    policy: RetrainPolicy, history: list[dict[str, Any]], run: dict[str, Any], seen: float
) -> Reaction | None:
    """The :class:`Reaction` of one policy, from its statuses and its run."""
    since = first_breach(history)
    if since is None:
        return None
    # The evaluation that opened the window ran in the second breachingSince names.
    opened = slot_before(policy, since + 1.0)
    meta = run.get("metadata") or {}
    trigger = epoch((meta.get("annotations") or {}).get(TRIGGER_TIME_ANNOTATION))
    created = epoch(meta.get("creationTimestamp"))
    decided = slot_before(policy, trigger + 1.0) if trigger is not None else seen
    return Reaction(
        name=policy.metadata.name or "",
        lasted_for=opened + FOR_SECONDS,
        decided=decided,
        seen=seen,
        server=None if created is None else created - (since + FOR_SECONDS),
    )


def _spread(values: Iterable[float]) -> dict[str, float] | None:
    spread = Spread.of(values, 0.0)
    return spread.as_dict() if spread else None


def _counter(text_before: str, text_after: str, metric: str) -> dict[str, int]:
    """A counter's increase by its label values, e.g. ``retrainpolicy requeue``."""
    return {
        " ".join(v for _, v in labels): int(value)
        for labels, value in delta(
            samples(text_before, metric), samples(text_after, metric)
        ).items()
    }


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What the retraining benchmark runs."""

    policies: int = 500
    breach: int = 100
    settle: float = 60.0
    window: float = 120.0
    concurrency: int = 16
    timeout: float = 120.0


async def run_retraining(
    kube: Kube,
    op: OperatorProcess,
    prometheus: PrometheusServer,
    cfg: Settings,
    say: Callable[[str], None],
    pids: Mapping[str, int],
    profile: Path | None = None,
) -> dict[str, Any]:
    """The quiet window, then the breach; the measurements. The caller stops ``op``."""
    names = [policy_name(i) for i in range(cfg.policies)]
    step = max(1, cfg.policies // max(1, cfg.breach))
    breaching = names[::step][: cfg.breach]
    exporter = Exporter().start()
    try:
        for name in names:
            exporter.set(METRIC, QUIET_VALUE, {"policy": name})
        await asyncio.to_thread(exporter.register, prometheus)
        await asyncio.to_thread(exporter.wait_scraped, query(names[-1]), QUIET_VALUE)
        say(f"retraining: exporter {exporter.address} scraped by {prometheus.url}")
        return await _run(
            kube, op, prometheus.url, exporter, cfg, names, breaching, say, pids, profile
        )
    finally:
        exporter.close()


async def _run(
    kube: Kube,
    op: OperatorProcess,
    prometheus: str,
    exporter: Exporter,
    cfg: Settings,
    names: list[str],
    breaching: list[str],
    say: Callable[[str], None],
    pids: Mapping[str, int],
    profile: Path | None,
) -> dict[str, Any]:
    await create_namespace(kube, NAMESPACE)
    rp_path = resource_path(API_VERSION, PLURAL, NAMESPACE)
    tj_path = resource_path(API_VERSION, TrainingJob.crd.plural, NAMESPACE)
    rps = Tracker(kube, rp_path, policy_progress, cfg.policies, keep_statuses=True)
    runs = Tracker(kube, tj_path, run_created, len(breaching), key=by_policy)
    out: dict[str, Any] = {"namespace": NAMESPACE, "breaching": len(breaching)}
    run_pids = {**pids, "mlops-operator": 0, "bench": os.getpid()}
    async with aiohttp.ClientSession() as session, tracking(rps, runs):
        op.start()
        run_pids["mlops-operator"] = op.pid
        say(f"retraining: operator pid {op.pid}, log {op.log_path}")
        await op.wait_healthy(session, 60.0)
        out["idle_rss_bytes"] = op.memory()["VmRSS"]
        progress = asyncio.create_task(
            report_progress(say, lambda: f"retraining: policies {rps.progress()}", every=15.0)
        )
        spy = None
        try:

            async def create(name: str) -> None:
                await kube.create(rp_path, retrainpolicy(name, prometheus))

            start = time.monotonic()
            await op.guard(run_concurrently(names, create, cfg.concurrency))
            created = time.monotonic()
            say(f"retraining: {cfg.policies} policies created in {created - start:.1f}s")
            evaluated = await op.guard(rps.wait("evaluated", cfg.timeout)) - start
            say(f"retraining: every policy evaluated once after {evaluated:.1f}s")
            out["created_s"] = round(created - start, 1)
            out["all_evaluated_s"] = round(evaluated, 1)
            listing = await kube.list(rp_path)
            policies = {
                p["metadata"]["name"]: RetrainPolicy.model_validate(p) for p in listing["items"]
            }

            # --- quiet ---
            await op.guard(asyncio.sleep(max(0.0, created + cfg.settle - time.monotonic())))
            timeline: list[tuple[float, int]] = []
            before = await op.scrape(session)
            # Distinct statuses seen so far (BOOKMARK events and no-op writes add none).
            changes_before = sum(len(h) for h in rps.statuses.values())
            cpu_before, machine_before = op.cpu_seconds(), cpu.Snapshot.take(run_pids)
            quiet_start = time.monotonic()
            sampler = asyncio.create_task(sample_memory(op, timeline, quiet_start))
            quiet_lag = LoopLag(op, session)
            lagging = asyncio.create_task(quiet_lag.run())
            say(f"retraining: quiet window of {cfg.window:.0f}s starts")
            spy = start_profiler(op.pid, profile) if profile else None
            try:
                await op.guard(asyncio.sleep(cfg.window))
            finally:
                sampler.cancel()
                lagging.cancel()
            after = await op.scrape(session)
            window = time.monotonic() - quiet_start
            used = op.cpu_seconds() - cpu_before
            cores = cpu.usage(machine_before, cpu.Snapshot.take(run_pids), window)
            quiet_changes = sum(len(h) for h in rps.statuses.values()) - changes_before
            quiet_rss = op.memory()["VmRSS"]

            # --- breach ---
            say(f"retraining: {len(breaching)} policies breach now")
            breach_wall = time.time()
            breach_mono = time.monotonic()
            breach_lag = LoopLag(op, session)
            lagging = asyncio.create_task(breach_lag.run())
            for name in breaching:
                exporter.set(METRIC, BREACH_VALUE, {"policy": name})
            try:
                await op.guard(runs.wait("created", cfg.timeout))
            finally:
                lagging.cancel()
            took = time.monotonic() - breach_mono
            say(f"retraining: {len(breaching)} TrainingJobs after {took:.1f}s")
            final = await wait_quiet(op, session, 30.0)
            breach_seconds = time.monotonic() - breach_mono
            op.log_path.with_suffix(".metrics").write_text(final)
            bodies = {by_policy(r): r for r in (await kube.list(tj_path))["items"]}
        finally:
            progress.cancel()
            if spy is not None:
                stop_profiler(spy)
        out["peak_rss_bytes"] = op.memory()["VmHWM"]
    out["exit_code"] = op.stop()

    offset = time.time() - time.monotonic()
    seen = runs.times("created")
    reactions = [
        r
        for name in breaching
        if name in seen
        and name in bodies
        and (
            r := reaction(
                policies[name], rps.statuses.get(name, []), bodies[name], seen[name] + offset
            )
        )
        is not None
    ]
    queries = delta(samples(before, QUERIES_METRIC), samples(after, QUERIES_METRIC))
    total_queries = int(sum(queries.values()))
    intervals = window / INTERVAL_SECONDS
    quiet_requests = Requests.of(
        delta(samples(before, REQUESTS_METRIC), samples(after, REQUESTS_METRIC))
    )
    status_patches = quiet_requests.by_verb_resource.get("patch", {}).get(PLURAL, 0)
    breach_requests = Requests.of(
        delta(samples(after, REQUESTS_METRIC), samples(final, REQUESTS_METRIC))
    )
    on_time = [r for r in reactions if r.late_evaluations == 0]
    out.update(
        {
            "window_s": round(window, 1),
            "prometheus_queries": total_queries,
            "prometheus_queries_by_result": {
                dict(k).get("result", "?"): int(v) for k, v in queries.items()
            },
            "queries_per_interval": round(total_queries / intervals, 1),
            "queries_per_policy_per_interval": round(total_queries / intervals / cfg.policies, 3),
            "status_patches": status_patches,
            "status_patches_per_policy_per_hour": round(
                status_patches / cfg.policies * 3600 / window, 3
            ),
            "quiet_status_changes_seen": quiet_changes,
            "quiet_requests": {
                "total": quiet_requests.total,
                "by_verb_resource": quiet_requests.by_verb_resource,
            },
            "quiet_reconciles": _counter(before, after, RECONCILES_METRIC),
            "quiet_reconcile_wall": reconcile_wall(before, after, window),
            "quiet_loop_lag_s": quiet_lag.spread(),
            "breach_reconcile_wall": reconcile_wall(after, final, breach_seconds),
            "breach_loop_lag_s": breach_lag.spread(),
            "quiet_cpu_seconds": round(used, 2),
            "quiet_cores_used": cores,
            "quiet_rss_bytes": quiet_rss,
            "rss_timeline": [(round(t, 1), b) for t, b in timeline],
            "reactions": len(reactions),
            "reaction_s": _spread(r.reaction for r in reactions),
            "reaction_on_time_s": _spread(r.reaction for r in on_time),
            "beyond_decision_s": _spread(r.beyond_decision for r in reactions),
            "late_evaluations": {
                str(k): sum(1 for r in reactions if r.late_evaluations == k)
                for k in sorted({r.late_evaluations for r in reactions})
            },
            "server_reaction_s": _spread(r.server for r in reactions if r.server is not None),
            "from_gauge_change_s": _spread(r.seen - breach_wall for r in reactions),
            "breach_requests": {
                "total": breach_requests.total,
                "by_verb_resource": breach_requests.by_verb_resource,
            },
            "log_warnings_or_errors": count_log_problems(op.log_path),
            "profile": str(profile) if spy is not None else None,
        }
    )
    return out


# --- targets and the report section ---------------------------------------------------------


def targets(result: dict[str, Any], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    qpi = result["queries_per_policy_per_interval"]
    writes = result["status_patches_per_policy_per_hour"]
    reaction = result["reaction_s"] or {}
    p95 = reaction.get("p95")
    return [
        {
            "name": "reaction: breach lasted `for` -> TrainingJob, p95",
            "limit": f"< {MAX_REACTION_P95:g} s",
            "measured": "none measured" if p95 is None else f"{p95:.2f} s",
            "passed": p95 is not None and p95 < MAX_REACTION_P95,
        },
        {
            "name": "Prometheus queries per policy per interval",
            "limit": "= 1",
            "measured": f"{qpi:.3f} ({result['queries_per_interval']:.1f} per interval)",
            # The window does not start on an interval's edge: allow one query per policy.
            "passed": abs(qpi - 1.0) * result["window_s"] / INTERVAL_SECONDS <= 1.0,
        },
        {
            "name": "status writes per policy per hour while nothing changes",
            "limit": "0",
            "measured": f"{writes:g} ({result['status_patches']} patches in "
            f"{result['window_s']:.0f}s)",
            "passed": result["status_patches"] == 0,
        },
    ]


def markdown(report: dict[str, Any]) -> str:
    """The retraining section of ``LATEST.md``."""
    cfg, res = report["config"], report["result"]
    n = cfg["policies"]

    def cell(spread: dict[str, float] | None) -> str:
        if not spread:
            return "- | - | - | -"
        return (
            f"{spread['first']:.2f} | {spread['p50']:.2f} | {spread['p95']:.2f} | "
            f"{spread['last']:.2f}"
        )

    cores = res["quiet_cores_used"]
    late = ", ".join(f"{k} late: {v}" for k, v in res["late_evaluations"].items())
    lines = [
        "## Retraining benchmark: latest run",
        "",
        f"`python -m bench retraining`, started {report['started_at']}; {machine_line(report)}",
        "",
        f"- **Workload**: {n} RetrainPolicies, each with its own drift series "
        f'`max({METRIC}{{policy="<name>"}})` (a gauge the benchmark publishes, scraped by '
        f"the cluster's own Prometheus every 1s), threshold {THRESHOLD:g}, "
        f"`for: {FOR_SECONDS}s`, `interval: {INTERVAL_SECONDS}s`; runs are suspended "
        f"TrainingJobs. Quiet: every series at {QUIET_VALUE:g}. Breach: "
        f"{res['breaching']} of them (every {max(1, n // max(1, res['breaching']))}th) set to "
        f"{BREACH_VALUE:g} at once. Operator `--workers {cfg['workers']}`.",
        f"- **Code**: {code_line(report)}",
        f"- Set-up: {n} policies created in {res['created_s']:.1f}s, each evaluated once "
        f"(first value in status) {res['all_evaluated_s']:.1f}s after the first create. The "
        f"quiet window starts {cfg['settle']:.0f}s after the last create and lasts "
        f"{res['window_s']:.0f}s.",
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
        "### Quiet window",
        "",
        f"- Prometheus queries: {res['prometheus_queries']} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(res["prometheus_queries_by_result"].items()))
        + f") in {res['window_s']:.0f}s = {res['queries_per_interval']:.1f} per "
        f"{INTERVAL_SECONDS}s interval = **{res['queries_per_policy_per_interval']:.3f} per "
        "policy per interval**.",
        f"- Status patches of RetrainPolicies: **{res['status_patches']}** "
        f"({res['status_patches_per_policy_per_hour']:g} per policy per hour); the "
        f"benchmark's watch saw {res['quiet_status_changes_seen']} status changes. All API "
        f"requests in the window: {_requests(res['quiet_requests'])}.",
        f"- Operator: CPU {res['quiet_cpu_seconds']:.1f}s in {res['window_s']:.0f}s "
        f"(**{100 * res['quiet_cpu_seconds'] / res['window_s']:.1f}% of one core**), RSS "
        f"**{res['quiet_rss_bytes'] / MiB:.0f} MiB** at the end of the window (peak "
        f"{res['peak_rss_bytes'] / MiB:.0f} MiB over the run, {res['idle_rss_bytes'] / MiB:.0f} "
        "MiB at start). Cores used by process: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items(), key=lambda x: -x[1]))
        + ". Reconciles: "
        + (", ".join(f"{k} {v}" for k, v in sorted(res["quiet_reconciles"].items())) or "none")
        + ".",
        "",
        "### Reaction to a breach (seconds)",
        "",
        "How it is measured: the operator evaluates each policy on a fixed grid (every "
        "interval, at an offset from its uid; the benchmark computes the slots with the "
        "operator's own `next_evaluation`). The breach has lasted `for` at the slot `for` after "
        "the one whose evaluation wrote `breachingSince`; the reaction runs from that slot to "
        "the moment the benchmark's watch saw the TrainingJob (millisecond clock). It "
        "includes the operator's lateness in running the due evaluation, the query, the "
        "reconcile, the create and the watch's delivery.",
        "",
        "| | n | min | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|---:|",
        f"| **breach lasted `for` -> TrainingJob seen** | {res['reactions']} | "
        f"{cell(res['reaction_s'])} |",
        f"| deciding evaluation's slot -> TrainingJob seen | {res['reactions']} | "
        f"{cell(res['beyond_decision_s'])} |",
        f"| API server's `creationTimestamp - (breachingSince + for)`, whole seconds | "
        f"{res['reactions']} | {cell(res['server_reaction_s'])} |",
        f"| gauge changed -> TrainingJob seen (includes up to one interval of sampling, "
        f"the scrape and `for`) | {res['reactions']} | {cell(res['from_gauge_change_s'])} |",
        "",
        f"- Runs decided at the evaluation where the breach had lasted `for` vs later ones "
        f"(in intervals): {late or 'none'}.",
        *_where(res, cfg["workers"]),
        f"- {res['log_warnings_or_errors']} warning/error log lines.",
        "",
        f"Full report: `bench/reports/{report['file']}` (git-ignored).",
        "",
    ]
    return "\n".join(lines)


def _requests(requests: dict[str, Any]) -> str:
    """``12 (get trainingjobs 10, patch retrainpolicies 2)``, or ``none``."""
    if not requests["total"]:
        return "none"
    parts = [
        f"{verb} {resource} {count}"
        for verb, by in requests["by_verb_resource"].items()
        for resource, count in by.items()
    ]
    return f"{requests['total']} ({', '.join(parts)})"


def _where(res: dict[str, Any], workers: int) -> list[str]:
    """The operator's reconcile wall time and event-loop lag, quiet and during the breach."""
    lines = []
    for phase in ("quiet", "breach"):
        walls = res.get(f"{phase}_reconcile_wall") or {}
        lag = res.get(f"{phase}_loop_lag_s")
        parts = [
            f"{controller} reconciles {wall['reconciles']}, mean wall time "
            f"{wall['mean_s']:.3f}s, {wall['over_1s']} over 1s"
            + (
                f", {wall['busy_workers']:.1f} of {workers} workers busy"
                if "busy_workers" in wall
                else ""
            )
            for controller, wall in sorted(walls.items())
        ]
        if lag:
            parts.append(
                f"`/healthz` (same event loop) answered in p50 {lag['p50']:.3f}s / p95 "
                f"{lag['p95']:.3f}s / max {lag['last']:.3f}s"
            )
        if parts:
            lines.append(f"- Operator, {phase}: " + "; ".join(parts) + ".")
    return lines
