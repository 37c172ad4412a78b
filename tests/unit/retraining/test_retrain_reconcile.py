# The same status field is asserted before and after a step: mypy would narrow it.
# mypy: disable-error-code="unreachable, comparison-overlap"
"""Scenarios of a RetrainPolicy over time: readings, runs and annotations in, the Plans out.

Each scenario drives a :class:`~retrain_world.World` minute by minute as the controller
would, and checks what a user sees: the runs created and deleted, ``status`` and the
Events. After every step that changed something, a reconcile with nothing new must change
nothing (no status write, no Event): that is what keeps a quiet policy at zero writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from retrain_world import (
    DRIFT,
    MODEL,
    NO_DATA,
    QUERY,
    T0,
    UID,
    UNREACHABLE,
    World,
    policy_body,
    value,
)

from mlops_operator.api.keys import PROMOTE_ANNOTATION, RETRAIN_ANNOTATION
from mlops_operator.api.parse import InvalidSpec
from mlops_operator.api.retrainpolicy import (
    LastTrigger,
    LatestModel,
    RetrainPolicyPhase,
    RetrainPolicyStatus,
    RunStart,
    TriggerReason,
)
from mlops_operator.core.plan import Create, Delete
from mlops_operator.core.retraining import builders
from mlops_operator.core.retraining.naming import hash_id, run_name, time_id
from mlops_operator.core.retraining.observed import Observed, RunState
from mlops_operator.core.retraining.reconcile import invalid, reconcile
from mlops_operator.core.retraining.triggers import Trigger

P = RetrainPolicyPhase


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def drift_name(since: datetime) -> str:
    return run_name("churn", TriggerReason.DRIFT, time_id(since))


def manual_name(value: str, before: str = "") -> str:
    return run_name("churn", TriggerReason.MANUAL, hash_id(UID, before, value))


def breach(world: World, start: float, end: float, v: float = 0.42) -> None:
    """Readings of ``v`` at every minute from ``start`` to ``end`` (inclusive)."""
    m = start
    while m <= end:
        world.step(minutes(m), value(v))
        m += 1


# --- drift: the window ---------------------------------------------------------------------


def test_a_new_policy_waits_for_its_first_evaluation() -> None:
    world = World(policy_body())
    plan = world.step(T0)
    assert world.status.phase is P.WATCHING
    assert world.condition("Ready") == (
        "Unknown",
        "AwaitingEvaluation",
        "the drift query is evaluated every 1m; not yet",
    )
    assert plan.creates == []
    assert plan.requeue_after is not None
    assert 0 < plan.requeue_after <= 60
    world.quiet(T0 + timedelta(seconds=5))

    world.step(minutes(1), value(0.1))
    assert world.condition("Ready") == (
        "True",
        "Watching",
        "watching the drift query every 1m, annotation mlops.dev/retrain",
    )
    assert world.condition("Breaching") == ("False", "BelowThreshold", "at or below threshold 0.3")
    assert world.status.last_value == 0.1
    assert world.status.last_evaluation_time == minutes(1)
    assert world.events == []


def test_a_quiet_policy_writes_nothing() -> None:
    world = World(policy_body())
    world.step(minutes(1), value(0.10))
    # Noise within a tenth of the threshold is not written, hour after hour.
    for m, v in enumerate([0.11, 0.09, 0.12, 0.10, 0.08] * 12, start=2):
        world.quiet(minutes(m), value(v))
    # A move by more than a tenth of the threshold is.
    plan = world.step(minutes(70), value(0.2))
    assert plan.status is not None
    assert (plan.status.last_value, plan.status.last_evaluation_time) == (0.2, minutes(70))
    assert plan.events == []
    world.quiet(minutes(71), value(0.21))


def test_a_spike_shorter_than_for_does_nothing() -> None:
    world = World(policy_body())
    world.step(minutes(1), value(0.1))
    breach(world, 2, 15)  # 13 minutes above a 15m window
    assert world.status.breaching_since == minutes(2)
    assert world.status.phase is P.BREACHING
    world.quiet(minutes(15.5))  # woken without an evaluation
    world.quiet(minutes(15.6), value(0.43))  # or with one that changes nothing
    assert world.condition("Breaching") == (
        "True",
        "AboveThreshold",
        "above threshold 0.3 since 2026-11-22T04:02:00Z; a run starts once it lasts 15m",
    )
    world.step(minutes(16), value(0.25))
    assert world.runs == {}
    assert world.status.breaching_since is None
    assert world.status.phase is P.WATCHING
    assert [(e.type, e.reason, e.message) for e in world.events] == [
        (
            "Warning",
            "Breaching",
            "drift value 0.42 above threshold 0.3; a run starts once it lasts 15m",
        ),
        (
            "Normal",
            "BreachEnded",
            "the breach since 2026-11-22T04:02:00Z ended before 15m: value 0.25 at or "
            "below threshold 0.3",
        ),
    ]
    world.quiet(minutes(17), value(0.26))


def test_a_gap_without_data_starts_the_window_over() -> None:
    world = World(policy_body())
    breach(world, 1, 10)
    world.step(minutes(11), NO_DATA)
    status = world.status
    assert status.breaching_since is None
    assert status.last_value is None
    assert status.last_evaluation_time == minutes(11)
    assert world.condition("Ready") == ("False", "NoData", "the query returned an empty result")
    assert world.condition("Breaching") == (
        "False",
        "NoData",
        "no value: a breach window starts over",
    )
    assert world.reasons() == ["Breaching", "NoData", "BreachEnded"]
    # More of the same problem: no write and no Event.
    world.quiet(minutes(12), NO_DATA)
    world.quiet(minutes(13))  # a reconcile without an evaluation keeps Ready as it is
    # Another problem is another change.
    world.step(minutes(14), UNREACHABLE)
    assert world.condition("Ready") == ("False", "PrometheusUnreachable", "connection refused")
    assert world.reasons()[-1] == "PrometheusUnreachable"
    # Data again: the window restarts, and needs a whole `for` again.
    breach(world, 15, 29)
    assert world.status.breaching_since == minutes(15)
    assert world.runs == {}
    assert world.reasons()[-2:] == ["Recovered", "Breaching"]
    world.step(minutes(30), value(0.42))
    assert list(world.runs) == [drift_name(minutes(15))]


def test_no_data_never_breaches_even_with_for_zero() -> None:
    world = World(policy_body(triggers={"drift": {**DRIFT, "for": "0s"}}))
    for m in range(1, 5):
        world.step(minutes(m), NO_DATA)
    assert world.runs == {}
    assert world.reasons() == ["NoData"]


# --- drift: the run ------------------------------------------------------------------------


def test_a_breach_that_lasts_for_starts_a_run_named_after_it() -> None:
    world = World(policy_body())
    world.step(minutes(1), value(0.1))
    breach(world, 2, 16)
    assert world.runs == {}
    plan = world.step(minutes(17), value(0.45))

    name = drift_name(minutes(2))
    assert name == "churn-d-0tovxvc"
    trigger = Trigger(
        reason=TriggerReason.DRIFT,
        name=name,
        time=minutes(17),
        value="0.45",
        summary="the drift breach since 2026-11-22T04:02:00Z",
        query=QUERY,
        key=minutes(2),
    )
    assert plan.creates == [Create(builders.training_job(world.policy, trigger))]
    status = world.status
    assert status.phase is P.RETRAINING
    assert status.active_training_job == name
    assert status.breaching_since is None  # the run answers the window
    assert status.last_trigger == LastTrigger(
        time=minutes(17), reason=TriggerReason.DRIFT, value="0.45", query=QUERY
    )
    assert status.recent_runs == [RunStart(training_job=name, time=minutes(17))]
    assert world.condition("Retraining") == ("True", "RunActive", f"TrainingJob {name} is active")
    assert world.condition("Breaching") == (
        "False",
        "RunStarted",
        f"the breach since 2026-11-22T04:02:00Z started TrainingJob {name}; a new window "
        "opens at the first evaluation above the threshold after it ends",
    )
    assert world.events[-1].message == (
        f"started TrainingJob {name} for drift value 0.45 above threshold 0.3 since "
        "2026-11-22T04:02:00Z (for 15m)"
    )
    # The drift goes on while the run trains: no new window, no second run, no write.
    for m in range(18, 40):
        world.quiet(minutes(m), value(0.45))


def test_the_same_status_always_derives_the_same_run() -> None:
    """A crash between the create and the status write cannot start a second run."""
    world = World(policy_body(triggers={"drift": {**DRIFT, "for": "5m"}}))
    breach(world, 1, 5, 0.5)
    before = world.status
    first = world.step(minutes(6), value(0.5), write_status=False)  # crash: no status
    name = drift_name(minutes(1))
    assert [c.name for c in first.creates] == [name]
    assert world.status == before
    # Decided again from the same status, even before the run is seen (a lagging
    # cache), the create has the same name: the API server answers AlreadyExists.
    lagging = reconcile(world.policy, Observed(reading=value(0.5)), minutes(6.5))
    assert [c.name for c in lagging.creates] == [name]
    # Seen: nothing is created, and status records the trigger the run answered.
    plan = world.step(minutes(7), value(0.5))
    assert plan.creates == []
    assert world.status.active_training_job == name
    assert world.status.breaching_since is None
    assert world.status.last_trigger == LastTrigger(
        time=minutes(6), reason=TriggerReason.DRIFT, value="0.5", query=QUERY
    )
    assert [r.training_job for r in world.status.recent_runs or []] == [name]
    world.quiet(minutes(8), value(0.5))


def test_with_for_zero_the_run_itself_keeps_a_second_one_from_starting() -> None:
    # The window opens and is answered in one reconcile, so only the run records it.
    world = World(policy_body(triggers={"drift": {**DRIFT, "for": "0s"}}))
    world.step(minutes(1), value(0.1))
    world.step(minutes(2), value(0.5), write_status=False)  # crash: no status
    plan = world.step(minutes(3), value(0.5))  # restarted: the run is in the cache
    assert plan.creates == []
    assert list(world.runs) == [drift_name(minutes(2))]
    assert world.status.active_training_job == drift_name(minutes(2))
    world.quiet(minutes(4), value(0.5))


def test_a_persisting_drift_runs_again_after_a_full_for_and_the_cooldown() -> None:
    world = World(policy_body(cooldown="30m"))
    breach(world, 1, 16)
    first = drift_name(minutes(1))
    assert list(world.runs) == [first]
    world.finish(first, minutes(40))
    world.step(
        minutes(
            40,
        ),
        value(0.5),
    )  # the window opens again after the run
    assert world.status.breaching_since == minutes(40)
    assert world.status.phase is P.COOLING_DOWN
    breach(world, 41, 69, 0.5)
    assert list(world.runs) == [first]  # for has passed at 55, the cooldown holds until 70
    world.step(minutes(70))  # the requeue at the end of the cooldown: no evaluation, no run
    assert list(world.runs) == [first]
    world.step(minutes(70.5), value(0.5))  # the next evaluation still sees the breach
    assert list(world.runs) == [first, drift_name(minutes(40))]


# --- schedule -------------------------------------------------------------------------------


def test_a_schedule_in_a_time_zone_starts_runs_on_time() -> None:
    body = policy_body(triggers={"schedule": {"cron": "0 6 * * *", "timeZone": "Europe/Berlin"}})
    world = World(body)
    plan = world.step(T0)  # 05:00 in Berlin
    assert plan.requeue_after == 3600.0
    assert world.condition("Ready") == (
        "True",
        "Watching",
        "watching schedule '0 6 * * *' (Europe/Berlin), annotation mlops.dev/retrain",
    )
    world.quiet(minutes(59))
    plan = world.step(minutes(60))
    name = run_name("churn", TriggerReason.SCHEDULE, time_id(minutes(60)))
    assert [c.name for c in plan.creates] == [name]
    assert world.status.last_schedule_time == minutes(60)
    assert world.status.last_trigger == LastTrigger(
        time=minutes(60), reason=TriggerReason.SCHEDULE, value="2026-11-22T05:00:00Z"
    )
    assert world.events[-1].message == (
        f"started TrainingJob {name} for schedule '0 6 * * *' (Europe/Berlin) at "
        "2026-11-22T05:00:00Z"
    )
    assert plan.requeue_after == 24 * 3600.0
    world.quiet(minutes(61))


def test_missed_schedules_start_one_run() -> None:
    body = policy_body(triggers={"schedule": {"cron": "*/10 * * * *"}})
    world = World(body)
    world.step(minutes(0.5))
    # The operator is down for 43 minutes: four scheduled times pass, one run starts.
    plan = world.step(minutes(43.5))
    assert [c.name for c in plan.creates] == [
        run_name("churn", TriggerReason.SCHEDULE, time_id(minutes(40)))
    ]
    assert world.status.last_schedule_time == minutes(40)
    world.quiet(minutes(44))
    world.finish(next(iter(world.runs)), minutes(45))
    world.step(minutes(45))
    # Down again past 04:55, half way to 05:00: the 04:50 run is dropped for the next.
    world.quiet(minutes(55.5))
    assert len(world.runs) == 1
    plan = world.step(minutes(60))
    assert [c.name for c in plan.creates] == [
        run_name("churn", TriggerReason.SCHEDULE, time_id(minutes(60)))
    ]


def test_a_missed_schedule_waits_for_a_run_until_it_expires() -> None:
    world, first = manual_world(triggers={"schedule": {"cron": "0 * * * *"}})
    plan = world.step(minutes(60))  # due while the manual run is active
    assert plan.creates == []
    assert world.condition("Retraining") == (
        "True",
        "RunActive",
        f"TrainingJob {first} is active; the schedule at 2026-11-22T05:00:00Z waits "
        "(concurrencyPolicy Forbid)",
    )
    assert plan.requeue_after == 30 * 60  # when it expires
    world.finish(first, minutes(80))
    plan = world.step(minutes(80))  # 20 minutes late: still nearer than 06:00
    assert [c.name for c in plan.creates] == [
        run_name("churn", TriggerReason.SCHEDULE, time_id(minutes(60)))
    ]


def test_an_unknown_time_zone_is_an_invalid_spec() -> None:
    world = World(
        policy_body(triggers={"schedule": {"cron": "0 3 * * *", "timeZone": "Mars/Base"}})
    )
    with pytest.raises(InvalidSpec) as exc:
        world.decide(T0)
    assert str(exc.value).startswith(
        "spec.triggers.schedule.timeZone: unknown time zone 'Mars/Base'"
    )
    status = invalid(world.status, 1, str(exc.value), T0)
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Ready", "False", "InvalidSpec")
    ]
    assert status.observed_generation == 1
    # Fixed: Ready again.
    world.body["status"] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    world.edit(triggers={"schedule": {"cron": "0 3 * * *", "timeZone": "UTC"}})
    world.step(minutes(1))
    assert world.condition("Ready") is not None
    assert world.condition("Ready")[:2] == ("True", "Watching")  # type: ignore[index]


def test_a_name_too_long_for_a_label_is_an_invalid_spec() -> None:
    body = policy_body()
    body["metadata"]["name"] = "p" * 64
    with pytest.raises(InvalidSpec, match=r"metadata\.name: must be at most 63 characters"):
        World(body).decide(T0)


# --- manual ---------------------------------------------------------------------------------


def test_manual_retrain_once_per_value() -> None:
    world = World(policy_body(triggers={"manual": {}}))
    world.annotate(RETRAIN_ANNOTATION, "2026-11-22")  # set with the policy: it counts
    plan = world.step(T0)
    first = manual_name("2026-11-22")
    assert [c.name for c in plan.creates] == [first]
    assert world.status.handled_retrain == "2026-11-22"
    assert world.status.last_trigger == LastTrigger(
        time=T0, reason=TriggerReason.MANUAL, value="2026-11-22"
    )
    assert world.events[-1].message == (
        f"started TrainingJob {first} for annotation mlops.dev/retrain='2026-11-22'"
    )
    world.finish(first, minutes(30))
    world.step(minutes(30))
    world.quiet(minutes(31))  # the same value again does nothing

    world.annotate(RETRAIN_ANNOTATION, "again")
    world.step(minutes(32))
    second = manual_name("again", "2026-11-22")
    assert second in world.runs
    world.finish(second, minutes(50))
    world.step(minutes(50))
    # An old value used again is a new request, with a run of its own.
    world.annotate(RETRAIN_ANNOTATION, "2026-11-22")
    world.step(minutes(51))
    third = manual_name("2026-11-22", "again")
    assert third not in (first, second)
    assert list(world.runs) == [first, second, third]
    world.quiet(minutes(52))


def test_removing_the_annotation_withdraws_a_waiting_request() -> None:
    world = World(policy_body(triggers={"manual": {}}, cooldown="1h"))
    world.annotate(RETRAIN_ANNOTATION, "1")
    world.step(T0)
    world.finish(manual_name("1"), minutes(10))
    world.step(minutes(10))
    world.annotate(RETRAIN_ANNOTATION, "2")
    world.step(minutes(20))
    assert world.condition("CoolingDown") == (
        "True",
        "Cooldown",
        f"cooldown 1h after TrainingJob {manual_name('1')} ended: no run starts before "
        "2026-11-22T05:10:00Z; annotation mlops.dev/retrain='2' waits",
    )
    world.annotate(RETRAIN_ANNOTATION, None)
    world.step(minutes(21))
    world.step(minutes(70))
    assert list(world.runs) == [manual_name("1")]
    assert world.status.phase is P.WATCHING


# --- concurrency ----------------------------------------------------------------------------


def manual_world(triggers: dict[str, Any] | None = None, **spec: Any) -> tuple[World, str]:
    """A policy retrained by hand, with its first run active."""
    world = World(policy_body(triggers={"manual": {}, **(triggers or {})}, **spec))
    world.annotate(RETRAIN_ANNOTATION, "1")
    world.step(T0)
    return world, manual_name("1")


def test_forbid_holds_a_trigger_while_a_run_is_active() -> None:
    world, first = manual_world()
    world.annotate(RETRAIN_ANNOTATION, "2")
    plan = world.step(minutes(5))
    assert (plan.creates, plan.deletes) == ([], [])
    message = (
        f"TrainingJob {first} is active; annotation mlops.dev/retrain='2' waits "
        "(concurrencyPolicy Forbid)"
    )
    assert world.condition("Retraining") == ("True", "RunActive", message)
    assert world.status.phase is P.RETRAINING
    assert world.status.handled_retrain == "1"
    assert world.events[-1].reason == "RetrainWaiting"
    world.quiet(minutes(6))
    # The run ends: the waiting request starts at once (no cooldown).
    world.finish(first, minutes(20))
    plan = world.step(minutes(20))
    assert [c.name for c in plan.creates] == [manual_name("2", "1")]
    assert world.reasons()[-3:] == ["RetrainSucceeded", "ModelPromoted", "RetrainStarted"]
    assert world.status.active_training_job == manual_name("2", "1")
    assert world.status.last_training_job == first
    world.quiet(minutes(21))


def test_replace_deletes_the_active_run_then_starts_the_new_one() -> None:
    world, first = manual_world(concurrencyPolicy="Replace")
    uid = world.runs[first]["metadata"]["uid"]
    world.annotate(RETRAIN_ANNOTATION, "2")
    plan = world.step(minutes(5))
    assert plan.deletes == [Delete("TrainingJob", first, uid)]
    assert plan.creates == []  # two runs never hold GPUs at once
    message = (
        f"deleting TrainingJob {first} to start a run for annotation mlops.dev/retrain='2' "
        "(concurrencyPolicy Replace)"
    )
    assert world.condition("Retraining") == ("True", "Replacing", message)
    assert world.reasons()[-1] == "Replacing"
    world.quiet(minutes(6))  # still being deleted: no second delete
    world.gone(first)
    plan = world.step(minutes(7))
    second = manual_name("2", "1")
    assert [c.name for c in plan.creates] == [second]
    assert world.status.active_training_job == second
    assert "RunDeleted" not in world.reasons()
    world.quiet(minutes(8))


def test_a_run_deleted_by_someone_else_is_reported() -> None:
    world, first = manual_world()
    world.gone(first)
    world.step(minutes(5))
    assert world.status.active_training_job is None
    assert world.condition("Retraining") == (
        "False",
        "RunDeleted",
        f"TrainingJob {first} was deleted before it was seen to finish",
    )
    assert world.events[-1].type == "Warning"
    world.quiet(minutes(6))


def test_runs_of_another_owner_do_not_count() -> None:
    world, first = manual_world()
    world.runs[first]["metadata"]["ownerReferences"][0]["uid"] = "a-deleted-namesake"
    world.step(minutes(1))
    assert world.status.active_training_job is None


# --- cooldown and budget ---------------------------------------------------------------------


def test_cooldown_holds_a_breach_and_says_until_when() -> None:
    world = World(policy_body(triggers={"drift": {**DRIFT, "for": "0s"}}, cooldown="1h"))
    world.step(minutes(1), value(0.5))
    first = drift_name(minutes(1))
    world.finish(first, minutes(20))
    plan = world.step(minutes(20), value(0.1))
    assert world.status.next_eligible_time == minutes(80)
    assert world.status.phase is P.COOLING_DOWN
    assert plan.requeue_after is not None
    assert plan.requeue_after <= 60
    world.quiet(minutes(21), value(0.1))

    world.step(minutes(30), value(0.5))
    assert len(world.runs) == 1
    message = (
        f"cooldown 1h after TrainingJob {first} ended: no run starts before "
        "2026-11-22T05:20:00Z; the drift breach since 2026-11-22T04:30:00Z waits"
    )
    assert world.condition("CoolingDown") == ("True", "Cooldown", message)
    assert (world.events[-1].reason, world.events[-1].message) == ("CoolingDown", message)
    world.quiet(minutes(31), value(0.5))

    plan = world.step(minutes(80))  # the requeue at the end of the cooldown
    assert plan.creates == []  # a breach starts a run only at an evaluation
    plan = world.step(minutes(81), value(0.5))
    assert [c.name for c in plan.creates] == [drift_name(minutes(30))]
    assert world.status.next_eligible_time is None
    assert world.condition("CoolingDown") == (
        "False",
        "Eligible",
        "no cooldown or budget holds runs back",
    )


def test_the_daily_budget_is_rolling_and_survives_pruning() -> None:
    world, first = manual_world(maxRetrainsPerDay=2, historyLimit={"succeeded": 0})
    world.finish(first, minutes(10), model=None)
    world.step(minutes(10))
    world.annotate(RETRAIN_ANNOTATION, "2")
    world.step(minutes(60))
    second = manual_name("2", "1")
    assert second in world.runs
    assert world.status.next_eligible_time == T0 + timedelta(hours=24)
    assert world.status.phase is P.RETRAINING
    world.finish(second, minutes(70), model=None)
    world.step(minutes(70))
    world.step(minutes(71))
    # The finished runs are pruned (historyLimit 0): the budget still knows them.
    assert sorted(world.collect()) == sorted([first, second])
    world.annotate(RETRAIN_ANNOTATION, "3")
    world.step(minutes(80))
    assert world.runs == {}
    assert world.status.phase is P.COOLING_DOWN
    assert world.condition("CoolingDown") == (
        "True",
        "BudgetSpent",
        "2 runs started in the last 24h (maxRetrainsPerDay 2): no run starts before "
        "2026-11-23T04:00:00Z; annotation mlops.dev/retrain='3' waits",
    )
    assert world.reasons()[-1] == "BudgetSpent"
    world.quiet(minutes(81))
    # 24 hours after the first start, one run may start again.
    plan = world.step(T0 + timedelta(hours=24))
    assert [c.name for c in plan.creates] == [manual_name("3", "2")]
    assert [r.training_job for r in world.status.recent_runs or []] == [
        second,
        manual_name("3", "2"),
    ]


# --- promotion -------------------------------------------------------------------------------


def promotion_world(promotion: dict[str, Any]) -> tuple[World, str]:
    world, first = manual_world(promotion=promotion)
    return world, first


def test_automatic_promotion_passes_the_evaluation_gate() -> None:
    world, run = promotion_world({"evaluation": {"metric": "accuracy", "min": 0.9}})
    world.finish(run, minutes(30), metrics={"accuracy": 0.93, "val_loss": 0.2})
    world.step(minutes(30))
    assert world.status.latest_model == LatestModel(uri=MODEL, training_job=run, time=minutes(30))
    message = f"model {MODEL} of TrainingJob {run} promoted (accuracy 0.93 is within >= 0.9)"
    assert world.condition("Promoted") == ("True", "ModelPromoted", message)
    assert world.reasons()[-2:] == ["RetrainSucceeded", "ModelPromoted"]
    assert world.status.phase is P.WATCHING
    world.quiet(minutes(31))


@pytest.mark.parametrize(
    ("metrics", "reason", "detail"),
    [
        ({"accuracy": 0.81}, "EvaluationFailed", "accuracy 0.81 is outside [0.9, 1]"),
        (
            {"val_loss": 0.2},
            "MetricMissing",
            "TrainingJob {run} reported no metric 'accuracy' (its metrics: val_loss)",
        ),
        (
            None,
            "MetricMissing",
            "TrainingJob {run} reported no metric 'accuracy' (its metrics: none)",
        ),
    ],
)
def test_automatic_promotion_fails_the_evaluation_gate(
    metrics: dict[str, float] | None, reason: str, detail: str
) -> None:
    world, run = promotion_world({"evaluation": {"metric": "accuracy", "min": 0.9, "max": 1}})
    world.finish(run, minutes(30), metrics=metrics)
    world.step(minutes(30))
    assert world.status.latest_model is None
    message = f"model of {run} not promoted: " + detail.format(run=run)
    assert world.condition("Promoted") == ("False", reason, message)
    event = world.events[-1]
    assert (event.type, event.reason, event.message) == ("Warning", "NotPromoted", message)
    world.quiet(minutes(31))


def test_a_run_without_a_model_is_not_promoted() -> None:
    world, run = promotion_world({})
    world.finish(run, minutes(30), model=None)
    world.step(minutes(30))
    assert world.status.latest_model is None
    assert world.condition("Promoted") == (
        "False",
        "NoModel",
        f"TrainingJob {run} succeeded without a model: set "
        "spec.trainingJobTemplate.spec.output.modelUri",
    )


def test_a_failed_run_is_never_promoted() -> None:
    world, run = promotion_world({})
    world.finish(run, minutes(30), succeeded=False)
    world.step(minutes(30))
    assert world.status.latest_model is None
    assert world.condition("Retraining") == (
        "False",
        "RunFailed",
        f"TrainingJob {run} failed: attempt 1 failed: node 0 exited with code 1",
    )
    assert world.reasons()[-1] == "RetrainFailed"
    world.quiet(minutes(31))


def test_manual_promotion_waits_for_the_annotation() -> None:
    world, run = promotion_world(
        {"mode": "Manual", "evaluation": {"metric": "accuracy", "min": 0.9}}
    )
    world.finish(run, minutes(30), metrics={"accuracy": 0.85})
    world.step(minutes(30))
    assert world.status.latest_model is None
    awaiting = (
        f"TrainingJob {run} succeeded (accuracy 0.85 is outside >= 0.9); promote its model "
        f"with annotation mlops.dev/promote={run}"
    )
    assert world.condition("Promoted") == ("False", "AwaitingPromotion", awaiting)
    world.quiet(minutes(31))

    world.annotate(PROMOTE_ANNOTATION, "no-such-run")
    world.step(minutes(40))
    assert world.status.latest_model is None
    assert world.status.handled_promote == "no-such-run"
    assert (world.events[-1].type, world.events[-1].reason) == ("Warning", "NotPromoted")
    world.quiet(minutes(41))

    world.annotate(PROMOTE_ANNOTATION, run)  # a person decides despite the gate
    world.step(minutes(50))
    assert world.status.latest_model == LatestModel(uri=MODEL, training_job=run, time=minutes(50))
    assert world.status.handled_promote == run
    assert world.condition("Promoted") == (
        "True",
        "ModelPromoted",
        f"model {MODEL} of TrainingJob {run} promoted by annotation mlops.dev/promote "
        "(accuracy 0.85 is outside >= 0.9)",
    )
    world.quiet(minutes(51))


# --- history ---------------------------------------------------------------------------------


def test_history_limit_prunes_old_runs_but_never_the_latest_model() -> None:
    world = World(
        policy_body(
            triggers={"manual": {}},
            historyLimit={"succeeded": 2, "failed": 1},
            promotion={"evaluation": {"metric": "accuracy", "min": 0.9}},
        )
    )
    names = []
    outcomes = [0.95, 0.5, 0.5, None, 0.5, None]  # None: the run fails
    for i, accuracy in enumerate(outcomes):
        world.annotate(RETRAIN_ANNOTATION, str(i))
        world.step(minutes(10 * i))
        name = world.status.active_training_job
        assert name is not None
        names.append(name)
        if accuracy is None:
            world.finish(name, minutes(10 * i + 5), succeeded=False)
        else:
            world.finish(name, minutes(10 * i + 5), metrics={"accuracy": accuracy})
        world.step(minutes(10 * i + 5))
        world.step(minutes(10 * i + 6))  # prunes what status now records as ended
        world.collect()
    # The first run made the latest model (the others failed the gate): it stays.
    assert world.status.latest_model is not None
    assert world.status.latest_model.training_job == names[0]
    assert list(world.runs) == [names[0], names[2], names[4], names[5]]
    world.quiet(minutes(70))


def test_a_run_is_pruned_only_after_its_end_was_recorded() -> None:
    world, run = manual_world(historyLimit={"succeeded": 0})
    world.finish(run, minutes(30))
    plan = world.step(minutes(30))
    assert plan.deletes == []  # its promotion first; a crash must not lose it
    plan = world.step(minutes(30.1))
    assert [d.name for d in plan.deletes] == []  # it made the latest model
    assert world.status.latest_model is not None


# --- suspend ---------------------------------------------------------------------------------


def test_suspend_stops_the_triggers_but_not_the_run() -> None:
    world = World(policy_body(triggers={"drift": {**DRIFT, "for": "0s"}}))
    world.step(minutes(1), value(0.5))
    run = drift_name(minutes(1))
    world.edit(suspend=True)
    world.step(minutes(2))
    assert world.status.phase is P.SUSPENDED
    assert world.condition("Suspended") == (
        "True",
        "Suspended",
        "spec.suspend: no trigger is evaluated; a running TrainingJob goes on",
    )
    assert world.reasons()[-1] == "Suspended"
    world.annotate(RETRAIN_ANNOTATION, "now")
    plan = world.quiet(minutes(3), value(0.9))  # no trigger counts, not even a reading
    assert plan.requeue_after is None
    world.finish(run, minutes(30))
    world.step(minutes(30))
    assert world.status.latest_model is not None  # the run's end is still handled
    assert world.runs.keys() == {run}
    world.edit(suspend=False)
    plan = world.step(minutes(40))
    assert world.reasons()[-2:] == ["Resumed", "RetrainStarted"]
    assert [c.name for c in plan.creates] == [manual_name("now")]
    assert world.condition("Suspended") == ("False", "Resumed", "triggers are evaluated again")


def test_suspend_closes_the_breach_window() -> None:
    world = World(policy_body())
    breach(world, 1, 5)
    world.edit(suspend=True)
    world.step(minutes(6))
    assert world.status.breaching_since is None
    assert world.condition("Breaching") == ("False", "Suspended", "not evaluated while suspended")
    world.quiet(minutes(7))


# --- status as the controller writes it --------------------------------------------------------


def test_drift_removed_from_the_spec_clears_its_status() -> None:
    world = World(policy_body())
    world.step(minutes(1), NO_DATA)
    world.edit(triggers={"manual": {}})
    world.step(minutes(2))
    status = world.status
    assert (status.last_value, status.last_evaluation_time, status.breaching_since) == (
        None,
        None,
        None,
    )
    assert world.condition("Breaching") is None
    assert world.condition("Ready") == ("True", "Watching", "watching annotation mlops.dev/retrain")
    assert status.observed_generation == 2


def test_an_infinite_value_is_written_as_the_largest_float() -> None:
    world = World(policy_body())
    world.step(minutes(1), value(float("inf")))
    assert world.status.last_value == 1.7976931348623157e308
    assert world.status.breaching_since == minutes(1)


def test_reconcile_does_not_touch_its_input() -> None:
    world, _ = manual_world()
    policy = world.policy
    before = policy.status.model_copy(deep=True)
    plan = reconcile(policy, world.observed(), minutes(1))
    assert plan.status is not None
    plan.status.conditions.clear()
    assert policy.status == before
    assert isinstance(plan.status, RetrainPolicyStatus)


def test_a_run_state_without_times_sorts_first() -> None:
    world, first = manual_world()
    stray = RunState(name="churn-x", uid="u", owner_uid=UID)
    plan = reconcile(world.policy, Observed(runs=(*world.observed().runs, stray)), minutes(1))
    assert plan.status is not None
    assert plan.status.active_training_job == first


# --- less travelled paths -----------------------------------------------------------------------


def test_a_manual_run_created_before_a_crash_is_recorded_not_repeated() -> None:
    world = World(policy_body(triggers={"manual": {}}))
    world.annotate(RETRAIN_ANNOTATION, "1")
    world.step(T0, write_status=False)  # crash: no status
    plan = world.step(minutes(1))
    assert plan.creates == []
    assert list(world.runs) == [manual_name("1")]
    status = world.status
    assert status.handled_retrain == "1"
    assert status.active_training_job == manual_name("1")
    assert status.last_trigger == LastTrigger(time=T0, reason=TriggerReason.MANUAL, value="1")
    assert status.recent_runs == [RunStart(training_job=manual_name("1"), time=T0)]
    world.quiet(minutes(2))


def test_replace_waits_for_the_cooldown_before_deleting() -> None:
    world, _ = manual_world(concurrencyPolicy="Replace", maxRetrainsPerDay=1)
    world.annotate(RETRAIN_ANNOTATION, "2")
    plan = world.step(minutes(5))
    assert (plan.creates, plan.deletes) == ([], [])
    assert world.condition("CoolingDown") == (
        "True",
        "BudgetSpent",
        "1 run started in the last 24h (maxRetrainsPerDay 1): no run starts before "
        "2026-11-23T04:00:00Z; annotation mlops.dev/retrain='2' waits",
    )
    assert world.status.phase is P.RETRAINING
    world.quiet(minutes(6))


def test_promoting_by_hand_a_run_without_a_model_or_the_current_one() -> None:
    world, run = manual_world()
    world.finish(run, minutes(30))
    world.step(minutes(30))
    assert world.status.latest_model is not None
    world.annotate(PROMOTE_ANNOTATION, run)  # already the latest model: only recorded
    plan = world.step(minutes(31))
    assert plan.events == []
    assert world.status.handled_promote == run
    assert world.status.latest_model.time == minutes(30)
    world.annotate(RETRAIN_ANNOTATION, "2")
    world.step(minutes(32))
    second = manual_name("2", "1")
    world.finish(second, minutes(40), model=None)
    world.step(minutes(40))
    world.annotate(PROMOTE_ANNOTATION, second)
    plan = world.step(minutes(41))
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Warning", "NotPromoted", f"TrainingJob {second} has no model")
    ]
    assert world.status.latest_model.training_job == run


def test_an_evaluation_with_a_maximum_only() -> None:
    world, run = promotion_world({"evaluation": {"metric": "val_loss", "max": 0.3}})
    world.finish(run, minutes(30), metrics={"val_loss": 0.21})
    world.step(minutes(30))
    assert world.condition("Promoted") == (
        "True",
        "ModelPromoted",
        f"model {MODEL} of TrainingJob {run} promoted (val_loss 0.21 is within <= 0.3)",
    )


def test_a_threshold_of_zero_writes_every_change() -> None:
    world = World(policy_body(triggers={"drift": {**DRIFT, "threshold": 0}}))
    world.step(minutes(1), value(0))
    world.quiet(minutes(2), value(0))
    plan = world.step(minutes(3), value(-0.001))
    assert plan.status is not None
    assert plan.status.last_value == -0.001


def test_a_retraining_condition_left_true_is_set_false() -> None:
    world = World(policy_body(triggers={"manual": {}}))
    world.step(T0)
    world.body["status"]["conditions"].append(
        {
            "type": "Retraining",
            "status": "True",
            "reason": "RunActive",
            "message": "TrainingJob x is active",
            "lastTransitionTime": "2026-11-22T03:00:00Z",
        }
    )
    world.step(minutes(1))
    assert world.condition("Retraining") == ("False", "Idle", "no TrainingJob is active")


def test_a_window_kept_across_a_restart_fires_only_at_an_evaluation() -> None:
    # The window opened, then the operator was down past `for` (15m here) while the drift
    # ended. The status still holds the window: time alone must not start a run.
    world = World(policy_body())
    breach(world, 1, 5)
    assert world.status.breaching_since == minutes(1)
    plan = world.step(minutes(30))  # restarted: a reconcile before any evaluation
    assert plan.creates == []
    plan = world.step(minutes(31), value(0.1))  # the first evaluation: the breach is over
    assert plan.creates == []
    assert world.status.breaching_since is None
    assert world.runs == {}
