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
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import profile
from bench.source import measured_commit
from bench.summary import ARMS, METRICS, TITLES, cell, median_record, verdict

REPORTS_DIR = Path(__file__).resolve().parent / "reports"
MiB = 2**20


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


def build(
    started: datetime,
    config: dict[str, Any],
    host: dict[str, Any],
    records: list[dict[str, Any]],
    summary: dict[str, Any],
    checks: list[dict[str, Any]],
    profile_summary: dict[str, Any] | None = None,
    code: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The training report: every repetition's record, the summary and the targets.
    ``code`` is :func:`code_version` taken when the benchmark started (the working tree
    may change during a long run); now, if not given."""
    report = {
        "benchmark": "trainingjob",
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": host,
        "code": code or code_version(),
        "config": config,
        "runs": records,
        "summary": summary,
        "targets": checks,
        # The cache test's targets shown here count in its own verdict.
        "passed": all(t["passed"] is not False for t in checks if "source" not in t),
        "profile": profile_summary,
    }
    report["file"] = report_name(report)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The human summary: setup, the arms side by side, targets, where the time went."""
    cfg, host, code = report["config"], report["machine"], report["code"]
    dirty = code["operator_uncommitted"]
    n, reps = cfg["count"], cfg["reps"]
    arms = [a for a in ARMS if a in report["summary"]]
    order = "; ".join(
        f"{i}: {', '.join(o)}" for i, o in enumerate(cfg.get("orders") or [], start=1)
    )
    lines = [
        "# TrainingJob benchmark: latest run",
        "",
        f"`python -m bench training --count {n} --reps {reps}"
        + ("" if arms == list(ARMS) else f" --arms {','.join(arms)}")
        + f"` (`make bench` runs N = 1000, 3 repetitions, all three arms), started "
        f"{report['started_at']}.",
        "",
        f"- **Machine**: {host['nproc']} CPUs ({host['cpu_model']}), "
        f"{host['memory_gib']} GiB memory, load average "
        f"{' / '.join(str(x) for x in host['load_average_at_start'])} at start "
        f"(other processes on the machine count too); Python {host['python']}, "
        f"Kubernetes {cfg['kubernetes']}.",
        f"- **Workload**: per arm N = {n} one-GPU runs created by {cfg['concurrency']} "
        f"concurrent workers; KWOK completes each pod {cfg['pod_delay']} after it runs; "
        f"{cfg['gpu_nodes']} fake nodes x {cfg['gpus_per_node']} GPUs, so all pods run at "
        "once. Each arm runs in a fresh namespace; before the next arm starts, the previous "
        "arm's controller is stopped and its namespaces are deleted and gone (its pods hold "
        "no capacity and the namespace controller is done).",
        "- **Arms**: *floor*: a script creating what our operator's first reconcile creates "
        "for each run (its Job, and a headless Service where it makes one: the floor's "
        "`create` row), no controller of ours. *Kubeflow peer*: training-operator "
        f"{cfg.get('peer_version', '?')} out of cluster, `--enable-scheme=pytorchjob "
        f"--controller-threads={cfg['workers']} --kube-api-qps={cfg.get('peer_qps', '?')} "
        f"--kube-api-burst={cfg.get('peer_burst', '?')}`, one PyTorchJob per run (1 Master, "
        "the same pod); it creates pods and a Service directly. *mlops-operator*: "
        f"`mlops-operator run --workers {cfg['workers']}`, one TrainingJob per run (it "
        "creates a Job, which creates the pod). Both controllers are warmed up with one run "
        "in another namespace first."
        + (" *The operator was profiled with py-spy (slower).*" if cfg.get("profiled") else ""),
        f"- **Repetitions**: {reps}, the arms' order rotated ({order}). Each cell: median "
        "(min-max) over the repetitions.",
        f"- **Code**: operator of commit {code['commit']}"
        + (" (`--operator-ref`, not the working tree)" if code.get("operator_ref") else "")
        + (f", with uncommitted changes to {', '.join(dirty)}" if dirty else "")
        + ".",
        "",
        "| seconds from each arm's first create | " + " | ".join(TITLES[a] for a in arms) + " |",
        "|---|" + "---:|" * len(arms),
    ]
    for key, label, decimals in METRICS:
        cells = [cell(report["summary"][a].get(key), decimals) for a in arms]
        if all(c == "-" for c in cells):
            continue
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Requests are each controller's own, by its client's counter (ours: "
        "`mlops_operator_kube_requests_total`, which leaves out kopf's watches; the peer's: "
        "`rest_client_requests_total`, where a GET is a get, a list or a watch); the floor's "
        "are the script's creates. CPU is the controller process's from the first create until "
        "all runs Succeeded; peak RSS is its `VmHWM` (its whole life, warm-up included).",
        "",
        "## Targets",
        "",
        "| target | limit | measured | result |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        lines.append(f"| {t['name']} | {t['limit']} | {t['measured']} | {verdict(t['passed'])} |")
    whys = [t for t in report["targets"] if t["why"]]
    if whys:
        lines.append("")
        lines.extend(f"- Why {t['name']} missed: {t['why']}." for t in whys)
    lines += ["", *_repetitions(report["runs"])]
    lines += _operator_detail(report["runs"], n)
    lines += _cores_table(report["runs"], arms)
    if report.get("profile"):
        lines += profile.markdown(
            report["profile"], f"the operator, over {report['profile'].get('runs', 1)} runs"
        )
    caveats = []
    overlapped = [
        f"{r['arm']} rep {r['rep']}"
        for r in report["runs"]
        if r["detail"].get("running_overlapped_completion")
    ]
    if overlapped:
        caveats.append(
            "some pods completed before the last one was running in "
            + ", ".join(overlapped)
            + ": raise --pod-delay so 'all Running' is a state of its own"
        )
    slow = [f"{r['arm']} rep {r['rep']}" for r in report["runs"] if r["cleanup_s"] is None]
    if slow:
        caveats.append(
            "the namespaces of " + ", ".join(slow) + " were still being deleted when the "
            "next arm started"
        )
    if caveats:
        lines += ["", *(f"- Caveat: {c}." for c in caveats)]
    lines += ["", f"Full report: `bench/reports/{report['file']}` (git-ignored).", ""]
    return "\n".join(lines)


def _repetitions(runs: list[dict[str, Any]]) -> list[str]:
    """One row per arm and repetition, in the order they ran."""
    lines = [
        "## Each repetition",
        "",
        "| rep | # | arm | all created | all Running | all Succeeded | way to Running p50 / "
        "p95 | CPU s | peak RSS MiB | namespace gone after (s) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(runs, key=lambda r: (r["rep"], r["position"])):
        cpu = "-" if r["cpu_s"] is None else f"{r['cpu_s']:.1f}"
        rss = "-" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f}"
        gone = "not gone" if r["cleanup_s"] is None else f"{r['cleanup_s']:.1f}"
        lines.append(
            f"| {r['rep']} | {r['position']} | {r['arm']} | {r['created_s']:.1f} "
            f"| {r['all_running_s']:.1f} | {r['all_succeeded_s']:.1f} "
            f"| {r['way_to_running_p50_s']:.1f} / {r['way_to_running_p95_s']:.1f} "
            f"| {cpu} | {rss} | {gone} |"
        )
    return [*lines, ""]


def _operator_detail(runs: list[dict[str, Any]], n: int) -> list[str]:
    """Where the operator's time and requests went, in its median repetition."""
    chosen = median_record(runs, "operator")
    if chosen is None:
        return []
    op = chosen["detail"]
    req = op["requests"]
    floor = median_record(runs, "floor")
    peer = median_record(runs, "peer")
    cluster = (
        f"- Cluster share: the operator's Jobs were all running at {op['jobs_all_running_s']:.1f}s"
    )
    if floor is not None:
        cluster += f" (floor, its median repetition: {floor['all_running_s']:.1f}s)"
    if peer is not None:
        cluster += (
            f"; the peer's pods were all running at {peer['detail']['pods_all_running_s']:.1f}s"
            f" and its PyTorchJobs' Running trailed their pod by p50 "
            f"{peer['detail']['status_lag_s']['p50']:.1f}s"
        )
    lines = [
        f"## Where the operator's time and requests go (repetition {chosen['rep']}: the "
        "median by all Running)",
        "",
        f"- Children: a TrainingJob's Job appeared p50 {op['children_lag_s']['p50']:.1f}s / "
        f"p95 {op['children_lag_s']['p95']:.1f}s / max {op['children_lag_s']['last']:.1f}s "
        "after the TrainingJob.",
        f"- Status: phase Running came p50 {op['status_lag_s']['p50']:.1f}s / p95 "
        f"{op['status_lag_s']['p95']:.1f}s / max {op['status_lag_s']['last']:.1f}s after its "
        f"Job's pods were ready; Succeeded p50 {op['completion_lag_s']['p50']:.1f}s / max "
        f"{op['completion_lag_s']['last']:.1f}s after the Job completed.",
        cluster + ".",
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
    lines.append("")
    stages_op = op.get("pipeline_s") or {}
    stages_floor = (floor or {}).get("detail", {}).get("pipeline_s") or {}
    lines += _pipeline_table(stages_floor, stages_op)
    return lines


def _cores_table(runs: list[dict[str, Any]], arms: list[str]) -> list[str]:
    """CPU cores used on average until all Running, by process, in each arm's median
    repetition, busiest first."""
    chosen = {a: median_record(runs, a) for a in arms}
    cores = {a: (r or {}).get("detail", {}).get("cores_used") or {} for a, r in chosen.items()}
    names = sorted(
        {k for c in cores.values() for k in c},
        key=lambda k: -max(c.get(k, 0.0) for c in cores.values()),
    )
    if not names:
        return []
    lines = [
        "| CPU cores used on average until all Running (median repetition) | "
        + " | ".join(TITLES[a] for a in arms)
        + " |",
        "|---|" + "---:|" * len(arms),
    ]
    for name in names:
        values = [cores[a].get(name) for a in arms]
        lines.append(
            f"| {name} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in values) + " |"
        )
    totals = " | ".join(f"{sum(cores[a].values()):.2f}" for a in arms)
    return [*lines, f"| **total** (of the machine's CPUs) | {totals} |", ""]


def _pipeline_table(floor: dict[str, Any], operator: dict[str, Any]) -> list[str]:
    """A pod's way to running, by the component owning each step (see bench.pipeline)."""
    if not floor and not operator:
        return []

    def stage_cell(spread: dict[str, float] | None) -> str:
        if not spread:
            return "-"
        return f"{spread['p50']:.1f} / {spread['p95']:.1f} / {spread['last']:.1f}"

    lines = [
        "| a pod's way to running, seconds p50 / p95 / max | floor | operator run |",
        "|---|---:|---:|",
    ]
    for stage in list(floor) or list(operator):
        lines.append(
            f"| {stage} | {stage_cell(floor.get(stage))} | {stage_cell(operator.get(stage))} |"
        )
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
    "cache": "TrainingJob cache test",
    "serving": "Serving benchmark",
    "retraining": "Retraining benchmark",
}
LATEST_TITLE = "# Benchmarks: latest runs"
LATEST_INTRO = (
    "`make bench` runs the benchmarks below, each on a fresh local cluster; "
    "`python -m bench training|cache|serving|retraining` runs one and replaces only its own "
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


def latest_json(kind: str, directory: Path = REPORTS_DIR) -> dict[str, Any] | None:
    """The newest ``<kind>-*.json`` report here (their names sort by time), or None."""
    found = sorted(directory.glob(f"{kind}-*.json"))
    if not found:
        return None
    try:
        loaded: dict[str, Any] = json.loads(found[-1].read_text())
    except (OSError, ValueError):
        return None
    loaded.setdefault("file", found[-1].name)
    return loaded


def publish(
    report: dict[str, Any],
    kind: str,
    markdown: Callable[[dict[str, Any]], str],
    say: Callable[[str], None],
    section: str | None = None,
) -> bool:
    """Write the report's JSON (``<kind>-*.json``), replace its section of LATEST.md
    (``section``, by default ``kind``) and print it; whether the report passed."""
    json_path = write_json(report, kind)
    text = markdown(report)
    name = section or kind
    latest = update_latest(name, text)
    print(text)
    say(f"{name}: wrote {json_path} and {latest}")
    return bool(report["passed"])
