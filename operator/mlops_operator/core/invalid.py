"""What "this object can never work as written" looks like in the status of a kind that
keeps running: ``Ready=False`` with reason ``InvalidSpec``, as the API contract says.

(TrainingJob is the exception: a run that can never start has ended, so it is ``Failed``;
see :func:`mlops_operator.core.training.reconcile.invalid`.)
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from mlops_operator.api.common import StatusBase
from mlops_operator.core.conditions import set_condition

S = TypeVar("S", bound=StatusBase)

INVALID_SPEC = "InvalidSpec"
WRITE_FAILED = "WriteFailed"
"""A child could not be written for a reason that may pass (403 from a quota or a policy,
5xx, 429): retried with backoff, and said meanwhile."""


def not_ready(
    status: S, generation: int | None, message: str, now: datetime, reason: str = INVALID_SPEC
) -> S:
    """A copy of ``status`` with ``Ready=False`` and ``reason`` naming what is wrong."""
    out = status.model_copy(deep=True)
    set_condition(out.conditions, "Ready", "False", reason, message, generation=generation, now=now)
    out.observed_generation = generation
    return out


def write_failed(status: S, generation: int | None, message: str, now: datetime) -> S:
    """``Ready=False``/WriteFailed: a child write the API server refused for now."""
    return not_ready(status, generation, message, now, WRITE_FAILED)
