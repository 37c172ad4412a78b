"""Set and read status conditions, the one way every controller of ours does it.

Conditions follow metav1.Condition semantics: ``lastTransitionTime`` moves only when
``status`` changes (so "Ready since" stays true across reconciles that merely refresh the
message), and ``observedGeneration`` says which spec the condition speaks about (so Argo CD
and ``kubectl wait`` can tell a stale ``Ready=True`` from a fresh one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mlops_operator.api.common import Condition, ConditionStatus

__all__ = [
    "MAX_MESSAGE",
    "find_condition",
    "is_false",
    "is_true",
    "remove_condition",
    "set_condition",
    "truncate",
]

#: What the API accepts in a condition's message (metav1.Condition, and our Condition model).
MAX_MESSAGE = 32768
TRUNCATED = "... (truncated)"


def truncate(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to at most ``limit`` characters, the cut marked with ``... (truncated)``.

    Messages quote what others said (an API refusal, a scheduler's verdict), which has no
    bound; a condition that the API refuses would lose the whole status write.
    """
    if len(message) <= limit:
        return message
    return message[: limit - len(TRUNCATED)] + TRUNCATED


def find_condition(conditions: Sequence[Condition] | None, type_: str) -> Condition | None:
    """The condition of type ``type_``, or None."""
    for condition in conditions or ():
        if condition.type == type_:
            return condition
    return None


def is_true(conditions: Sequence[Condition] | None, type_: str) -> bool:
    """Whether the condition exists and is ``True``."""
    condition = find_condition(conditions, type_)
    return condition is not None and condition.status == "True"


def is_false(conditions: Sequence[Condition] | None, type_: str) -> bool:
    """Whether the condition exists and is ``False`` (absent is neither true nor false)."""
    condition = find_condition(conditions, type_)
    return condition is not None and condition.status == "False"


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    *,
    generation: int | None,
    now: datetime,
) -> bool:
    """Add or update the condition of type ``type_`` in place; True if anything changed.

    ``lastTransitionTime`` becomes ``now`` only when the condition is new or its status
    changes; reason, message and observedGeneration are always refreshed. The list keeps
    its order (new types are appended), so a status patch diffs minimally. A message longer
    than the API accepts is cut (see :func:`truncate`).
    """
    index = next((i for i, c in enumerate(conditions) if c.type == type_), None)
    old = conditions[index] if index is not None else None
    new = Condition(
        type=str(type_),
        status=status,
        reason=reason,
        message=truncate(message),
        last_transition_time=old.last_transition_time if old and old.status == status else now,
        observed_generation=generation,
    )
    if index is None:
        conditions.append(new)
        return True
    if new == old:
        return False
    conditions[index] = new
    return True


def remove_condition(conditions: list[Condition], type_: str) -> bool:
    """Drop the condition of type ``type_`` in place; True if it was there."""
    for index, condition in enumerate(conditions):
        if condition.type == type_:
            del conditions[index]
            return True
    return False
