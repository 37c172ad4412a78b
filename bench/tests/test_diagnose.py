"""Deltas of the API server's and the operator's own histograms over a phase."""

from __future__ import annotations

from bench.diagnose import apiserver_latency, reconcile_wall

BEFORE = """\
# TYPE mlops_operator_reconcile_time_seconds histogram
mlops_operator_reconcile_time_seconds_bucket{controller="modeldeployment",le="1.0"} 10.0
mlops_operator_reconcile_time_seconds_bucket{controller="modeldeployment",le="+Inf"} 10.0
mlops_operator_reconcile_time_seconds_count{controller="modeldeployment"} 10.0
mlops_operator_reconcile_time_seconds_sum{controller="modeldeployment"} 1.0
"""
AFTER = """\
# TYPE mlops_operator_reconcile_time_seconds histogram
mlops_operator_reconcile_time_seconds_bucket{controller="modeldeployment",le="1.0"} 16.0
mlops_operator_reconcile_time_seconds_bucket{controller="modeldeployment",le="+Inf"} 20.0
mlops_operator_reconcile_time_seconds_count{controller="modeldeployment"} 20.0
mlops_operator_reconcile_time_seconds_sum{controller="modeldeployment"} 9.0
"""


def test_reconcile_wall_is_the_phase_s_share_of_the_histogram() -> None:
    assert reconcile_wall(BEFORE, AFTER, 4.0) == {
        "modeldeployment": {"reconciles": 10, "mean_s": 0.8, "over_1s": 4, "busy_workers": 2.0}
    }


def test_apiserver_latency_is_the_mean_per_request_over_the_phase_busiest_first() -> None:
    before = {("PATCH", "modeldeployments", "status"): (1.0, 10.0)}
    after = {
        ("PATCH", "modeldeployments", "status"): (4.0, 20.0),
        ("POST", "events", ""): (3.0, 30.0),
    }
    assert apiserver_latency(before, after) == [
        {"verb": "POST", "resource": "events", "requests": 30, "mean_ms": 100.0},
        {"verb": "PATCH", "resource": "modeldeployments/status", "requests": 10, "mean_ms": 300.0},
    ]
