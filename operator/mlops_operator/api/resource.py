"""The base of our three custom resources and the CRD facts each kind declares about itself.

A kind's CRD (names, printer columns) lives next to its model so that one file says all
there is to say about a kind; :mod:`mlops_operator.api.crdgen` only assembles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from mlops_operator import API_VERSION
from mlops_operator.api.common import ApiModel, ObjectMeta, cel

__all__ = ["DNS1035_LABEL", "CrdNames", "CustomResource", "PrinterColumn", "dns1035_name_rule"]


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (what ``kubectl get`` shows)."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class CrdNames:
    """What the CRD says about a kind besides its schema."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...] = field(default=())
    categories: tuple[str, ...] = ("mlops",)
    root_rules: tuple[dict[str, Any], ...] = field(default=())
    """CEL rules on the whole object: the only place ``metadata.name`` can be checked."""


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")

DNS1035_LABEL = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""What a Service name (and so any name our children derive from it) must match."""


def dns1035_name_rule(max_length: int, why: str) -> dict[str, Any]:
    """A root CEL rule: ``metadata.name`` is a DNS-1035 label of at most ``max_length``
    characters, with ``why`` the children need it, in the message the user reads."""
    return cel(
        f"self.metadata.name.size() <= {max_length}"
        f" && self.metadata.name.matches('{DNS1035_LABEL}')",
        f"metadata.name must be a DNS-1035 label of at most {max_length} characters (lower "
        f"case letters, digits and '-', starting with a letter): {why}",
        reason="FieldValueInvalid",
    )


class CustomResource(ApiModel):
    """Fields every one of our objects has; subclasses add ``kind``, ``spec`` and ``status``."""

    crd: ClassVar[CrdNames]

    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    """``mlops.dev/v1alpha1``."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
