"""Why a run exists: the trigger a RetrainPolicy stamped on it, copied into ``status``.

A RetrainPolicy creates its runs with the label ``mlops.dev/retrainpolicy: <policy>`` and
the trigger as annotations (reason, value, time, and the query of a drift trigger). Metadata
can be edited by anyone, status only by the operator: the run's first status write copies
them into ``status.triggeredBy``, which then never changes, so the lineage from a served
model back to the drift that started its training holds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mlops_operator.api.common import MAX_STRING
from mlops_operator.api.keys import (
    RETRAINPOLICY_LABEL,
    TRIGGER_QUERY_ANNOTATION,
    TRIGGER_REASON_ANNOTATION,
    TRIGGER_TIME_ANNOTATION,
    TRIGGER_VALUE_ANNOTATION,
)
from mlops_operator.api.trainingjob import TrainingJob, TriggeredBy
from mlops_operator.core.conditions import truncate

__all__ = ["triggered_by"]


def triggered_by(tj: TrainingJob) -> TriggeredBy | None:
    """The trigger recorded on the run's metadata; None unless a policy created it.

    Both the policy label and the reason annotation must be there (a child's labels alone
    do not make a retrain). A value that cannot be used, such as a time that is not RFC 3339,
    is left out rather than failing anything; long texts are cut to 4096 characters.
    """
    labels = tj.metadata.labels or {}
    annotations = tj.metadata.annotations or {}
    policy = labels.get(RETRAINPOLICY_LABEL)
    reason = annotations.get(TRIGGER_REASON_ANNOTATION)
    if not policy or not reason:
        return None
    value = annotations.get(TRIGGER_VALUE_ANNOTATION)
    query = annotations.get(TRIGGER_QUERY_ANNOTATION)
    return TriggeredBy(
        retrain_policy=policy,
        reason=truncate(reason, MAX_STRING),
        value=truncate(value, MAX_STRING) if value else None,
        query=truncate(query, MAX_STRING) if query else None,
        time=_time(annotations.get(TRIGGER_TIME_ANNOTATION)),
    )


def _time(text: str | None) -> datetime | None:
    """An RFC 3339 time with its offset, in UTC; None for anything else."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else None
