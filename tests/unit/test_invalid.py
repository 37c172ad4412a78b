"""Ready=False/InvalidSpec for the kinds that keep running."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops_operator.api.modeldeployment import ModelDeploymentStatus
from mlops_operator.core.conditions import find_condition
from mlops_operator.core.invalid import not_ready

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_not_ready_names_the_problem_and_leaves_the_input_alone() -> None:
    before = ModelDeploymentStatus()
    after = not_ready(before, 4, "spec.model.trainingJobRef: llm does not exist", NOW)
    ready = find_condition(after.conditions, "Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "InvalidSpec")
    assert ready.message == "spec.model.trainingJobRef: llm does not exist"
    assert ready.observed_generation == 4
    assert after.observed_generation == 4
    assert before.conditions == []


def test_not_ready_again_with_the_same_message_changes_nothing() -> None:
    once = not_ready(ModelDeploymentStatus(), 1, "bad", NOW)
    twice = not_ready(once, 1, "bad", datetime(2026, 12, 2, tzinfo=UTC))
    assert twice == once  # the transition time stays: nothing to write


def test_write_failed_says_why_and_is_not_invalid() -> None:
    from mlops_operator.core.invalid import write_failed

    after = write_failed(ModelDeploymentStatus(), 2, "Deployment x: 403 Forbidden: quota", NOW)
    ready = find_condition(after.conditions, "Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "WriteFailed")
    assert "quota" in ready.message
