"""The training benchmark's arithmetic: arm order, records, medians, targets."""

from __future__ import annotations

from typing import Any

import pytest

from bench.summary import (
    arm_order,
    cache_targets,
    cell,
    median_record,
    operator_verbs,
    record,
    stat,
    summarize,
    targets,
)
from bench.tests import details
from bench.tests.details import MiB, floor_detail, peer_detail


def test_the_order_rotates_so_each_arm_runs_once_in_each_position() -> None:
    arms = ("floor", "peer", "operator")
    orders = [arm_order(arms, rep) for rep in range(4)]
    assert orders == [
        ["floor", "peer", "operator"],
        ["peer", "operator", "floor"],
        ["operator", "floor", "peer"],
        ["floor", "peer", "operator"],
    ]
    for position in range(3):
        assert sorted(o[position] for o in orders[:3]) == sorted(arms)


def test_two_arms_alternate() -> None:
    assert [arm_order(["peer", "operator"], r) for r in range(3)] == [
        ["peer", "operator"],
        ["operator", "peer"],
        ["peer", "operator"],
    ]


def test_stat_is_median_min_max_of_what_was_measured() -> None:
    assert stat([40.0, 38.0, 51.0]) == {"median": 40.0, "min": 38.0, "max": 51.0, "n": 3}
    assert stat([1.0, None, 3.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 2}
    assert stat([None, None]) is None


def test_cell_shows_the_spread_only_when_there_is_one() -> None:
    assert cell({"median": 41.06, "min": 39.0, "max": 44.2, "n": 3}) == "41.1 (39.0-44.2)"
    assert cell({"median": 7.0, "min": 7.0, "max": 7.0, "n": 1}, 0) == "7"
    assert cell({"median": 7.01, "min": 7.0, "max": 7.04, "n": 3}) == "7.0"
    assert cell(None) == "-"


def operator_detail(running: float, cpu: float, writes: int) -> dict[str, Any]:
    requests = {
        "by_verb_resource": {
            "create": {"jobs": 1000, "services": 1000, "events": 2000},
            "patch": {"trainingjobs": writes - 4000},
            "list": {"pods": 1000},
            "get": {"jobs": 50},
        }
    }
    return details.operator_detail(running, cpu, requests)


def test_a_record_per_arm_counts_requests_per_run_by_verb() -> None:
    floor = record("floor", 1, 1, 1000, floor_detail(41.0), 12.3)
    assert floor["all_succeeded_s"] == 161.0
    assert floor["per_run.create"] == 2.0
    assert floor["writes_per_run"] == 2.0
    assert floor["cpu_s"] is None
    assert floor["peak_rss_mib"] is None
    peer = record(
        "peer",
        1,
        2,
        1000,
        peer_detail(37.3, 7.3, {"create": 2000, "update": 2000, "get/list/watch": 3}),
        None,
    )
    assert peer["cpu_ms_per_run"] == 7.3
    assert peer["peak_rss_mib"] == 102.0
    assert peer["per_run.update"] == 2.0
    assert peer["per_run.get/list/watch"] == 0.003
    assert peer["writes_per_run"] == 4.0
    assert peer["requests_per_run"] == 4.003
    assert peer["cleanup_s"] is None
    op = record("operator", 1, 3, 1000, operator_detail(61.6, 36.6, 7960), 20.0)
    assert op["per_run.create"] == 4.0
    assert op["per_run.patch"] == 3.96
    assert op["per_run.get/list/watch"] == 1.05
    assert op["writes_per_run"] == 7.96
    assert op["cpu_ms_per_run"] == 36.6


def test_operator_verbs_fold_reads_into_one() -> None:
    assert operator_verbs({"watch": {"jobs": 2}, "list": {"pods": 3}, "update": {"x": 1}}) == {
        "create": 0,
        "update": 1,
        "patch": 0,
        "delete": 0,
        "get/list/watch": 5,
    }


def three_reps() -> list[dict[str, Any]]:
    """The issue's single run, and two noisier ones."""
    runs = []
    for rep, (f, p, o) in enumerate([(41.1, 37.3, 61.6), (39.0, 40.0, 55.0), (45.0, 36.0, 70.0)]):
        runs += [
            record("floor", rep + 1, 1, 1000, floor_detail(f), 10.0),
            record("peer", rep + 1, 2, 1000, peer_detail(p, 7.3, {"create": 2000}), 10.0),
            record("operator", rep + 1, 3, 1000, operator_detail(o, 36.6 + rep, 7960), 10.0),
        ]
    return runs


def test_summary_gives_median_and_range_per_arm_and_metric() -> None:
    summary = summarize(three_reps())
    assert list(summary) == ["floor", "peer", "operator"]
    assert summary["operator"]["all_running_s"] == {
        "median": 61.6,
        "min": 55.0,
        "max": 70.0,
        "n": 3,
    }
    assert summary["peer"]["all_running_s"] == {"median": 37.3, "min": 36.0, "max": 40.0, "n": 3}
    assert summary["floor"]["cpu_s"] is None
    assert summary["operator"]["cpu_ms_per_run"] == {
        "median": 37.6,
        "min": 36.6,
        "max": 38.6,
        "n": 3,
    }


def test_the_median_repetition_is_the_one_whose_value_is_the_median() -> None:
    runs = three_reps()
    chosen = median_record(runs, "operator")
    assert chosen is not None
    assert (chosen["rep"], chosen["all_running_s"]) == (1, 61.6)
    two = [r for r in runs if r["rep"] < 3]
    lower = median_record(two, "operator")
    assert lower is not None
    assert lower["all_running_s"] == 55.0
    assert median_record(runs, "nobody") is None


def by_name(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["name"].split(" (")[0]: t for t in checks}


def test_targets_on_the_issue_numbers_miss_as_the_issue_says() -> None:
    checks = by_name(targets(summarize(three_reps()), 1000, None))
    vs_peer = checks["all Running: operator / Kubeflow peer"]
    assert vs_peer["passed"] is False
    assert vs_peer["measured"].startswith("1.65x (61.6 s / 37.3 s")
    vs_floor = checks["all Running: operator / floor"]
    assert vs_floor["measured"].startswith("1.50x")
    assert vs_floor["passed"] is False
    assert checks["all Succeeded: operator / Kubeflow peer"]["passed"] is False
    cpu = checks["controller CPU per run: operator / Kubeflow peer"]
    assert cpu["measured"].startswith("5.15x (37.60 ms / 7.30 ms")
    assert cpu["passed"] is False
    assert checks["operator peak RSS at N = 1,000"]["measured"] == "169 MiB (median)"
    assert checks["operator peak RSS at N = 1,000"]["passed"] is False
    assert checks["API writes per single-node TrainingJob"]["measured"] == "7.96 (median)"
    assert checks["API writes per single-node TrainingJob"]["passed"] is False
    cache = [t for t in targets(summarize(three_reps()), 1000, None) if "cache" in t["name"]]
    assert [t["passed"] for t in cache] == [None, None]
    assert all("not run" in t["measured"] for t in cache)


def test_targets_pass_at_their_limits_and_say_when_an_arm_is_missing() -> None:
    runs = [
        record("peer", 1, 1, 1000, peer_detail(40.0, 10.0, {"create": 2000}), 1.0),
        record("operator", 1, 2, 1000, operator_detail(46.0, 20.0, 6000), 1.0),
    ]
    runs[1]["peak_rss_mib"] = 150.0
    checks = by_name(targets(summarize(runs), 1000, None))
    assert checks["all Running: operator / Kubeflow peer"]["passed"] is True  # 1.15x
    assert checks["controller CPU per run: operator / Kubeflow peer"]["passed"] is True  # 2x
    assert checks["operator peak RSS at N = 1,000"]["passed"] is True
    assert checks["API writes per single-node TrainingJob"]["passed"] is True  # 6.00
    floor = checks["all Running: operator / floor"]
    assert floor["passed"] is None
    assert "not measured" in floor["measured"]


def test_a_small_run_says_its_n_next_to_the_rss_target() -> None:
    runs = [record("operator", 1, 1, 50, operator_detail(10.0, 2.0, 400), 1.0)]
    names = [t["name"] for t in targets(summarize(runs), 50, None)]
    assert "operator peak RSS at N = 1,000 (run: N = 50)" in names


CACHE_RESULT = {
    "count": 10_000,
    "created_s": 82.0,
    "all_suspended_s": 268.0,
    "idle_rss_before_bytes": 101 * MiB,
    "idle_rss_after_bytes": 390 * MiB,
    "peak_rss_bytes": 400 * MiB,
}


def test_cache_targets_from_the_issue_numbers_both_miss() -> None:
    rss, speed = cache_targets(CACHE_RESULT)
    assert rss["passed"] is False
    assert rss["measured"].startswith("400 MiB peak (idle 101 -> 390 MiB, 29.6 KiB per run)")
    assert "29.6 KiB per run" in rss["why"]
    assert speed["passed"] is False
    assert speed["measured"] == "3.27x (268.0 s / 82.0 s)"


@pytest.mark.parametrize(("peak", "suspended", "passed"), [(250, 123.0, True), (251, 124.0, False)])
def test_cache_targets_limits(peak: int, suspended: float, passed: bool) -> None:
    result = {**CACHE_RESULT, "peak_rss_bytes": peak * MiB, "all_suspended_s": suspended}
    assert [t["passed"] for t in cache_targets(result)] == [passed, passed]


def test_the_training_targets_take_over_the_cache_tests_and_name_its_file() -> None:
    cache = {"file": "cache-20261201T190000Z.json", "targets": cache_targets(CACHE_RESULT)}
    checks = targets(summarize(three_reps()), 1000, cache)
    taken = [t for t in checks if t["name"].startswith("cache test")]
    assert len(taken) == 2
    assert all(t["measured"].endswith("(`cache-20261201T190000Z.json`)") for t in taken)
    assert [t["passed"] for t in taken] == [False, False]
    assert [t["source"] for t in taken] == ["cache-20261201T190000Z.json"] * 2
