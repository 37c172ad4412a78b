"""Turn a raw object (a kopf body, a dict from the Kubernetes API) into a typed model.

Admission refuses most bad input, but not all of it: objects created before a rule existed,
ranges a regex cannot check (cron ``61 * * * *``), or rules only the operator can apply.
For those the operator needs one exception with a message that names the field, to put in a
condition (reason ``InvalidSpec``) and an Event rather than crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["InvalidSpec", "parse", "to_plain"]

M = TypeVar("M", bound=BaseModel)


class InvalidSpec(ValueError):
    """The object cannot be used as written; ``str(exc)`` names each offending field.

    ``errors`` holds ``(field path, message)`` pairs, e.g. ``("spec.nodes", "must be >= 1")``.
    """

    reason = "InvalidSpec"

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {msg}" if path else msg for path, msg in errors))


def to_plain(value: Any) -> Any:
    """Deep-copy mappings and sequences into plain dicts and lists (kopf gives views)."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def parse(model_cls: type[M], body: Mapping[str, Any]) -> M:
    """Validate ``body`` as ``model_cls``, raising :class:`InvalidSpec` on any error."""
    try:
        return model_cls.model_validate(to_plain(body))
    except ValidationError as exc:
        raise InvalidSpec([_describe(err) for err in exc.errors()]) from None


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("spec", "env", 0, "name")`` -> ``spec.env[0].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")) or "[" in part:
            continue  # pydantic's internal validator steps, not fields
        else:
            out += f".{part}" if out else part
    return out


def _describe(err: Any) -> tuple[str, str]:
    """A short human message per pydantic error type, e.g. ``must be >= 1``."""
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    messages = {
        "missing": "is required",
        "greater_than_equal": "must be >= {ge}",
        "greater_than": "must be > {gt}",
        "less_than_equal": "must be <= {le}",
        "less_than": "must be < {lt}",
        "string_too_short": "must have at least {min_length} characters",
        "string_too_long": "must have at most {max_length} characters",
        "too_short": "must have at least {min_length} items",
        "too_long": "must have at most {max_length} items",
        "string_pattern_mismatch": "must match {pattern}",
        "enum": "must be one of {expected}",
        "literal_error": "must be one of {expected}",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be an integer",
        "string_type": "must be a string",
        "bool_type": "must be a boolean",
        "bool_parsing": "must be a boolean",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "list_type": "must be a list",
    }
    template = messages.get(kind)
    if template is not None:
        try:
            message = template.format(**ctx)
        except (KeyError, IndexError):
            message = str(err["msg"])
    elif kind == "value_error":
        message = str(ctx.get("error", err["msg"]))
    else:
        message = str(err["msg"])
    return field_path(tuple(err["loc"])), message
