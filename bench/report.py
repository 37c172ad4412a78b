"""Targets, and the two reports: full JSON per run, and a Markdown summary of the latest.

The JSON (``bench/reports/trainingjob-<UTC time>.json``, git-ignored) keeps everything
measured, for comparing runs. ``bench/reports/LATEST.md`` is committed: a reviewer sees the
numbers of the code being reviewed, and a diff of it shows what a change did to them.

Each target comes with its own "why" when it is missed, computed from the measurements
that split the time (children lag, status lag, the cluster's share), so the summary says
where to look rather than only that something is slow.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.floor import FloorResult
from bench.operator_run import WRITE_VERBS, OperatorResult
from bench.source import measured_commit

REPORTS_DIR = Path(__file__).resolve().parent / "reports"
MiB = 2**20

#: All-Running time of the operator, as a multiple of the floor's.
MAX_RUNNING_RATIO = 1.5
#: Peak RSS of the operator process.
MAX_PEAK_RSS = 250 * MiB
#: API writes (create + patch + delete + update) per TrainingJob.
MAX_WRITES_PER_TJ = 8.0


@dataclass(frozen=True)
class Config:
    """How the run was set up."""

    count: int
    pod_delay: str
    concurrency: int
    workers: int
    gpu_nodes: int
    gpus_per_node: int
    pods_per_node: int
    kubernetes: str
    cluster_up_s: float
    profiled: bool
    floor_cleanup_s: float | None


@dataclass(frozen=True)
class Target:
    """One target, its measurement and, when missed, why."""

    name: str
    limit: str
    measured: str
    passed: bool
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def machine(load_at_start: tuple[float, float, float]) -> dict[str, Any]:
    """What the numbers were measured on; the load average says whether others ran too."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(total_kib / 2**20, 1),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
        "python": sys.version.split()[0],
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and which operator files differed from it (others' work)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPORTS_DIR.parent.parent, capture_output=True, text=True
        )
        return done.stdout if done.returncode == 0 else ""

    measured = measured_commit()
    if measured is not None:
        return {"commit": measured[:12], "operator_uncommitted": [], "operator_ref": True}
    dirty = git("status", "--porcelain", "--", "operator", "crds")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or "?",
        "operator_uncommitted": [line[3:] for line in dirty.splitlines() if len(line) > 3],
    }


def targets(floor: FloorResult, op: OperatorResult, count: int) -> list[Target]:
    """The three targets, each with a reason when missed."""
    ratio = op.all_running_s / floor.all_running_s
    ratio_why = ""
    if ratio > MAX_RUNNING_RATIO:
        ratio_why = (
            f"TrainingJobs waited for their children p50 {op.children_lag.p50:.1f}s / max "
            f"{op.children_lag.last:.1f}s, and their phase trailed their Job's pods by p50 "
            f"{op.status_lag.p50:.1f}s / max {op.status_lag.last:.1f}s; the operator's Jobs "
            f"were all running at {op.jobs_all_running_s:.1f}s (floor {floor.all_running_s:.1f}s); "
            f"operator CPU {op.cpu_seconds:.0f}s in {op.wall_seconds:.0f}s "
            f"({100 * op.cpu_seconds / op.wall_seconds:.0f}% of one core)"
        )
    rss_why = ""
    if op.peak_rss_bytes >= MAX_PEAK_RSS:
        per_tj = (op.peak_rss_bytes - op.idle_rss_bytes) / count / 1024
        rss_why = (
            f"idle {op.idle_rss_bytes / MiB:.0f} MiB after warm-up, +{per_tj:.0f} KiB per "
            f"TrainingJob at {count} (caches of TrainingJobs, Jobs, pods, Services)"
        )
    writes = op.requests.writes / count
    writes_why = ""
    if writes > MAX_WRITES_PER_TJ:
        top = sorted(
            (
                (n / count, f"{verb} {resource}")
                for verb, resources in op.requests.by_verb_resource.items()
                if verb in WRITE_VERBS
                for resource, n in resources.items()
            ),
            reverse=True,
        )
        writes_why = "per TrainingJob: " + ", ".join(f"{what} {n:.2f}" for n, what in top)
    return [
        Target(
            "all Running, operator / floor",
            f"<= {MAX_RUNNING_RATIO}x",
            f"{ratio:.2f}x ({op.all_running_s:.1f}s / {floor.all_running_s:.1f}s)",
            ratio <= MAX_RUNNING_RATIO,
            ratio_why,
        ),
        Target(
            "operator peak RSS",
            f"< {MAX_PEAK_RSS // MiB} MiB",
            f"{op.peak_rss_bytes / MiB:.0f} MiB",
            op.peak_rss_bytes < MAX_PEAK_RSS,
            rss_why,
        ),
        Target(
            "API writes per TrainingJob",
            f"<= {MAX_WRITES_PER_TJ:g}",
            f"{writes:.2f}",
            writes <= MAX_WRITES_PER_TJ,
            writes_why,
        ),
    ]


def build(
    started: datetime,
    config: Config,
    host: dict[str, Any],
    floor: FloorResult,
    op: OperatorResult,
) -> dict[str, Any]:
    checks = targets(floor, op, config.count)
    return {
        "benchmark": "trainingjob",
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": host,
        "code": code_version(),
        "config": dict(config.__dict__),
        "floor": floor.as_dict(),
        "operator": op.as_dict(config.count),
        "ratios": {
            "all_running": round(op.all_running_s / floor.all_running_s, 3),
            "all_complete": round(op.all_succeeded_s / floor.all_complete_s, 3),
            "created": round(op.created_s / floor.created_s, 3),
        },
        "targets": [t.as_dict() for t in checks],
        "passed": all(t.passed for t in checks),
    }


def markdown(report: dict[str, Any]) -> str:
    """The human summary: setup, the two runs side by side, targets, where the time went."""
    cfg, host, fl, op = report["config"], report["machine"], report["floor"], report["operator"]
    code = report["code"]
    dirty = code["operator_uncommitted"]
    n = cfg["count"]
    req = op["requests"]
    lines = [
        "# TrainingJob benchmark: latest run",
        "",
        f"`python -m bench training --count {n}` (`make bench` runs N=1000), "
        f"started {report['started_at']}.",
        "",
        f"- **Machine**: {host['nproc']} CPUs ({host['cpu_model']}), "
        f"{host['memory_gib']} GiB memory, load average "
        f"{' / '.join(str(x) for x in host['load_average_at_start'])} at start "
        f"(other processes on the machine count too); Python {host['python']}, "
        f"Kubernetes {cfg['kubernetes']}.",
        f"- **Workload**: N = {n} TrainingJobs, 1 node x 1 GPU each; KWOK completes each pod "
        f"{cfg['pod_delay']} after it runs; {cfg['gpu_nodes']} fake nodes x "
        f"{cfg['gpus_per_node']} GPUs (max {cfg['pods_per_node']} pods each), so all pods "
        f"run at once.",
        f"- **Floor**: a script creating the operator's own Service + Job per run (from "
        f"`mlops_operator.core.training.builders`), kubernetes_asyncio with dict bodies, "
        f"{cfg['concurrency']} concurrent workers. **Operator**: `mlops-operator run "
        f"--workers {cfg['workers']}` in a fresh namespace, the {n} TrainingJobs created "
        f"by {cfg['concurrency']} concurrent workers."
        + (" *Profiled with py-spy (slower).*" if cfg["profiled"] else ""),
        f"- **Code**: operator of commit {code['commit']}"
        + (" (`--operator-ref`, not the working tree)" if code.get("operator_ref") else "")
        + (f", with uncommitted changes to {', '.join(dirty)}" if dirty else "")
        + ".",
        "",
        "| seconds from the first create | floor | operator | operator / floor |",
        "|---|---:|---:|---:|",
        f"| all created | {fl['created_s']:.1f} | {op['created_s']:.1f} "
        f"| {report['ratios']['created']:.2f}x |",
        f"| **all Running** (Jobs' pods ready / TrainingJob phase) | {fl['all_running_s']:.1f} "
        f"| {op['all_running_s']:.1f} | **{report['ratios']['all_running']:.2f}x** |",
        f"| all Complete / Succeeded | {fl['all_complete_s']:.1f} "
        f"| {op['all_succeeded_s']:.1f} | {report['ratios']['all_complete']:.2f}x |",
        f"| Running, p50 / p95 | {fl['running']['p50']:.1f} / {fl['running']['p95']:.1f} "
        f"| {op['running']['p50']:.1f} / {op['running']['p95']:.1f} | |",
        "",
        *_cores_table(fl.get("cores_used") or {}, op.get("cores_used") or {}),
        *_pipeline_table(fl.get("pipeline_s") or {}, op.get("pipeline_s") or {}),
        "## Targets",
        "",
        "| target | limit | measured | result |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        verdict = "pass" if t["passed"] else "**MISS**"
        lines.append(f"| {t['name']} | {t['limit']} | {t['measured']} | {verdict} |")
    whys = [t for t in report["targets"] if t["why"]]
    if whys:
        lines.append("")
        lines.extend(f"- Why {t['name']} missed: {t['why']}." for t in whys)
    lines += [
        "",
        "## Where the operator's time and requests go",
        "",
        f"- Children: a TrainingJob's Job appeared p50 {op['children_lag_s']['p50']:.1f}s / "
        f"p95 {op['children_lag_s']['p95']:.1f}s / max {op['children_lag_s']['last']:.1f}s "
        "after the TrainingJob.",
        f"- Status: phase Running came p50 {op['status_lag_s']['p50']:.1f}s / p95 "
        f"{op['status_lag_s']['p95']:.1f}s / max {op['status_lag_s']['last']:.1f}s after its "
        f"Job's pods were ready; Succeeded p50 {op['completion_lag_s']['p50']:.1f}s / max "
        f"{op['completion_lag_s']['last']:.1f}s after the Job completed.",
        f"- Cluster share: the operator's Jobs were all running at "
        f"{op['jobs_all_running_s']:.1f}s (floor: {fl['all_running_s']:.1f}s).",
        f"- Operator process: peak RSS {op['peak_rss_bytes'] / MiB:.0f} MiB (idle "
        f"{op['idle_rss_bytes'] / MiB:.0f} MiB), CPU {op['cpu_seconds']:.1f}s over the run "
        f"({100 * op['cpu_utilisation']:.0f}% of one core), reconciles "
        + ", ".join(f"{k} {v}" for k, v in sorted(op["reconciles"].items()))
        + f", {op['log_warnings_or_errors']} warning/error log lines.",
        f"- API requests: {req['total']} ({req['per_trainingjob']:.2f} per TrainingJob), of "
        f"which writes {req['writes']} ({req['writes_per_trainingjob']:.2f} per TrainingJob); "
        "by code " + ", ".join(f"{k}: {v}" for k, v in sorted(req["by_code"].items())) + ".",
        "",
        "| verb | resource | requests | per TrainingJob |",
        "|---|---|---:|---:|",
    ]
    rows = sorted(
        ((verb, res, c) for verb, by in req["by_verb_resource"].items() for res, c in by.items()),
        key=lambda r: -r[2],
    )
    lines.extend(f"| {verb} | {res} | {c} | {c / n:.2f} |" for verb, res, c in rows)
    changes = op.get("status_changes_seen") or {}
    if changes:
        lines += [
            "",
            f"TrainingJob status changes seen by the benchmark's watch "
            f"({sum(changes.values()) / n:.2f} per TrainingJob), by what changed:",
            "",
            "| what changed | times | per TrainingJob |",
            "|---|---:|---:|",
        ]
        lines.extend(f"| {what} | {c} | {c / n:.2f} |" for what, c in changes.items())
    caveats = []
    if fl["running_overlapped_completion"] or op["running_overlapped_completion"]:
        caveats.append(
            "some pods completed before the last one was running: raise --pod-delay so "
            "'all Running' is a state of its own"
        )
    if cfg["floor_cleanup_s"] is None:
        caveats.append("the floor's namespace was still being deleted during the operator run")
    if caveats:
        lines += ["", *(f"- Caveat: {c}." for c in caveats)]
    lines += ["", f"Full report: `bench/reports/{report_name(report)}` (git-ignored).", ""]
    return "\n".join(lines)


def _cores_table(floor: dict[str, float], operator: dict[str, float]) -> list[str]:
    """CPU cores used on average during each run, by process, busiest first."""
    names = sorted(set(floor) | set(operator), key=lambda k: -operator.get(k, 0.0))
    if not names:
        return []
    lines = [
        "| CPU cores used on average until all Running | floor | operator run |",
        "|---|---:|---:|",
    ]
    for name in names:
        f, o = floor.get(name), operator.get(name)
        lines.append(
            f"| {name} | {'-' if f is None else f'{f:.2f}'} | {'-' if o is None else f'{o:.2f}'} |"
        )
    total_f, total_o = sum(floor.values()), sum(operator.values())
    lines += [f"| **total** (of the machine's CPUs) | {total_f:.2f} | {total_o:.2f} |", ""]
    return lines


def _pipeline_table(floor: dict[str, Any], operator: dict[str, Any]) -> list[str]:
    """A pod's way to running, by the component owning each step (see bench.pipeline)."""
    if not floor and not operator:
        return []

    def cell(spread: dict[str, float] | None) -> str:
        if not spread:
            return "-"
        return f"{spread['p50']:.1f} / {spread['p95']:.1f} / {spread['last']:.1f}"

    lines = [
        "| a pod's way to running, seconds p50 / p95 / max | floor | operator run |",
        "|---|---:|---:|",
    ]
    for stage in list(floor) or list(operator):
        lines.append(f"| {stage} | {cell(floor.get(stage))} | {cell(operator.get(stage))} |")
    return [*lines, ""]


def report_name(report: dict[str, Any], kind: str = "trainingjob") -> str:
    stamp = report["started_at"].replace("-", "").replace(":", "")
    return f"{kind}-{stamp}.json"


def write(report: dict[str, Any], directory: Path = REPORTS_DIR) -> tuple[Path, Path, str]:
    """Write the JSON and the training section of LATEST.md; their paths and the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / report_name(report)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    latest = update_latest("training", text, directory)
    return json_path, latest, text


# --- LATEST.md: one section per benchmark ---------------------------------------------------

#: The sections of LATEST.md, in order, with the title a missing one gets.
SECTIONS = {
    "training": "TrainingJob benchmark",
    "serving": "Serving benchmark",
    "retraining": "Retraining benchmark",
}
LATEST_TITLE = "# Benchmarks: latest runs"
LATEST_INTRO = (
    "`make bench` runs the three benchmarks below, each on a fresh local cluster; "
    "`python -m bench training|serving|retraining` runs one and replaces only its own "
    "section here. This machine is shared: other processes' load is noise in every number "
    "(each section gives the load average at its start)."
)


def _begin(name: str) -> str:
    return f"<!-- bench:{name} -->"


def _end(name: str) -> str:
    return f"<!-- /bench:{name} -->"


def demote(text: str) -> str:
    """Every Markdown heading one level down (a report's ``#`` title becomes ``##``)."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def sections(text: str) -> dict[str, str]:
    """The sections of a LATEST.md, by name. A file from before sections existed is the
    training benchmark's report as a whole."""
    found: dict[str, str] = {}
    for name in SECTIONS:
        begin, end = text.find(_begin(name)), text.find(_end(name))
        if begin >= 0 and end > begin:
            found[name] = text[begin + len(_begin(name)) : end].strip("\n")
    if not found and text.startswith("# TrainingJob benchmark"):
        found["training"] = demote(text.strip("\n"))
    return found


def compose(parts: dict[str, str]) -> str:
    """LATEST.md from its sections (a missing one says how to produce it)."""
    lines = [LATEST_TITLE, "", LATEST_INTRO, ""]
    for name, title in SECTIONS.items():
        body = parts.get(name) or (
            f"## {title}\n\nNot run yet: `python -m bench {name}` (or `make bench`)."
        )
        lines += [_begin(name), body, _end(name), ""]
    return "\n".join(lines)


def update_latest(name: str, text: str, directory: Path = REPORTS_DIR) -> Path:
    """Replace section ``name`` of LATEST.md with ``text`` (a ``#`` title is demoted)."""
    latest = directory / "LATEST.md"
    try:
        parts = sections(latest.read_text())
    except OSError:
        parts = {}
    body = text.strip("\n")
    parts[name] = demote(body) if body.startswith("# ") else body
    latest.write_text(compose(parts))
    return latest


def write_json(report: dict[str, Any], kind: str, directory: Path = REPORTS_DIR) -> Path:
    """The full report of one benchmark, ``<kind>-<UTC time>.json`` (git-ignored)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / report_name(report, kind)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def machine_line(report: dict[str, Any]) -> str:
    """The machine and its load, in one sentence."""
    host = report["machine"]
    load = " / ".join(str(x) for x in host["load_average_at_start"])
    return (
        f"{host['nproc']} CPUs ({host['cpu_model']}), load average {load} at start "
        "(the machine is shared: other processes' load is noise in every number)."
    )


def code_line(report: dict[str, Any]) -> str:
    """The operator code measured."""
    code = report["code"]
    dirty = code["operator_uncommitted"]
    return (
        f"operator of commit {code['commit']}"
        + (" (`--operator-ref`, not the working tree)" if code.get("operator_ref") else "")
        + (f", with uncommitted changes to {', '.join(dirty)}" if dirty else "")
        + "."
    )
