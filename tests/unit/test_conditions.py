"""core.conditions: metav1.Condition semantics for setting and reading conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlops_operator.api.common import Condition
from mlops_operator.core.conditions import (
    MAX_MESSAGE,
    find_condition,
    is_false,
    is_true,
    remove_condition,
    set_condition,
    truncate,
)

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_new_condition_is_appended_with_now_and_generation() -> None:
    conditions: list[Condition] = []
    assert set_condition(conditions, "Ready", "False", "Starting", "wait", generation=1, now=T0)
    assert conditions == [
        Condition(
            type="Ready",
            status="False",
            reason="Starting",
            message="wait",
            last_transition_time=T0,
            observed_generation=1,
        )
    ]


def test_same_status_keeps_transition_time_but_refreshes_the_rest() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "False", "Starting", "1/3 ready", generation=1, now=T0)
    changed = set_condition(
        conditions, "Ready", "False", "Scaling", "2/3 ready", generation=2, now=T1
    )
    assert changed
    (ready,) = conditions
    assert ready.last_transition_time == T0
    assert (ready.reason, ready.message, ready.observed_generation) == ("Scaling", "2/3 ready", 2)


def test_status_change_moves_transition_time() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "False", "Starting", generation=1, now=T0)
    set_condition(conditions, "Ready", "True", "Available", generation=1, now=T1)
    assert conditions[0].last_transition_time == T1
    assert conditions[0].status == "True"


def test_no_change_reports_false() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Available", "ok", generation=1, now=T0)
    before = list(conditions)
    assert not set_condition(conditions, "Ready", "True", "Available", "ok", generation=1, now=T1)
    assert conditions == before


def test_order_is_kept_and_types_are_independent() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Available", generation=1, now=T0)
    set_condition(conditions, "Degraded", "False", "Healthy", generation=1, now=T0)
    set_condition(conditions, "Ready", "False", "Down", generation=2, now=T1)
    assert [c.type for c in conditions] == ["Ready", "Degraded"]
    degraded = find_condition(conditions, "Degraded")
    assert degraded is not None
    assert degraded.last_transition_time == T0


def test_readers() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Available", generation=1, now=T0)
    set_condition(conditions, "Degraded", "False", "Healthy", generation=1, now=T0)
    assert is_true(conditions, "Ready")
    assert not is_false(conditions, "Ready")
    assert is_false(conditions, "Degraded")
    assert not is_true(conditions, "Paused")
    assert not is_false(conditions, "Paused")
    assert find_condition(conditions, "Paused") is None
    assert find_condition(None, "Ready") is None


def test_enum_types_are_stored_as_plain_strings() -> None:
    from mlops_operator.api.trainingjob import TrainingJobCondition

    conditions: list[Condition] = []
    set_condition(conditions, TrainingJobCondition.RUNNING, "True", "Running", generation=1, now=T0)
    assert conditions[0].model_dump(mode="json")["type"] == "Running"
    assert is_true(conditions, "Running")


def test_remove() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", "True", "Available", generation=1, now=T0)
    assert remove_condition(conditions, "Ready")
    assert not remove_condition(conditions, "Ready")
    assert conditions == []


def test_a_message_the_api_would_refuse_is_cut_and_marked() -> None:
    conditions: list[Condition] = []
    refusal = 'Job "llm-a1" is invalid: ' + "x" * 40_000
    set_condition(conditions, "Failed", "True", "InvalidSpec", refusal, generation=1, now=T0)
    (failed,) = conditions
    assert len(failed.message) == MAX_MESSAGE
    assert failed.message.startswith('Job "llm-a1" is invalid: xxx')
    assert failed.message.endswith("x... (truncated)")
    # The same long message again changes nothing.
    assert not set_condition(
        conditions, "Failed", "True", "InvalidSpec", refusal, generation=1, now=T1
    )


def test_a_message_of_exactly_the_limit_is_kept_whole() -> None:
    conditions: list[Condition] = []
    message = "y" * MAX_MESSAGE
    set_condition(conditions, "Ready", "False", "Down", message, generation=1, now=T0)
    assert conditions[0].message == message
    assert truncate("short") == "short"
    assert truncate("abcdefghijklmnopqrstuvwxyz", 20) == "abcde... (truncated)"
