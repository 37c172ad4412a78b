"""The TrainingJob a RetrainPolicy starts for a trigger, as a manifest (a plain dict).

The run is the policy's ``trainingJobTemplate`` under the name derived from the trigger,
owned by the policy (deleting the policy deletes its runs), labelled like every child of
ours plus ``mlops.dev/retrainpolicy: <policy>``, and annotated with the trigger, which the
TrainingJob controller copies into the run's ``status.triggeredBy`` for lineage.

Each run writes its own model: the template's ``output.modelUri`` (and ``checkpoint.uri``)
gets the run's name appended as a last path segment, e.g. ``s3://models/sentiment`` becomes
``s3://models/sentiment/sentiment-d-0tpdkxe``. Without that every retrain would overwrite
the model being served, and a following ModelDeployment could never tell a new model from
the old one.
"""

from __future__ import annotations

from typing import Any

from mlops_operator import API_VERSION
from mlops_operator.api.keys import (
    TRIGGER_QUERY_ANNOTATION,
    TRIGGER_REASON_ANNOTATION,
    TRIGGER_TIME_ANNOTATION,
    TRIGGER_VALUE_ANNOTATION,
)
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.meta import child_labels, owner_reference
from mlops_operator.core.retraining.triggers import Trigger, rfc3339

__all__ = ["training_job", "trigger_annotations", "versioned_uri"]


def training_job(policy: RetrainPolicy, trigger: Trigger) -> dict[str, Any]:
    """The run that answers ``trigger``.

    The template's labels and annotations come first; ours win a clash, because the
    operator's caches select runs by its labels and lineage reads its annotations.
    """
    template = policy.spec.training_job_template
    meta = template.metadata
    labels = {**((meta.labels if meta else None) or {}), **child_labels(policy)}
    annotations = {
        **((meta.annotations if meta else None) or {}),
        **trigger_annotations(trigger),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": TrainingJob.crd.kind,
        "metadata": {
            "name": trigger.name,
            "namespace": policy.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(policy)],
        },
        "spec": _versioned(
            template.spec.model_dump(by_alias=True, exclude_none=True, mode="json"), trigger.name
        ),
    }


def versioned_uri(uri: str, run: str) -> str:
    """``uri`` with the run's name as its last path segment."""
    return f"{uri.rstrip('/')}/{run}"


def _versioned(spec: dict[str, Any], run: str) -> dict[str, Any]:
    if "output" in spec:
        spec["output"]["modelUri"] = versioned_uri(spec["output"]["modelUri"], run)
    if "checkpoint" in spec:
        spec["checkpoint"]["uri"] = versioned_uri(spec["checkpoint"]["uri"], run)
    return spec


def trigger_annotations(trigger: Trigger) -> dict[str, str]:
    """``mlops.dev/trigger-reason``, ``-time``, and ``-value`` and ``-query`` when known."""
    out = {
        TRIGGER_REASON_ANNOTATION: trigger.reason.value,
        TRIGGER_TIME_ANNOTATION: rfc3339(trigger.time),
    }
    if trigger.value is not None:
        out[TRIGGER_VALUE_ANNOTATION] = trigger.value
    if trigger.query is not None:
        out[TRIGGER_QUERY_ANNOTATION] = trigger.query
    return out
