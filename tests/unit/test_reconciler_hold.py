"""The reconciler holds back a status write that only moves volatile fields."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mlops_operator.api.trainingjob import TrainingJobStatus
from mlops_operator.controllers import trainingjob
from mlops_operator.controllers.reconciler import _hold
from mlops_operator.controllers.runtime import Key, OwnWrites

KEY = Key("TrainingJob", "ml", "llm")
PENDING = {"phase": "Pending", "attempts": 1, "conditions": [{"type": "Created"}]}
COUNTED = {**PENDING, "nodes": {"active": 1}, "startTime": "2026-12-01T00:00:00Z"}
RUNNING = {**COUNTED, "phase": "Running", "nodes": {"active": 1, "ready": 1}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def runtime(clock: Clock) -> Any:
    return SimpleNamespace(writes=OwnWrites(clock))


def test_counters_alone_wait_up_to_the_hold_then_are_written() -> None:
    clock = Clock()
    rt = runtime(clock)
    ctl = trainingjob.CONTROLLER
    assert ctl.hold == 300.0
    assert _hold(rt, ctl, KEY, PENDING, COUNTED) == 300.0
    clock.now += 285
    assert _hold(rt, ctl, KEY, PENDING, COUNTED) == 15.0
    clock.now += 15
    assert _hold(rt, ctl, KEY, PENDING, COUNTED) == 0.0  # held long enough: write


def test_a_phase_change_is_written_at_once_and_carries_the_counters() -> None:
    clock = Clock()
    rt = runtime(clock)
    ctl = trainingjob.CONTROLLER
    assert _hold(rt, ctl, KEY, PENDING, COUNTED) == 300.0
    clock.now += 5
    assert _hold(rt, ctl, KEY, PENDING, RUNNING) == 0.0


def test_a_write_ends_the_hold_so_the_next_counters_wait_afresh() -> None:
    clock = Clock()
    rt = runtime(clock)
    ctl = trainingjob.CONTROLLER
    _hold(rt, ctl, KEY, PENDING, COUNTED)
    clock.now += 50
    rt.writes.wrote(KEY, "1", TrainingJobStatus(), "2")
    assert _hold(rt, ctl, KEY, RUNNING, {**RUNNING, "nodes": {"active": 0}}) == 300.0


def test_nothing_to_write_is_never_held() -> None:
    rt = runtime(Clock())
    assert _hold(rt, trainingjob.CONTROLLER, KEY, PENDING, PENDING) == 0.0
