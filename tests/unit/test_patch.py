"""The status diff: a JSON merge patch that really turns one document into the other."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlops_operator.core.patch import merge_diff


def apply(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch, as the apiserver applies it."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply(out.get(key), value)
    return out


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("equal", {"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}, {}),
    ("scalar changes", {"a": 1}, {"a": 2}, {"a": 2}),
    ("key added", {}, {"phase": "Running"}, {"phase": "Running"}),
    ("key removed becomes null", {"canary": {"weight": 10}, "x": 1}, {"x": 1}, {"canary": None}),
    (
        "nested key removed",
        {"canary": {"weight": 10, "stepIndex": 2}},
        {"canary": {"weight": 10}},
        {"canary": {"stepIndex": None}},
    ),
    ("nested unchanged is omitted", {"a": {"b": 1}, "c": 1}, {"a": {"b": 1}, "c": 2}, {"c": 2}),
    ("list replaced whole", {"l": [1, 2]}, {"l": [1]}, {"l": [1]}),
    ("list equal omitted", {"l": [{"t": "A"}]}, {"l": [{"t": "A"}]}, {}),
    ("dict replaces scalar", {"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
    ("scalar replaces dict", {"a": {"b": 1}}, {"a": 1}, {"a": 1}),
    ("empty dict from something", {"a": {"b": 1}}, {"a": {}}, {"a": {"b": None}}),
    (
        "falsy values are values",
        {"a": 1},
        {"a": 0, "b": False, "c": ""},
        {"a": 0, "b": False, "c": ""},
    ),
]


@pytest.mark.parametrize(
    ("current", "desired", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_merge_diff(current: dict[str, Any], desired: dict[str, Any], want: dict[str, Any]) -> None:
    patch = merge_diff(current, desired)
    assert patch == want
    assert apply(current, patch) == desired


def test_the_patch_shares_no_objects_with_the_desired_document() -> None:
    desired = {"conditions": [{"type": "Ready"}], "canary": {"analysis": {"n": 1}}}
    patch = merge_diff({}, desired)
    patch["conditions"][0]["type"] = "changed"
    patch["canary"]["analysis"]["n"] = 2
    assert desired == {"conditions": [{"type": "Ready"}], "canary": {"analysis": {"n": 1}}}
