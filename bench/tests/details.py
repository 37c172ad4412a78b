"""Arm details (``as_dict()`` of each arm's result) for the training benchmark's tests."""

from __future__ import annotations

from typing import Any

MiB = 2**20


def spread(p50: float, p95: float, last: float | None = None) -> dict[str, float]:
    return {"first": 0.1, "p50": p50, "p95": p95, "last": p95 + 1 if last is None else last}


def floor_detail(running: float, **more: Any) -> dict[str, Any]:
    return {
        "namespace": "bench-floor-r1",
        "created_s": 20.0,
        "all_running_s": running,
        "all_complete_s": running + 120,
        "way_to_running": spread(5.0, 9.0),
        "requests": 2000,
        **more,
    }


def peer_detail(running: float, cpu: float, by_verb: dict[str, int], **more: Any) -> dict[str, Any]:
    return {
        "namespace": "bench-peer-r1",
        "created_s": 15.0,
        "all_running_s": running,
        "all_succeeded_s": running + 121,
        "way_to_running": spread(4.0, 8.0),
        "cpu_seconds": cpu,
        "peak_rss_bytes": 102 * MiB,
        "idle_rss_bytes": 60 * MiB,
        "requests": {"by_verb": by_verb},
        **more,
    }


def operator_detail(
    running: float, cpu: float, requests: dict[str, Any], **more: Any
) -> dict[str, Any]:
    return {
        "namespace": "bench-operator-r1",
        "created_s": 16.0,
        "all_running_s": running,
        "all_succeeded_s": running + 125,
        "way_to_running": spread(6.0, 12.0),
        "cpu_seconds": cpu,
        "peak_rss_bytes": 169 * MiB,
        "idle_rss_bytes": 110 * MiB,
        "requests": requests,
        **more,
    }
