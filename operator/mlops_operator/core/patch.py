"""JSON merge patches (RFC 7386) computed as a true diff between two JSON documents.

A status write sends only what changed. A merge patch cannot say "remove this key" except
with ``null``, so a key that is in the current document but not in the desired one becomes
``None`` here: that is how ``status.canary`` of a finished rollout, or a policy's
``activeTrainingJob``, really disappears from the server instead of lingering forever.
Lists are replaced whole (merge patches have no list operations).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["merge_diff"]


def merge_diff(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that turns ``current`` into ``desired``; ``{}`` when they are equal.

    Applying the result to ``current`` with RFC 7386 semantics yields ``desired`` exactly
    (``desired`` holds no ``None`` values of its own: absent and null mean the same thing to
    a merge patch, so callers dump their models with ``exclude_none``).
    """
    patch: dict[str, Any] = {}
    for key in current.keys() - desired.keys():
        patch[key] = None
    for key, want in desired.items():
        have = current.get(key)
        if isinstance(want, Mapping) and isinstance(have, Mapping):
            nested = merge_diff(have, want)
            if nested:
                patch[key] = nested
        elif key not in current or have != want:
            patch[key] = _plain(want)
    return patch


def _plain(value: Any) -> Any:
    """A copy of ``value`` that shares nothing with the desired document."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
