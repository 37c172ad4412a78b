"""The canary's step machine on its own: steps done, waits, wake-ups and deadlines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from mlops_operator.api.modeldeployment import (
    AnalysisStatus,
    CanaryStep,
    MeasurementResult,
    ModelDeployment,
)
from mlops_operator.core.serving.canary import (
    Progress,
    Wait,
    advance,
    deadline_seconds,
    describe,
    target_weight,
)

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def steps(*raw: dict[str, object]) -> list[CanaryStep]:
    return [CanaryStep.model_validate(r) for r in raw]


STEPS = steps(
    {"setWeight": 10},
    {"pause": {"duration": "5m"}},
    {"analysis": {}},
    {"setWeight": 50},
    {"pause": {}},
    {"setWeight": 100},
)


def reached_up_to(weight: int) -> Callable[[int], str | None]:
    """The canary serves every weight up to ``weight``."""
    return lambda w: None if w <= weight else f"canary not at {w}"


def run(
    index: int,
    now: datetime,
    *,
    served: int = 0,
    analysis: AnalysisStatus | None = None,
    holding: bool = False,
    started: datetime = T0,
) -> Progress:
    return advance(
        STEPS,
        index,
        started,
        now,
        reached=reached_up_to(served),
        analysis=analysis,
        holding=holding,
        interval=60,
        deadline=600,
    )


def test_target_weight_is_the_last_setweight_at_or_before_the_step() -> None:
    assert [target_weight(STEPS, i) for i in range(len(STEPS))] == [10, 10, 10, 50, 50, 100]
    assert target_weight(steps({"pause": {}}, {"setWeight": 5}), 0) == 0
    assert target_weight(STEPS, 99) == 100  # after the last step


def test_describe() -> None:
    assert [describe(s) for s in STEPS] == [
        "setWeight 10",
        "pause 5m",
        "analysis",
        "setWeight 50",
        "pause (until promoted)",
        "setWeight 100",
    ]


def test_deadline_defaults_to_600() -> None:
    body = {
        "metadata": {"name": "x"},
        "spec": {
            "model": {"uri": "u"},
            "server": {"image": "i"},
            "rollout": {"canary": {"steps": [{"setWeight": 5}]}},
        },
    }
    assert deadline_seconds(ModelDeployment.model_validate(body)) == 600
    body["spec"]["rollout"]["canary"]["progressDeadlineSeconds"] = 90
    assert deadline_seconds(ModelDeployment.model_validate(body)) == 90


def test_set_weight_waits_for_the_canary() -> None:
    progress = run(0, T0 + 5 * S)
    assert progress == Progress(
        0, T0, (), Wait("WaitingForCanary", "canary not at 10", None, T0 + 600 * S)
    )


def test_set_weight_reached_starts_the_timed_pause_now() -> None:
    now = T0 + 5 * S
    progress = run(0, now, served=10)
    assert progress.completed == (0,)
    assert (progress.index, progress.started) == (1, now)
    assert progress.wait == Wait(
        "Pausing", "pause 5m until 2026-11-22T04:05:05Z", now + 300 * S, now + 900 * S
    )


def test_pause_resumes_with_its_remaining_time() -> None:
    progress = run(1, T0 + 200 * S, served=10)
    assert progress.wait == Wait(
        "Pausing", "pause 5m until 2026-11-22T04:05:00Z", T0 + 300 * S, T0 + 900 * S
    )


def test_pause_done_then_the_analysis_step_wants_a_measurement_now() -> None:
    now = T0 + 300 * S
    progress = run(1, now, served=10)
    assert progress.completed == (1,)
    assert progress.wait == Wait("Measuring", "running the analysis", now, now + 600 * S)


def test_analysis_before_the_step_does_not_count() -> None:
    old = AnalysisStatus(last_result=MeasurementResult.PASS, last_measurement_time=T0 - S)
    progress = run(2, T0 + S, served=10, analysis=old)
    assert progress.wait is not None
    assert progress.wait.reason == "Measuring"


def test_analysis_passed_completes_and_the_next_weight_waits() -> None:
    passed = AnalysisStatus(
        successes=1, last_result=MeasurementResult.PASS, last_measurement_time=T0 + 2 * S
    )
    progress = run(2, T0 + 2 * S, served=10, analysis=passed)
    assert progress.completed == (2,)
    assert progress.index == 3
    assert progress.wait is not None
    assert progress.wait.reason == "WaitingForCanary"


def test_analysis_failed_measures_again_after_the_interval() -> None:
    failed = AnalysisStatus(
        failures=1,
        last_result=MeasurementResult.FAIL,
        last_measurement_time=T0 + 2 * S,
        message="error-rate = 0.2 outside [max 0.05] (canary; stable 0.01)",
    )
    progress = run(2, T0 + 2 * S, served=10, analysis=failed)
    assert progress.wait == Wait(
        "AnalysisFailed",
        "measurement failed (1 so far), measuring again: "
        "error-rate = 0.2 outside [max 0.05] (canary; stable 0.01)",
        T0 + 62 * S,
        T0 + 600 * S,
    )


def test_analysis_inconclusive_holds() -> None:
    none = AnalysisStatus(
        inconclusive=1,
        last_result=MeasurementResult.INCONCLUSIVE,
        last_measurement_time=T0 + 2 * S,
        message="no data for metric error-rate (canary): empty result",
    )
    progress = run(2, T0 + 2 * S, served=10, analysis=none)
    assert progress.wait == Wait(
        "NoData",
        "holding: no data for metric error-rate (canary): empty result",
        T0 + 62 * S,
        T0 + 600 * S,
    )


def test_holding_stops_weights_and_ended_pauses_but_not_a_running_pause() -> None:
    none = AnalysisStatus(
        last_result=MeasurementResult.INCONCLUSIVE,
        last_measurement_time=T0,
        message="no data for metric m (canary)",
    )
    at_weight = run(0, T0 + S, served=10, analysis=none, holding=True)
    assert at_weight.wait == Wait(
        "NoData", "holding: no data for metric m (canary)", T0 + 60 * S, T0 + 600 * S
    )
    pausing = run(1, T0 + 100 * S, served=10, analysis=none, holding=True)
    assert pausing.wait is not None
    assert pausing.wait.reason == "Pausing"
    ended = run(1, T0 + 400 * S, served=10, analysis=none, holding=True)
    # Held past the pause: the deadline counts from the pause's end.
    assert ended.wait == Wait(
        "NoData", "holding: no data for metric m (canary)", T0 + 60 * S, T0 + 900 * S
    )


def test_indefinite_pause_waits_for_a_human_without_deadline() -> None:
    progress = run(4, T0 + timedelta(days=3), served=50)
    assert progress.wait == Wait(
        "WaitingForPromote", "paused until a new value of annotation mlops.dev/promote"
    )


def test_all_steps_done() -> None:
    progress = run(5, T0 + S, served=100)
    assert progress.done
    assert (progress.index, progress.completed, progress.started) == (6, (5,), T0 + S)


@pytest.mark.parametrize("index", [6, 7])
def test_past_the_last_step_is_done(index: int) -> None:
    assert run(index, T0).done
