"""status.triggeredBy from the label and annotations a RetrainPolicy puts on its runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.api.keys import (
    RETRAINPOLICY_LABEL,
    TRIGGER_QUERY_ANNOTATION,
    TRIGGER_REASON_ANNOTATION,
    TRIGGER_TIME_ANNOTATION,
    TRIGGER_VALUE_ANNOTATION,
)
from mlops_operator.api.trainingjob import TrainingJob, TriggeredBy
from mlops_operator.core.training.lineage import triggered_by


def run(labels: dict[str, str] | None, annotations: dict[str, str] | None) -> TrainingJob:
    meta: dict[str, Any] = {"name": "llm-drift-29", "namespace": "ml"}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return TrainingJob.model_validate({"metadata": meta, "spec": {"image": "x"}})


POLICY = {RETRAINPOLICY_LABEL: "llm-drift", "team": "nlp"}


def test_every_trigger_annotation_is_copied() -> None:
    tj = run(
        POLICY,
        {
            TRIGGER_REASON_ANNOTATION: "Drift",
            TRIGGER_VALUE_ANNOTATION: "0.31",
            TRIGGER_TIME_ANNOTATION: "2026-11-22T03:58:00Z",
            TRIGGER_QUERY_ANNOTATION: "avg(drift)",
            "unrelated": "x",
        },
    )
    assert triggered_by(tj) == TriggeredBy(
        retrain_policy="llm-drift",
        reason="Drift",
        value="0.31",
        time=datetime(2026, 11, 22, 3, 58, tzinfo=UTC),
        query="avg(drift)",
    )


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("2026-11-22T03:58:00Z", datetime(2026, 11, 22, 3, 58, tzinfo=UTC)),
        ("2026-11-22T04:58:00.250+01:00", datetime(2026, 11, 22, 3, 58, 0, 250000, tzinfo=UTC)),
        (" 2026-11-22t03:58:00z ", datetime(2026, 11, 22, 3, 58, tzinfo=UTC)),
        ("2026-11-22T03:58:00", None),  # no offset: which zone?
        ("yesterday", None),
        ("1764000000", None),
        ("2026-13-40T99:00:00Z", None),
        ("", None),
    ],
)
def test_trigger_time_must_be_rfc3339_with_an_offset(text: str, when: datetime | None) -> None:
    tj = run(POLICY, {TRIGGER_REASON_ANNOTATION: "Schedule", TRIGGER_TIME_ANNOTATION: text})
    found = triggered_by(tj)
    assert found is not None
    assert found.time == when
    assert found.reason == "Schedule"


@pytest.mark.parametrize(
    ("labels", "annotations"),
    [
        (None, None),
        (POLICY, None),
        (POLICY, {TRIGGER_VALUE_ANNOTATION: "0.3"}),
        (POLICY, {TRIGGER_REASON_ANNOTATION: ""}),
        ({RETRAINPOLICY_LABEL: ""}, {TRIGGER_REASON_ANNOTATION: "Manual"}),
        ({"team": "nlp"}, {TRIGGER_REASON_ANNOTATION: "Manual"}),
    ],
    ids=["nothing", "label-only", "no-reason", "empty-reason", "empty-policy", "no-label"],
)
def test_no_trigger_without_both_policy_and_reason(
    labels: dict[str, str] | None, annotations: dict[str, str] | None
) -> None:
    assert triggered_by(run(labels, annotations)) is None


def test_long_texts_are_cut() -> None:
    query = "sum(" * 2000 + "x" + ")" * 2000
    tj = run(POLICY, {TRIGGER_REASON_ANNOTATION: "Drift", TRIGGER_QUERY_ANNOTATION: query})
    found = triggered_by(tj)
    assert found is not None
    assert found.query is not None
    assert len(found.query) == 4096
    assert found.query.endswith("... (truncated)")
