"""Types shared by the three kinds: the base model, conditions, durations, cron, references.

Everything here is part of the CRD schemas (see :mod:`mlops_operator.api.crdgen`), so a
constraint written once holds both at admission (OpenAPI + CEL in the apiserver) and when the
operator parses an object (pydantic). Kubernetes' own types that we only pass through (EnvVar,
ResourceRequirements, a pod spec) stay plain dicts: the apiserver validates them when the
operator creates the pods, and copying their schemas here would only drift.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from mlops_operator.api.parse import to_plain

__all__ = [
    "CRON_PATTERN",
    "DURATION_PATTERN",
    "MAX_LIST",
    "MAX_STRING",
    "ApiModel",
    "Arg",
    "Bounds",
    "Condition",
    "ConditionStatus",
    "Conditions",
    "Cron",
    "DnsName",
    "Duration",
    "EnvVar",
    "KubeObject",
    "LabelValue",
    "ObjectMeta",
    "ObjectReference",
    "Prometheus",
    "ResourceRequirements",
    "StatusBase",
    "TemplateMetadata",
    "Timestamp",
    "Uri",
    "bounds_rules",
    "cel",
    "cel_any_set",
    "cel_count_set",
    "check_set",
    "parse_cron",
    "parse_duration",
]


class ApiModel(BaseModel):
    """Base of every API model: snake_case in Python, camelCase on the wire.

    Unknown fields are ignored rather than refused: the apiserver already prunes what the
    schema does not know, and an operator one version behind must still read newer objects.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        use_attribute_docstrings=True,
        protected_namespaces=(),
    )


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: str | None = None,
    optional_old_self: bool = False,
) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry (a CEL rule checked by the apiserver).

    ``message`` must name the field, e.g. ``spec.nodes is immutable``: it is what the user
    reads in ``kubectl apply``'s error. ``field_path`` (relative, e.g. ``.nodes``) makes the
    apiserver report the error on that field rather than on the object that holds the rule.
    """
    out: dict[str, Any] = {"rule": rule, "message": message}
    if field_path is not None:
        out["fieldPath"] = field_path
    if reason is not None:
        out["reason"] = reason
    if optional_old_self:
        out["optionalOldSelf"] = True
    return out


def cel_count_set(*fields: str) -> str:
    """CEL: how many of ``fields`` (JSON names) are set on ``self``."""
    return f"[{', '.join(f'has(self.{f})' for f in fields)}].filter(x, x).size()"


def cel_any_set(*fields: str) -> str:
    """CEL: at least one of ``fields`` (JSON names) is set on ``self``."""
    return " || ".join(f"has(self.{f})" for f in fields)


def check_set(model: ApiModel, fields: tuple[str, ...], *, exactly_one: bool) -> None:
    """The pydantic twin of a :func:`cel_count_set` / :func:`cel_any_set` rule, for objects
    that bypassed admission: exactly one (or at least one) of ``fields`` is not ``None``.

    ``fields`` are Python names; the message names their JSON names but not the model
    itself: :class:`~mlops_operator.api.parse.InvalidSpec` prefixes the path.
    """
    count = sum(getattr(model, f) is not None for f in fields)
    ok = count == 1 if exactly_one else count >= 1
    if ok:
        return
    names = ", ".join(type(model).model_fields[f].alias or f for f in fields)
    raise ValueError(f"must set {'exactly' if exactly_one else 'at least'} one of {names}")


# --- durations -------------------------------------------------------------------------

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
"""Go-style durations restricted to what people write in YAML: ``500ms``, ``30s``, ``1h30m``."""

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """Seconds in a duration string such as ``1h30m`` (raises ``ValueError`` if malformed)."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"invalid duration {value!r}: use e.g. 30s, 5m, 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))


Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=64)]
"""A duration string like ``30s``, ``5m``, ``6h`` or ``1h30m``; see :func:`parse_duration`."""


# --- cron ------------------------------------------------------------------------------

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _cron_field(value: str) -> str:
    """Regex of one cron field whose single values match ``value``: ``*/5``, ``1-5``, ``1,3``."""
    atom = rf"(\*|({value})(-({value}))?)(/[1-9][0-9]*)?"
    return rf"{atom}(,{atom})*"


def _names(names: tuple[str, ...]) -> str:
    return "|".join([*names, *(n.lower() for n in names)])


_CRON_SHAPE = re.compile(r"^\S+( +\S+){4}$")
CRON_PATTERN = (
    "^"
    + " +".join(
        _cron_field(v)
        for v in (
            r"[0-5]?[0-9]",  # minute
            r"[01]?[0-9]|2[0-3]",  # hour
            r"0?[1-9]|[12][0-9]|3[01]",  # day of month
            rf"0?[1-9]|1[0-2]|{_names(_MONTHS)}",  # month
            rf"[0-7]|{_names(_WEEKDAYS)}",  # day of week
        )
    )
    + "$"
)
"""Five space-separated cron fields with their value ranges, as a regex the apiserver runs;
:func:`parse_cron` also refuses what a regex cannot see (``5-1``) with a clearer message."""

_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {m: i + 1 for i, m in enumerate(_MONTHS)},
    {d: i for i, d in enumerate(_WEEKDAYS)},
)
_CRON_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")


def parse_cron(value: str) -> list[set[int]]:
    """The allowed values of each of the five fields of a standard cron expression.

    The schema only checks the shape (a regex the apiserver can run); this checks the ranges
    (``61 * * * *`` is refused here) and is what the pydantic model runs.
    """
    if not _CRON_SHAPE.match(value):
        raise ValueError(f"invalid cron {value!r}: want 5 fields, e.g. '0 3 * * *'")
    fields = value.split()
    out: list[set[int]] = []
    for text, (lo, hi), names, label in zip(
        fields, _CRON_RANGES, _CRON_NAMES, _CRON_FIELD_NAMES, strict=True
    ):
        allowed: set[int] = set()
        for atom in text.split(","):
            rng, _, step_text = atom.partition("/")
            if step_text and not step_text.isdigit():
                raise ValueError(f"invalid cron {value!r}: bad step in {label}")
            step = int(step_text) if step_text else 1
            if step < 1:
                raise ValueError(f"invalid cron {value!r}: step must be >= 1 in {label}")
            if rng == "*":
                first, last = lo, hi
            else:
                a, _, b = rng.partition("-")
                first = _cron_value(a, names, value, label)
                last = _cron_value(b, names, value, label) if b else (hi if step_text else first)
            if not (lo <= first <= hi and lo <= last <= hi and first <= last):
                raise ValueError(f"invalid cron {value!r}: {label} must be within {lo}-{hi}")
            allowed.update(range(first, last + 1, step))
        out.append(allowed)
    if not re.fullmatch(CRON_PATTERN, value):  # what the apiserver checks must agree
        raise ValueError(f"invalid cron {value!r}: want 5 fields, e.g. '0 3 * * *'")
    return out


def _cron_value(text: str, names: dict[str, int], expr: str, label: str) -> int:
    if text.isdigit():
        return int(text)
    if text.upper() in names:
        return names[text.upper()]
    raise ValueError(f"invalid cron {expr!r}: {text!r} is not a valid {label}")


def _check_cron(value: str) -> str:
    parse_cron(value)
    return value


Cron = Annotated[
    str,
    StringConstraints(max_length=256),
    AfterValidator(_check_cron),
    Field(json_schema_extra={"pattern": CRON_PATTERN}),
]
"""A standard 5-field cron expression (minute hour day-of-month month day-of-week)."""


# --- time ------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A point in time, always UTC, written as RFC 3339 with second precision like metav1.Time."""


# --- pass-through Kubernetes types -----------------------------------------------------


KubeObject = Annotated[
    dict[str, Any],
    BeforeValidator(to_plain),
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""A Kubernetes object we pass through untouched (validated by the apiserver downstream)."""


def _check_env_var(value: dict[str, Any]) -> dict[str, Any]:
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("an env var needs a name")
    return value


EnvVar = Annotated[
    dict[str, Any],
    BeforeValidator(to_plain),
    AfterValidator(_check_env_var),
    WithJsonSchema(
        {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 256},
                "value": {"type": "string"},
                # Secret, ConfigMap, field and resource references: the apiserver checks
                # them when the operator creates the pods.
                "valueFrom": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            # Fields a newer core/v1 EnvVar may add pass through too.
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]
"""A core/v1 EnvVar (``name`` plus ``value`` or ``valueFrom``), passed through to containers.

``value`` and ``valueFrom`` are declared so that schema checkers (kubeconform, editors)
accept real env lists; the rest of an EnvVar is preserved as is.
"""

ResourceRequirements = KubeObject
"""A core/v1 ResourceRequirements (``requests``, ``limits``), passed through to containers."""


# --- bounded strings ---------------------------------------------------------------

MAX_LIST = 256
"""Bound on lists and maps, so the apiserver can cost the CEL rules that compare them."""
MAX_STRING = 4096

Arg = Annotated[str, StringConstraints(max_length=MAX_STRING)]
"""A command-line argument or a short free-form value."""
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
"""A URI of data or a model (``s3://``, ``gs://``, ``pvc://``, ``hf://``, ...)."""
DnsName = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        max_length=253,
    ),
]
"""A DNS subdomain, the usual name of a Kubernetes object."""
LabelValue = Annotated[
    str,
    StringConstraints(pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", max_length=63),
]
"""A valid label value."""


# --- small shared models ---------------------------------------------------------------


class ObjectReference(ApiModel):
    """A reference to another object of ours in the same namespace."""

    name: DnsName
    """Name of the object (same namespace)."""


class Prometheus(ApiModel):
    """Where to run PromQL queries."""

    address: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)]
    """Base URL of the Prometheus HTTP API, e.g. ``http://prometheus.monitoring:9090``."""


class TemplateMetadata(ApiModel):
    """Labels and annotations stamped on the objects made from a template."""

    labels: dict[str, str] | None = None
    """Labels added to every object made from the template."""
    annotations: dict[str, str] | None = None
    """Annotations added to every object made from the template."""


class ObjectMeta(ApiModel):
    """The parts of metav1.ObjectMeta the operator reads; anything else is kept as given."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None


# --- conditions ------------------------------------------------------------------------

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """One observation of the object's state, shaped like Kubernetes' metav1.Condition.

    Conditions are what logic (ours, Argo CD's, ``kubectl wait``) reads; ``status.phase`` is
    only a summary for humans.
    """

    type: Annotated[
        str,
        StringConstraints(
            pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
            max_length=316,
        ),
    ]
    """Type of condition in CamelCase, e.g. ``Ready``."""
    status: ConditionStatus
    """``True``, ``False`` or ``Unknown``."""
    reason: Annotated[
        str,
        StringConstraints(
            pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", min_length=1, max_length=1024
        ),
    ]
    """Why the condition last changed, one CamelCase word."""
    message: Annotated[str, StringConstraints(max_length=32768)] = ""
    """Details for humans."""
    last_transition_time: Timestamp
    """When ``status`` last changed."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The ``metadata.generation`` this condition was computed from."""


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=32,
        json_schema_extra={
            "default": [],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    ),
]
"""``status.conditions``: a list keyed by ``type`` (server-side apply merges by type)."""


class StatusBase(ApiModel):
    """What every kind's ``status`` holds; each kind adds its ``phase`` and documents its
    condition types. Written only by the operator."""

    conditions: Conditions = Field(default_factory=list)
    """The latest observation of each condition type (metav1.Condition semantics)."""
    observed_generation: int | None = None
    """The ``metadata.generation`` the status was computed from."""


# --- ranges ----------------------------------------------------------------------------


class Bounds(ApiModel):
    """A range with at least one end: ``min``, ``max`` or both, with ``min <= max``.

    A subclass sets ``json_schema_extra`` to :func:`bounds_rules` with its own field path, so
    that the admission messages name the field.
    """

    min: float | None = None
    """Lowest passing value."""
    max: float | None = None
    """Highest passing value."""

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("must set min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be <= max")
        return self


def bounds_rules(path: str) -> dict[str, Any]:
    """The ``json_schema_extra`` of a :class:`Bounds` subclass: its CEL rules, whose messages
    name the field by ``path`` (e.g. ``spec.promotion.evaluation``)."""
    return {
        "x-kubernetes-validations": [
            cel(cel_any_set("min", "max"), f"{path} must set min or max"),
            cel(
                "!has(self.min) || !has(self.max) || self.min <= self.max",
                f"{path}.min must be <= max",
            ),
        ]
    }
