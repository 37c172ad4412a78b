"""Labels, names and owner references every child of ours carries (see the API contract)."""

from __future__ import annotations

from typing import Any

from mlops_operator.api.keys import MANAGED_BY, OPERATOR, PREFIX, owner_label
from mlops_operator.api.resource import CustomResource

__all__ = ["child_labels", "owner_reference"]


def child_labels(owner: CustomResource) -> dict[str, str]:
    """Labels of a child: managed-by, the owner's kind and name, and the owner's lineage.

    A child also inherits the owner's own ``mlops.dev/<kind>`` labels, so a TrainingJob that
    a RetrainPolicy created stamps the policy's label on its Jobs and pods too.
    """
    labels = {k: v for k, v in (owner.metadata.labels or {}).items() if k.startswith(PREFIX)}
    labels[MANAGED_BY] = OPERATOR
    labels[owner_label(_kind(owner))] = owner.metadata.name or ""
    return labels


def owner_reference(owner: CustomResource) -> dict[str, Any]:
    """A controller owner reference, so deleting the owner garbage-collects the child."""
    return {
        "apiVersion": owner.api_version,
        "kind": _kind(owner),
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _kind(owner: CustomResource) -> str:
    return owner.crd.kind
