"""Shared API types: durations, cron, timestamps, pass-through objects, parse errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from mlops_operator.api.common import (
    CRON_PATTERN,
    ApiModel,
    Bounds,
    Condition,
    Cron,
    Duration,
    EnvVar,
    KubeObject,
    StatusBase,
    Timestamp,
    bounds_rules,
    cel_any_set,
    cel_count_set,
    check_set,
    parse_cron,
    parse_duration,
)
from mlops_operator.api.parse import InvalidSpec, field_path, parse, to_plain
from mlops_operator.api.trainingjob import TrainingJob


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("6h", 21600.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2m30s", 150.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert TypeAdapter(Duration).validate_python(text) == text


@pytest.mark.parametrize("text", ["", "5", "5 m", "1d", "-5s", "m", "1h 30m", "5M", "1.s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
    with pytest.raises(ValidationError):
        TypeAdapter(Duration).validate_python(text)


@pytest.mark.parametrize(
    ("text", "minutes", "weekdays"),
    [
        ("0 3 * * *", {0}, set(range(8))),
        ("*/15 * * * 1-5", {0, 15, 30, 45}, {1, 2, 3, 4, 5}),
        ("5,35 0-6/2 1 JAN-MAR MON", {5, 35}, {1}),
        ("0 0 * * SUN,sat", {0}, {0, 6}),
        ("30 2 */2 * *", {30}, set(range(8))),
    ],
)
def test_parse_cron(text: str, minutes: set[int], weekdays: set[int]) -> None:
    fields = parse_cron(text)
    assert fields[0] == minutes
    assert fields[4] == weekdays
    assert TypeAdapter(Cron).validate_python(text) == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("* * * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("61 * * * *", "minute must be within 0-59"),
        ("0 24 * * *", "hour must be within 0-23"),
        ("0 0 0 * *", "day of month must be within 1-31"),
        ("0 0 * 13 *", "month must be within 1-12"),
        ("0 0 * * 8", "day of week must be within 0-7"),
        ("0 0 * FOO *", "'FOO' is not a valid month"),
        ("5-1 * * * *", "minute must be within 0-59"),
        ("*/0 * * * *", "step must be >= 1"),
        ("@daily", "5 fields"),
    ],
)
def test_bad_cron_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="invalid cron") as exc:
        parse_cron(text)
    assert complaint in str(exc.value)
    with pytest.raises(ValidationError):
        TypeAdapter(Cron).validate_python(text)


@pytest.mark.parametrize(
    ("text", "in_schema"),
    [
        ("0 3 * * 1", True),
        ("*/15 9-17 * * MON-FRI", True),
        ("0 0 1 jan,jul *", True),
        ("61 * * * *", False),
        ("0 24 * * *", False),
        ("0 0 32 * *", False),
        ("0 0 * 13 *", False),
        ("0 0 * * 8", False),
        ("*/0 * * * *", False),
        ("0 3 * *", False),
    ],
)
def test_schema_pattern_checks_ranges_too(text: str, in_schema: bool) -> None:
    """The apiserver runs CRON_PATTERN; it must refuse out-of-range values as well."""
    assert bool(re.fullmatch(CRON_PATTERN, text)) is in_schema


def test_timestamps_are_utc_and_second_precision() -> None:
    adapter = TypeAdapter(Timestamp)
    berlin = timezone(timedelta(hours=1))
    value = adapter.validate_python(datetime(2026, 11, 22, 5, 0, 0, 123456, tzinfo=berlin))
    assert value.tzinfo == UTC
    assert adapter.dump_python(value, mode="json") == "2026-11-22T04:00:00Z"
    assert adapter.validate_python("2026-11-22T04:00:00Z") == datetime(2026, 11, 22, 4, tzinfo=UTC)
    assert adapter.validate_python(datetime(2026, 1, 1)).tzinfo == UTC  # naive means UTC


def test_env_var_needs_a_name_and_keeps_everything_else() -> None:
    adapter = TypeAdapter(EnvVar)
    var = {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    assert adapter.validate_python(var) == var
    with pytest.raises(ValidationError, match="an env var needs a name"):
        adapter.validate_python({"value": "x"})


def test_kube_object_accepts_mapping_views() -> None:
    class View(dict[str, Any]):
        """Stands in for kopf's read-only body views."""

    value = TypeAdapter(KubeObject).validate_python(View(a=View(b=[View(c=1)])))
    assert value == {"a": {"b": [{"c": 1}]}}
    assert type(value["a"]) is dict


def test_condition_shape_is_metav1() -> None:
    condition = Condition(
        type="Ready",
        status="True",
        reason="Available",
        last_transition_time=datetime(2026, 1, 1, tzinfo=UTC),
        observed_generation=3,
    )
    assert condition.model_dump(mode="json") == {
        "type": "Ready",
        "status": "True",
        "reason": "Available",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 3,
    }
    with pytest.raises(ValidationError):
        Condition.model_validate({**condition.model_dump(), "status": "Yes"})
    with pytest.raises(ValidationError):
        Condition.model_validate({**condition.model_dump(), "reason": "not camel case"})


def test_field_path() -> None:
    assert field_path(("spec", "env", 0, "name")) == "spec.env[0].name"
    assert field_path(("spec", "model")) == "spec.model"
    assert field_path(
        ("spec", "triggers", "schedule", "cron", "function-after[_check_cron()]")
    ) == ("spec.triggers.schedule.cron")


def test_to_plain_copies_deeply() -> None:
    source = {"a": ({"b": 1},)}
    plain = to_plain(source)
    assert plain == {"a": [{"b": 1}]}


def test_invalid_spec_lists_every_field() -> None:
    with pytest.raises(InvalidSpec) as exc:
        parse(TrainingJob, {"spec": {"image": "", "nodes": 0, "gpusPerNode": "two"}})
    assert exc.value.errors == [
        ("spec.image", "must have at least 1 characters"),
        ("spec.nodes", "must be >= 1"),
        ("spec.gpusPerNode", "must be an integer"),
    ]
    assert str(exc.value) == (
        "spec.image: must have at least 1 characters; spec.nodes: must be >= 1; "
        "spec.gpusPerNode: must be an integer"
    )
    assert exc.value.reason == "InvalidSpec"


class _OneOf(ApiModel):
    a: int | None = None
    b_c: int | None = None


@pytest.mark.parametrize(
    ("given", "exactly_one", "complaint"),
    [
        ({"a": 1}, True, None),
        ({"a": 1, "bC": 2}, True, "must set exactly one of a, bC"),
        ({}, True, "must set exactly one of a, bC"),
        ({"a": 1, "bC": 2}, False, None),
        ({}, False, "must set at least one of a, bC"),
    ],
)
def test_check_set_names_the_json_fields(
    given: dict[str, Any], exactly_one: bool, complaint: str | None
) -> None:
    model = _OneOf.model_validate(given)
    if complaint is None:
        check_set(model, ("a", "b_c"), exactly_one=exactly_one)
    else:
        with pytest.raises(ValueError, match=f"^{complaint}$"):
            check_set(model, ("a", "b_c"), exactly_one=exactly_one)


def test_cel_set_rules() -> None:
    assert cel_any_set("a", "bC") == "has(self.a) || has(self.bC)"
    assert cel_count_set("a", "bC") == "[has(self.a), has(self.bC)].filter(x, x).size()"


class _Range(Bounds):
    model_config = ApiModel.model_config | {"json_schema_extra": bounds_rules("spec.range")}


def test_bounds_need_one_end_in_order_and_name_the_field_at_admission() -> None:
    assert _Range.model_validate({"max": 1}).min is None
    for bad, complaint in (({}, "must set min or max"), ({"min": 2, "max": 1}, "min must be")):
        with pytest.raises(InvalidSpec, match=complaint):
            parse(_Range, bad)
    messages = [r["message"] for r in _Range.model_json_schema()["x-kubernetes-validations"]]
    assert messages == ["spec.range must set min or max", "spec.range.min must be <= max"]


def test_status_base_defaults_to_no_conditions() -> None:
    status = StatusBase.model_validate({"observedGeneration": 3})
    assert (status.conditions, status.observed_generation) == ([], 3)
