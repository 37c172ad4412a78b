"""Invariants of how the operator uses kopf."""

from __future__ import annotations

import kopf

import mlops_operator.controllers  # noqa: F401 - registers the handlers
from mlops_operator.controllers.operator import NoDiffBase


def test_no_change_detecting_handlers_so_no_diff_base_is_needed() -> None:
    # NoDiffBase skips kopf's per-event deep copy; a handler on create/update/delete would
    # then see empty diffs. Add one, and this test asks you to restore a real diff base.
    changing = list(kopf.get_default_registry()._changing.get_all_handlers())
    assert changing == []


def test_the_diff_base_is_inert() -> None:
    storage = NoDiffBase()
    body = kopf.Body({"metadata": {"name": "x"}, "spec": {"image": "i"}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    storage.store(body=body, patch=kopf.Patch(), essence=storage.build(body=body))
    assert dict(body) == {"metadata": {"name": "x"}, "spec": {"image": "i"}}
