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


def not_ready(status: S, generation: int | None, message: str, now: datetime) -> S:
    """A copy of ``status`` with ``Ready=False``/InvalidSpec naming what is wrong."""
    out = status.model_copy(deep=True)
    set_condition(
        out.conditions, "Ready", "False", INVALID_SPEC, message, generation=generation, now=now
    )
    out.observed_generation = generation
    return out
