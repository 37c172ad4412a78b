"""Run names derived from triggers: DNS-1035 labels of at most 48 characters, unique."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest

from mlops_operator.api.retrainpolicy import TriggerReason
from mlops_operator.api.trainingjob import MAX_NAME_LENGTH, NAME_PATTERN
from mlops_operator.core.retraining.naming import (
    POLICY_PART_LENGTH,
    hash_id,
    policy_part,
    run_name,
    time_id,
)

T = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
D, S, M = TriggerReason.DRIFT, TriggerReason.SCHEDULE, TriggerReason.MANUAL


@pytest.mark.parametrize(
    ("policy", "reason", "id_", "expected"),
    [
        ("churn", D, time_id(T), "churn-d-0tovxs0"),
        ("churn", S, time_id(T), "churn-s-0tovxs0"),
        ("churn", M, "1a2b3c4d", "churn-m-1a2b3c4d"),
        ("a" * 37, D, time_id(T), "a" * 37 + "-d-0tovxs0"),  # exactly 48
        # longer than 37: cut, plus a hash of the whole name
        ("a" * 38, D, time_id(T), "a" * 30 + "-" + policy_part("a" * 38)[-6:] + "-d-0tovxs0"),
        # a DNS subdomain that is no DNS-1035 label: dots become dashes, plus a hash
        ("v2.churn", D, time_id(T), f"v2-churn-{policy_part('v2.churn')[-6:]}-d-0tovxs0"),
        # a label starts with a letter
        ("7-days", S, time_id(T), f"rp-7-days-{policy_part('7-days')[-6:]}-s-0tovxs0"),
    ],
)
def test_names(policy: str, reason: TriggerReason, id_: str, expected: str) -> None:
    assert run_name(policy, reason, id_) == expected


def test_time_id_is_fixed_width_and_sorts_like_time() -> None:
    assert time_id(datetime(1970, 1, 1, tzinfo=UTC)) == "0000000"
    assert time_id(T) == "0tovxs0"
    times = [T + timedelta(seconds=s) for s in (0, 1, 35, 36, 3600, 86400 * 365 * 300)]
    ids = [time_id(t) for t in times]
    assert all(len(i) == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert time_id(T + timedelta(microseconds=999_999)) == time_id(T)  # whole seconds


def test_hash_id_keeps_its_parts_apart() -> None:
    assert hash_id("a", "bc") != hash_id("ab", "c")
    assert hash_id("uid", "", "1") != hash_id("uid", "1", "1")
    assert re.fullmatch(r"[0-9a-f]{8}", hash_id("x"))


def test_a_bad_id_is_refused() -> None:
    with pytest.raises(ValueError, match="letters and digits"):
        run_name("p", D, "a-b")
    with pytest.raises(ValueError, match="letters and digits"):
        run_name("p", D, "123456789")
    with pytest.raises(ValueError, match="before the epoch"):
        time_id(datetime(1969, 12, 31, tzinfo=UTC))


POLICIES = [
    "p",
    "churn",
    "churn-model",
    "v2.churn",
    "v2-churn",
    "7-days",
    "rp-7-days",
    "a" * 37,
    "a" * 38,
    "a" * 63,
    "a" * 62 + "b",
    "fraud-detection-model-europe-west-production-1",
    "fraud-detection-model-europe-west-production-2",
    "x." * 31 + "y",
    "0",
    "a-",  # not a valid name, still a valid run name
]


@pytest.mark.parametrize("policy", POLICIES)
def test_every_name_is_a_short_dns_1035_label(policy: str) -> None:
    part = policy_part(policy)
    assert len(part) <= POLICY_PART_LENGTH
    for reason, id_ in [(D, time_id(T)), (S, "zzzzzzz"), (M, hash_id(policy))]:
        name = run_name(policy, reason, id_)
        assert len(name) <= MAX_NAME_LENGTH, name
        assert re.fullmatch(NAME_PATTERN, name), name


def test_names_are_unique_across_policies_and_triggers() -> None:
    ids = [(D, time_id(T)), (D, time_id(T + timedelta(seconds=1))), (S, time_id(T))]
    ids += [(M, hash_id("u", "", "1")), (M, hash_id("u", "1", "1"))]
    names = [run_name(p, r, i) for p, (r, i) in itertools.product(POLICIES, ids)]
    assert len(set(names)) == len(names)
    assert len({policy_part(p) for p in POLICIES}) == len(POLICIES)
