"""The label, annotation and finalizer keys: one place, valid keys, no two alike."""

from __future__ import annotations

import re

import pytest

from mlops_operator import GROUP
from mlops_operator.api import keys

#: A qualified label/annotation key: an optional DNS-subdomain prefix and a name.
_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_ALL = {name: getattr(keys, name) for name in keys.__all__ if name.isupper() and name != "PREFIX"}


def test_every_key_is_a_valid_distinct_key_of_our_group() -> None:
    assert len(set(_ALL.values())) == len(_ALL)
    for name, key in _ALL.items():
        if name == "OPERATOR":
            continue  # a label value, not a key
        assert _KEY.match(key), name
        assert key.startswith(keys.PREFIX) or name == "MANAGED_BY", name
    assert f"{GROUP}/" == keys.PREFIX


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("TrainingJob", keys.TRAININGJOB_LABEL),
        ("ModelDeployment", keys.MODELDEPLOYMENT_LABEL),
        ("RetrainPolicy", keys.RETRAINPOLICY_LABEL),
    ],
)
def test_owner_label_is_the_kind_in_lower_case(kind: str, label: str) -> None:
    assert keys.owner_label(kind) == label == keys.PREFIX + kind.lower()


def test_owner_label_refuses_a_kind_of_someone_else() -> None:
    with pytest.raises(KeyError):
        keys.owner_label("Deployment")


def test_variants_are_what_analysis_queries_substitute() -> None:
    assert [v.value for v in keys.Variant] == ["stable", "canary"]
