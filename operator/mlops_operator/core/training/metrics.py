"""What a run reports about itself: the metrics in its rank-0 container's termination message.

Kubernetes' own channel for a container's last words: the container writes to
``/dev/termination-log`` (at most 4 KiB) and the kubelet puts it in the pod's
``status.containerStatuses[].state.terminated.message``. A training script writes one JSON
object there, e.g. ``{"metrics": {"accuracy": 0.93, "val_loss": 0.21}}``; on success the
operator records the numbers in ``status.metrics``, where a RetrainPolicy's evaluation gate
and the lineage read them.

A script that writes nothing has no metrics, and that is fine. Anything else that cannot be
read is reported (an Event) but never fails the run: the model is there either way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from mlops_operator.api.common import MAX_LIST

__all__ = ["KEY", "MetricsReport", "read_metrics"]

KEY = "metrics"
"""The key of the termination message's JSON object that holds the metrics."""


@dataclass(frozen=True)
class MetricsReport:
    """The metrics read from a termination message, and what could not be used."""

    metrics: dict[str, float] = field(default_factory=dict)
    #: Why nothing could be read (not JSON, no ``metrics`` object); None if it could.
    unreadable: str | None = None
    #: Entries dropped, each as ``name (why)``, e.g. ``converged (a boolean)``.
    ignored: tuple[str, ...] = ()


def read_metrics(message: str | None) -> MetricsReport:
    """The numbers of ``{"metrics": {...}}`` in ``message``; see :class:`MetricsReport`."""
    if message is None or not message.strip():
        return MetricsReport()
    try:
        document = json.loads(message)
    except ValueError as exc:  # JSONDecodeError, and recursion or size limits of the parser
        return MetricsReport(unreadable=f"not JSON ({exc})")
    except RecursionError:
        return MetricsReport(unreadable="not JSON (nested too deeply)")
    if not isinstance(document, dict):
        return MetricsReport(unreadable=f"not a JSON object but {_kind(document)}")
    values = document.get(KEY)
    if not isinstance(values, dict):
        found = "no" if values is None else _kind(values)
        return MetricsReport(unreadable=f'"{KEY}" must be an object of numbers, found {found}')
    metrics: dict[str, float] = {}
    ignored: list[str] = []
    for name, value in values.items():
        number = _number(value)
        if isinstance(number, str):
            ignored.append(f"{name} ({number})")
        elif len(metrics) >= MAX_LIST:
            ignored.append(f"{name} (more than {MAX_LIST} metrics)")
        else:
            metrics[name] = number
    return MetricsReport(metrics=metrics, ignored=tuple(ignored))


def _number(value: Any) -> float | str:
    """The value as a finite float, or why it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _kind(value)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a double's range
        return "not a finite number"
    return number if math.isfinite(number) else "not a finite number"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a number"
