"""The serving benchmark's reading of statuses and Deployments, and its step table."""

from __future__ import annotations

from typing import Any

from bench.serving import (
    V1,
    V2,
    deployment_progress,
    md_progress,
    measurements,
    pause_started,
    step_rows,
)


def md(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "md-000"}, "status": status}


def milestones(status: dict[str, Any]) -> set[str]:
    return set(md_progress(md(status))[1])


def test_v1_counts_once_it_is_healthy_with_no_canary() -> None:
    assert "v1" in milestones({"phase": "Healthy", "stable": {"model": V1}})
    assert "v1" not in milestones({"phase": "Progressing", "stable": {"model": V1}})


def test_a_canary_at_step_index_n_has_completed_n_steps() -> None:
    seen = milestones(
        {"phase": "Progressing", "stable": {"model": V1}, "canary": {"model": V2, "stepIndex": 2}}
    )
    assert seen == {"created", "started", "step1", "step2"}


def test_promoting_has_completed_every_step_and_promoted_is_v2_stable() -> None:
    promoting = {"model": V2, "stepIndex": 3, "promoting": True}
    assert {"step1", "step2", "step3", "step4"} <= milestones({"canary": promoting})
    done = milestones({"phase": "Healthy", "stable": {"model": V2}})
    assert {"promoted", "v2", "step4"} <= done


def test_an_aborted_rollout_is_a_failure() -> None:
    assert "failed" in milestones({"phase": "Degraded", "stable": {"model": V1}})


def deployment(variant: str, model: str, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"md-000-{variant}",
            "generation": 2,
            "labels": {"mlops.dev/variant": variant, "mlops.dev/modeldeployment": "md-000"},
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "server", "env": [{"name": "MODEL_URI", "value": model}]}
                    ]
                }
            },
        },
        "status": {
            "observedGeneration": 2,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
        },
    }


def test_the_canary_is_ready_for_a_weight_when_its_pods_for_it_are() -> None:
    assert list(deployment_progress(deployment("canary", V2, 1, 1))[1]) == ["canary@50"]
    assert list(deployment_progress(deployment("canary", V2, 1, 0))[1]) == []
    assert list(deployment_progress(deployment("canary", V2, 2, 2))[1]) == ["canary@100"]
    assert list(deployment_progress(deployment("stable", V2, 2, 2))[1]) == ["stable v2"]


def test_measurements_are_the_largest_count_the_v2_canary_showed() -> None:
    def canary(ok: int, bad: int = 0) -> dict[str, Any]:
        return {"canary": {"model": V2, "analysis": {"successes": ok, "failures": bad}}}

    history = [canary(1), canary(2, 1), {"stable": {"model": V2}}]
    assert measurements(history) == (3, 1, 0)


def test_the_pause_start_is_the_one_status_wrote_at_the_pause_step() -> None:
    history = [
        {"canary": {"model": V2, "stepIndex": 0, "stepStartedAt": "2026-01-01T00:00:00Z"}},
        {"canary": {"model": V2, "stepIndex": 1, "stepStartedAt": "2026-01-01T00:00:07Z"}},
    ]
    assert pause_started(history) == 1767225607.0


def test_the_operator_rows_subtract_what_the_cluster_did() -> None:
    rows = {
        r.name: r
        for r in step_rows(
            patched={"a": 0.0},
            mds={
                "started": {"a": 1.0},
                "step1": {"a": 6.5},
                "step2": {"a": 16.8},
                "step3": {"a": 16.9},
                "step4": {"a": 22.0},
                "promoted": {"a": 40.0},
            },
            deps={"canary@50": {"a": 6.0}, "canary@100": {"a": 21.0}, "stable v2": {"a": 39.5}},
            pause_ends={"a": 16.5},
        )
    }

    def p50(name: str) -> float:
        spread = rows[name].spread
        assert spread is not None
        return spread["p50"]

    assert p50("rollout start: spec changed -> canary in status") == 1.0
    assert p50("1 setWeight 50: operator (pods ready -> step done)") == 0.5
    assert round(p50("2 pause 10s: step time - 10s"), 2) == 0.3
    assert round(p50("2 pause 10s: operator (pause end per status -> step done)"), 2) == 0.3
    assert round(p50("3 analysis: operator (whole step)"), 2) == 0.1
    assert p50("4 setWeight 100: operator (pods ready -> step done)") == 1.0
    assert p50("promotion: operator (stable rolled out -> promoted)") == 0.5
    assert all(
        r.operator == ("operator" in r.name or "rollout start" in r.name) for r in rows.values()
    )
