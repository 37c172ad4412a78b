"""Every label, annotation and finalizer key of ``mlops.dev``, defined once.

These strings are part of the contract: users select children by them, GitOps tools write the
annotations, dashboards group pods by them. Code and tests import them from here, so a key is
spelt in exactly one place.

Annotations a user writes (``promote``, ``abort``, ``retrain``) are commands keyed by value:
the operator acts once per new value, records the value it handled in the object's status,
and never removes or writes the annotation (a GitOps tool would put it back and fire it
again).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "ABORT_ANNOTATION",
    "ATTEMPT_LABEL",
    "FINALIZER",
    "MANAGED_BY",
    "MODELDEPLOYMENT_LABEL",
    "OPERATOR",
    "PREFIX",
    "PROMOTE_ANNOTATION",
    "RETRAINPOLICY_LABEL",
    "RETRAIN_ANNOTATION",
    "REVISION_LABEL",
    "TRAININGJOB_LABEL",
    "TRIGGER_QUERY_ANNOTATION",
    "TRIGGER_REASON_ANNOTATION",
    "TRIGGER_TIME_ANNOTATION",
    "TRIGGER_VALUE_ANNOTATION",
    "VARIANT_LABEL",
    "Variant",
    "owner_label",
]

PREFIX: Final = "mlops.dev/"
"""What every key of ours starts with; a child inherits its owner's labels with this prefix."""

# --- every child -----------------------------------------------------------------------

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
"""The well-known label every child of ours carries, with value :data:`OPERATOR`."""
OPERATOR: Final = "mlops-operator"
"""Value of :data:`MANAGED_BY` on our children: what the operator's watches select on."""

TRAININGJOB_LABEL: Final = "mlops.dev/trainingjob"
"""Name of the TrainingJob that owns (directly or through its Jobs) the labelled object."""
MODELDEPLOYMENT_LABEL: Final = "mlops.dev/modeldeployment"
"""Name of the ModelDeployment that owns the labelled object."""
RETRAINPOLICY_LABEL: Final = "mlops.dev/retrainpolicy"
"""Name of the RetrainPolicy that created the labelled TrainingJob (inherited by its children,
so a policy's pods can be selected by the policy's name)."""

_OWNER_LABELS: Final = {
    "TrainingJob": TRAININGJOB_LABEL,
    "ModelDeployment": MODELDEPLOYMENT_LABEL,
    "RetrainPolicy": RETRAINPOLICY_LABEL,
}


def owner_label(kind: str) -> str:
    """The owner label of one of our kinds: ``mlops.dev/trainingjob`` for ``TrainingJob``.

    Raises ``KeyError`` for any other kind, so a typo cannot invent a label nobody selects on.
    """
    return _OWNER_LABELS[kind]


# --- TrainingJob children --------------------------------------------------------------

ATTEMPT_LABEL: Final = "mlops.dev/attempt"
"""On a TrainingJob's Jobs and pods: the attempt (1, 2, ...) they belong to, in decimal."""

# --- ModelDeployment children ----------------------------------------------------------

VARIANT_LABEL: Final = "mlops.dev/variant"
"""On a ModelDeployment's Deployments and pods: which :class:`Variant` they serve."""
REVISION_LABEL: Final = "mlops.dev/revision"
"""On a ModelDeployment's Deployments and pods: the rollout revision (decimal) that made them,
as in ``status.stable.revision`` and ``status.canary.revision``."""


class Variant(StrEnum):
    """Values of :data:`VARIANT_LABEL` (and of ``{{variant}}`` in analysis queries)."""

    STABLE = "stable"
    """Takes the traffic the canary does not."""
    CANARY = "canary"
    """The new model being rolled out."""


# --- annotations a user writes ---------------------------------------------------------

PROMOTE_ANNOTATION: Final = "mlops.dev/promote"
"""Each new value acts once. On a ModelDeployment: promote the canary now (any value). On a
RetrainPolicy with ``promotion.mode: Manual``: promote the model of the TrainingJob named by
the value. The operator records the value it handled in status and never removes or writes
the annotation."""
ABORT_ANNOTATION: Final = "mlops.dev/abort"
"""On a ModelDeployment, each new value aborts the canary once (all traffic back to stable).
The operator records the value it handled in status and never removes or writes it."""
RETRAIN_ANNOTATION: Final = "mlops.dev/retrain"
"""On a RetrainPolicy, each new value starts one retrain (subject to cooldown, concurrency
and ``maxRetrainsPerDay``). The operator records the value it handled in status and never
removes or writes it."""

# --- annotations the operator writes ---------------------------------------------------

TRIGGER_REASON_ANNOTATION: Final = "mlops.dev/trigger-reason"
"""On a TrainingJob a RetrainPolicy created: why (``Drift``, ``Schedule`` or ``Manual``)."""
TRIGGER_VALUE_ANNOTATION: Final = "mlops.dev/trigger-value"
"""On a TrainingJob a RetrainPolicy created: the drift value, the scheduled time or the
annotation's value, as text."""
TRIGGER_TIME_ANNOTATION: Final = "mlops.dev/trigger-time"
"""On a TrainingJob a RetrainPolicy created: when the trigger fired (RFC 3339, UTC)."""
TRIGGER_QUERY_ANNOTATION: Final = "mlops.dev/trigger-query"
"""On a TrainingJob a drift trigger created: the PromQL query whose value breached."""

# --- finalizer -------------------------------------------------------------------------

TEMPLATE_HASH_ANNOTATION: Final = "mlops.dev/template-hash"
"""On a Deployment of ours: a digest of the pod template the operator last wrote, so a
change of ``spec.server`` is noticed without comparing defaulted templates field by field."""

KUEUE_JOB_UID_LABEL: Final = "kueue.x-k8s.io/job-uid"
"""Kueue's label on the Workload it makes for a Job (not ours: read to find it)."""

FINALIZER: Final = "mlops.dev/finalizer"
"""The finalizer kopf is configured with (``settings.persistence.finalizer``)."""
