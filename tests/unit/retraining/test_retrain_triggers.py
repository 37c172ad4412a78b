"""When the drift query runs: once per interval, on a grid offset per policy."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from retrain_world import T0, policy_body

from mlops_operator.api.retrainpolicy import RetrainPolicy, parse_retrainpolicy
from mlops_operator.core.retraining.triggers import (
    evaluation_due,
    format_value,
    next_evaluation,
    rfc3339,
)

MINUTE = timedelta(minutes=1)


def policy(uid: str = "0b8e4c1d", **spec: object) -> RetrainPolicy:
    body = policy_body(**spec)
    body["metadata"]["uid"] = uid
    return parse_retrainpolicy(body)


def test_one_evaluation_per_interval_on_the_policy_grid() -> None:
    p = policy()
    slot = next_evaluation(p, T0)
    assert slot is not None
    assert T0 < slot <= T0 + MINUTE
    # Started (or last evaluated) at T0: nothing is due before the policy's slot...
    assert not evaluation_due(p, T0, slot - timedelta(milliseconds=1))
    # ...and the slot is due, once.
    assert evaluation_due(p, T0, slot)
    assert not evaluation_due(p, slot, slot + timedelta(seconds=59))
    assert evaluation_due(p, slot, slot + MINUTE)
    assert next_evaluation(p, slot) == slot + MINUTE
    # A late reconcile (a busy operator) evaluates once, then goes back on the grid.
    late = slot + timedelta(seconds=150)
    assert evaluation_due(p, slot, late)
    assert next_evaluation(p, late) == slot + 3 * MINUTE


def test_never_evaluated_in_this_process_is_due_at_once() -> None:
    assert evaluation_due(policy(), None, T0)


def test_slots_spread_over_the_interval() -> None:
    offsets = []
    for i in range(500):
        slot = next_evaluation(policy(uid=f"uid-{i}"), T0)
        assert slot is not None
        offsets.append((slot - T0).total_seconds())
    assert all(0 < o <= 60 for o in offsets)
    # 500 policies restarted at once: no ten-second stretch holds more than a quarter.
    for start in range(0, 60, 10):
        assert sum(start < o <= start + 10 for o in offsets) < 125
    # The offset is the policy's own: the same uid always lands on the same slot.
    assert next_evaluation(policy(uid="uid-7"), T0) == T0 + timedelta(seconds=offsets[7])


def test_interval_is_honoured() -> None:
    p = policy(
        triggers={"drift": {**policy_body()["spec"]["triggers"]["drift"], "interval": "10s"}}
    )
    first = next_evaluation(p, T0)
    assert first is not None
    assert first - T0 <= timedelta(seconds=10)
    assert next_evaluation(p, first) == first + timedelta(seconds=10)


def test_no_query_while_suspended_or_without_drift() -> None:
    suspended = policy(suspend=True)
    assert not evaluation_due(suspended, None, T0)
    assert next_evaluation(suspended, T0) is None
    body = policy_body(triggers={"manual": {}})
    manual = parse_retrainpolicy(copy.deepcopy(body))
    assert not evaluation_due(manual, None, T0)
    assert next_evaluation(manual, T0) is None


def test_text() -> None:
    assert rfc3339(datetime(2026, 11, 22, 5, 0, 1, 999, tzinfo=UTC)) == "2026-11-22T05:00:01Z"
    assert [format_value(v) for v in (0.42, 1e-9, 1234567.0, float("inf"))] == [
        "0.42",
        "1e-09",
        "1.23457e+06",
        "inf",
    ]
