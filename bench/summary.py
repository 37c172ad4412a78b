"""The training benchmark's arithmetic: arm order, one record per arm and repetition,
medians with min-max over repetitions, and the targets. Pure: dicts in, dicts out.

This machine is shared and has 2 cores, so one run of an arm says little; the benchmark
runs every arm several times, rotating their order (a later arm must not always find the
cluster warmer, or its etcd bigger), and compares medians. The spread (min-max) is
reported next to each median, so a difference inside the noise reads as such.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

ARMS = ("floor", "peer", "operator")
TITLES = {
    "floor": "floor (our operator's children, plain client)",
    "peer": "Kubeflow training operator",
    "operator": "mlops-operator",
}
MiB = 2**20
WRITE_VERBS = ("create", "update", "patch", "delete")
READS = "get/list/watch"
VERBS = (*WRITE_VERBS, READS)

#: (key, label, decimals): the metrics of every arm, in report order.
METRICS: tuple[tuple[str, str, int], ...] = (
    ("created_s", "all created (s)", 1),
    ("all_running_s", "**all Running** (s)", 1),
    ("all_succeeded_s", "all Succeeded (s)", 1),
    ("way_to_running_p50_s", "a run's way to Running, p50 (s)", 1),
    ("way_to_running_p95_s", "a run's way to Running, p95 (s)", 1),
    ("cpu_s", "controller CPU (s)", 1),
    ("cpu_ms_per_run", "controller CPU per run (ms)", 1),
    ("peak_rss_mib", "controller peak RSS (MiB)", 0),
    ("requests_per_run", "controller API requests per run", 2),
    ("writes_per_run", "of which writes", 2),
    *((f"per_run.{verb}", f"- {verb}", 2) for verb in VERBS),
)

# --- the targets (issue "TrainingJob at scale") ----------------------------------------------

#: All Running: operator median / peer median, and / floor median.
MAX_RUNNING_VS_PEER = 1.15
MAX_RUNNING_VS_FLOOR = 1.25
#: All Succeeded: operator median / peer median ("at or ahead of the peer's").
MAX_SUCCEEDED_VS_PEER = 1.0
#: Operator CPU per run / peer's.
MAX_CPU_VS_PEER = 2.0
#: Operator peak RSS at N = 1,000.
MAX_PEAK_RSS_MIB = 150
#: API writes per single-node TrainingJob.
MAX_WRITES_PER_RUN = 6.0


def arm_order(arms: Sequence[str], rep: int) -> list[str]:
    """The arms of repetition ``rep`` (0-based): the list rotated left by ``rep``, so over
    as many repetitions as arms each arm runs once in each position."""
    if not arms:
        return []
    shift = rep % len(arms)
    return [*arms[shift:], *arms[:shift]]


def _verbs(by_verb: dict[str, int]) -> dict[str, int]:
    """Fold verbs into :data:`VERBS` (get, list and watch are one: the peer's metric cannot
    tell them apart)."""
    out = dict.fromkeys(VERBS, 0)
    for verb, n in by_verb.items():
        out[verb if verb in WRITE_VERBS else READS] += n
    return out


def operator_verbs(by_verb_resource: dict[str, dict[str, int]]) -> dict[str, int]:
    """The operator's ``mlops_operator_kube_requests_total`` by verb (over resources)."""
    return _verbs({verb: sum(r.values()) for verb, r in by_verb_resource.items()})


def record(
    arm: str,
    rep: int,
    position: int,
    count: int,
    detail: dict[str, Any],
    cleanup_s: float | None,
) -> dict[str, Any]:
    """One arm's run as the numbers the summary compares; ``detail`` is the arm's own
    ``as_dict()`` (kept whole under ``detail``)."""
    out: dict[str, Any] = {
        "arm": arm,
        "rep": rep,
        "position": position,
        "namespace": detail.get("namespace"),
        "created_s": detail["created_s"],
        "all_running_s": detail["all_running_s"],
        "all_succeeded_s": detail.get("all_succeeded_s", detail.get("all_complete_s")),
        "way_to_running_p50_s": detail["way_to_running"]["p50"],
        "way_to_running_p95_s": detail["way_to_running"]["p95"],
        "cpu_s": None,
        "cpu_ms_per_run": None,
        "peak_rss_mib": None,
        "idle_rss_mib": None,
        "cleanup_s": None if cleanup_s is None else round(cleanup_s, 1),
    }
    if arm == "floor":
        # No controller: the script's own creates are the floor's requests.
        verbs = _verbs({"create": int(detail["requests"])})
    else:
        out["cpu_s"] = detail["cpu_seconds"]
        out["cpu_ms_per_run"] = round(1000 * detail["cpu_seconds"] / count, 2)
        out["peak_rss_mib"] = round(detail["peak_rss_bytes"] / MiB, 1)
        out["idle_rss_mib"] = round(detail["idle_rss_bytes"] / MiB, 1)
        req = detail["requests"]
        by_verb = req["by_verb"] if arm == "peer" else None
        verbs = _verbs(by_verb) if by_verb is not None else operator_verbs(req["by_verb_resource"])
    for verb, n in verbs.items():
        out[f"per_run.{verb}"] = round(n / count, 3)
    out["requests_per_run"] = round(sum(verbs.values()) / count, 3)
    out["writes_per_run"] = round(sum(verbs[v] for v in WRITE_VERBS) / count, 3)
    out["detail"] = detail
    return out


def stat(values: Iterable[float | None]) -> dict[str, float] | None:
    """Median, min and max of the values that were measured; None if none was."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {
        "median": round(statistics.median(present), 3),
        "min": round(min(present), 3),
        "max": round(max(present), 3),
        "n": len(present),
    }


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float] | None]]:
    """Per arm (in :data:`ARMS` order), per metric of :data:`METRICS`: :func:`stat` over its
    repetitions."""
    out: dict[str, dict[str, dict[str, float] | None]] = {}
    for arm in ARMS:
        mine = [r for r in records if r["arm"] == arm]
        if mine:
            out[arm] = {key: stat(r.get(key) for r in mine) for key, _, _ in METRICS}
    return out


def median_record(
    records: Sequence[dict[str, Any]], arm: str, key: str = "all_running_s"
) -> dict[str, Any] | None:
    """The repetition of ``arm`` whose ``key`` is the median (the lower one of an even
    count): the run whose details the report shows."""
    mine = sorted((r for r in records if r["arm"] == arm), key=lambda r: (r[key], r["rep"]))
    return mine[(len(mine) - 1) // 2] if mine else None


def cell(s: dict[str, float] | None, decimals: int = 1) -> str:
    """``41.1 (39.0-44.2)``; one value alone when there was one repetition or all agree (at
    the precision shown); ``-`` when the arm has no such number."""
    if s is None:
        return "-"
    median, low, high = (f"{s[k]:.{decimals}f}" for k in ("median", "min", "max"))
    if s["n"] < 2 or low == high:
        return median
    return f"{median} ({low}-{high})"


def _median(summary: dict[str, Any], arm: str, key: str) -> float | None:
    s = (summary.get(arm) or {}).get(key)
    return None if s is None else float(s["median"])


def _target(
    name: str, limit: str, measured: str, passed: bool | None, why: str = ""
) -> dict[str, Any]:
    return {"name": name, "limit": limit, "measured": measured, "passed": passed, "why": why}


def _ratio_target(
    name: str,
    summary: dict[str, Any],
    key: str,
    against: str,
    limit: float,
    unit: str = "s",
    decimals: int = 1,
) -> dict[str, Any]:
    ours, theirs = _median(summary, "operator", key), _median(summary, against, key)
    if ours is None or theirs is None or theirs <= 0:
        return _target(name, f"<= {limit:g}x", f"not measured (needs operator and {against})", None)
    ratio = ours / theirs
    measured = f"{ratio:.2f}x ({ours:.{decimals}f} {unit} / {theirs:.{decimals}f} {unit}, medians)"
    return _target(name, f"<= {limit:g}x", measured, ratio <= limit)


def targets(
    summary: dict[str, Any], count: int, cache: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The targets of issue "TrainingJob at scale", on the medians over repetitions; a
    target whose arms did not run is ``passed: None`` (not measured). ``cache`` is the
    cache test's report: its own targets are taken over, marked with its file as
    ``source`` (they count in the cache test's verdict, not again in this one)."""
    out = [
        _ratio_target(
            "all Running: operator / Kubeflow peer",
            summary,
            "all_running_s",
            "peer",
            MAX_RUNNING_VS_PEER,
        ),
        _ratio_target(
            "all Running: operator / floor", summary, "all_running_s", "floor", MAX_RUNNING_VS_FLOOR
        ),
        _ratio_target(
            "all Succeeded: operator / Kubeflow peer (at or ahead)",
            summary,
            "all_succeeded_s",
            "peer",
            MAX_SUCCEEDED_VS_PEER,
        ),
        _ratio_target(
            "controller CPU per run: operator / Kubeflow peer",
            summary,
            "cpu_ms_per_run",
            "peer",
            MAX_CPU_VS_PEER,
            unit="ms",
            decimals=2,
        ),
    ]
    rss = _median(summary, "operator", "peak_rss_mib")
    rss_name = "operator peak RSS at N = 1,000" + ("" if count == 1000 else f" (run: N = {count})")
    out.append(
        _target(rss_name, f"<= {MAX_PEAK_RSS_MIB} MiB", "not measured", None)
        if rss is None
        else _target(
            rss_name,
            f"<= {MAX_PEAK_RSS_MIB} MiB",
            f"{rss:.0f} MiB (median)",
            rss <= MAX_PEAK_RSS_MIB,
        )
    )
    writes = _median(summary, "operator", "writes_per_run")
    out.append(
        _target("API writes per single-node TrainingJob", "<= 6", "not measured", None)
        if writes is None
        else _target(
            "API writes per single-node TrainingJob",
            f"<= {MAX_WRITES_PER_RUN:g}",
            f"{writes:.2f} (median)",
            writes <= MAX_WRITES_PER_RUN,
        )
    )
    if cache is None:
        out += [
            _target(name, limit, "not run: `python -m bench cache`", None)
            for name, limit in CACHE_TARGET_NAMES
        ]
    else:
        name = cache.get("file", "cache")
        out += [
            {**t, "measured": f"{t['measured']} (`{name}`)", "source": name}
            for t in cache["targets"]
        ]
    return out


# --- the cache test's targets ----------------------------------------------------------------

#: Operator RSS with 10,000 suspended TrainingJobs reconciled (the peak: a memory limit
#: is hit by the peak, not by the idle value after it).
MAX_CACHE_RSS_MIB = 250
#: Time from the first create to all Suspended, as a multiple of the creates' own time.
MAX_CACHE_RECONCILE_RATIO = 1.5
CACHE_TARGET_NAMES = (
    ("cache test: operator peak RSS with 10,000 runs", f"<= {MAX_CACHE_RSS_MIB} MiB"),
    ("cache test: all reconciled / the creates' time", f"<= {MAX_CACHE_RECONCILE_RATIO:g}x"),
)


def cache_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The two targets of the cache test, from its result (see :mod:`bench.cache`)."""
    count = result["count"]
    (rss_name, rss_limit), (time_name, time_limit) = CACHE_TARGET_NAMES
    if count != 10_000:
        rss_name += f" (run: N = {count})"
    peak = result["peak_rss_bytes"] / MiB
    before, after = result["idle_rss_before_bytes"] / MiB, result["idle_rss_after_bytes"] / MiB
    per_run = (result["idle_rss_after_bytes"] - result["idle_rss_before_bytes"]) / count / 1024
    rss_why = ""
    if peak > MAX_CACHE_RSS_MIB:
        rss_why = f"idle {before:.0f} MiB before, {after:.0f} MiB after: {per_run:.1f} KiB per run"
    ratio = result["all_suspended_s"] / result["created_s"]
    return [
        _target(
            rss_name,
            rss_limit,
            f"{peak:.0f} MiB peak (idle {before:.0f} -> {after:.0f} MiB, "
            f"{per_run:.1f} KiB per run)",
            peak <= MAX_CACHE_RSS_MIB,
            rss_why,
        ),
        _target(
            time_name,
            time_limit,
            f"{ratio:.2f}x ({result['all_suspended_s']:.1f} s / {result['created_s']:.1f} s)",
            ratio <= MAX_CACHE_RECONCILE_RATIO,
        ),
    ]


def verdict(passed: bool | None) -> str:
    return "pass" if passed else ("-" if passed is None else "**MISS**")
