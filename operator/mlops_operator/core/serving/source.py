"""Which model a ModelDeployment should serve now: ``spec.model`` resolved against the cluster.

``spec.model`` names the model directly (``uri``) or follows another object of ours: a
TrainingJob's ``status.model.uri`` once the run succeeded, or a RetrainPolicy's
``status.latestModel``. Following is what lets a retrain roll out with no spec edit: the
referenced object's status changes, the resolved :class:`Source` changes, and the reconcile
starts a canary. The kopf layer reads the referenced object and passes it in (or None when
it does not exist); everything else is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import TrainingJob, TrainingJobCondition
from mlops_operator.core.conditions import is_true

__all__ = [
    "MODEL_NOT_READY",
    "RETRAIN_POLICY_NOT_FOUND",
    "TRAINING_JOB_FAILED",
    "TRAINING_JOB_NOT_FOUND",
    "Source",
    "resolve",
]

TRAINING_JOB_NOT_FOUND = "TrainingJobNotFound"
RETRAIN_POLICY_NOT_FOUND = "RetrainPolicyNotFound"
TRAINING_JOB_FAILED = "TrainingJobFailed"
MODEL_NOT_READY = "ModelNotReady"
"""The referenced object exists but has no model yet: a normal wait, not a fault."""


@dataclass(frozen=True)
class Source:
    """The model to serve, or why there is none to serve yet.

    ``uri`` is None exactly when ``reason`` (a CamelCase condition reason) says why.
    ``training_job`` names the run that produced the model, for lineage (``status.stable``
    and ``status.history`` carry it).
    """

    uri: str | None
    reason: str | None = None
    message: str = ""
    training_job: str | None = None

    def __post_init__(self) -> None:
        if (self.uri is None) == (self.reason is None):
            raise ValueError("a Source has either a uri or a reason, not both or neither")

    @property
    def waiting(self) -> bool:
        """No model yet, but one may come (the run is still going, the policy has not
        promoted one): nothing is wrong, only nothing new to serve."""
        return self.reason == MODEL_NOT_READY


def resolve(
    md: ModelDeployment,
    trainingjob: TrainingJob | None = None,
    policy: RetrainPolicy | None = None,
) -> Source:
    """The model ``spec.model`` points at now.

    ``trainingjob`` / ``policy``: the object named by ``trainingJobRef`` /
    ``retrainPolicyRef`` as the kopf layer read it, None if it does not exist (the other one
    is ignored). A run that failed will never produce a model; a run that succeeded without
    ``spec.output`` neither.
    """
    source = md.spec.model
    if source.uri is not None:
        return Source(source.uri)
    if source.training_job_ref is not None:
        name = source.training_job_ref.name
        if trainingjob is None:
            return Source(None, TRAINING_JOB_NOT_FOUND, f"TrainingJob {name} not found")
        conditions = trainingjob.status.conditions
        if is_true(conditions, TrainingJobCondition.SUCCEEDED):
            if trainingjob.status.model is not None:
                return Source(trainingjob.status.model.uri, training_job=name)
            return Source(
                None,
                TRAINING_JOB_FAILED,
                f"TrainingJob {name} succeeded without a model (it has no spec.output)",
            )
        if is_true(conditions, TrainingJobCondition.FAILED):
            return Source(None, TRAINING_JOB_FAILED, f"TrainingJob {name} failed: it has no model")
        return Source(None, MODEL_NOT_READY, f"waiting for TrainingJob {name} to succeed")
    if source.retrain_policy_ref is not None:
        name = source.retrain_policy_ref.name
        if policy is None:
            return Source(None, RETRAIN_POLICY_NOT_FOUND, f"RetrainPolicy {name} not found")
        latest = policy.status.latest_model
        if latest is None:
            return Source(
                None, MODEL_NOT_READY, f"waiting for RetrainPolicy {name} to promote a model"
            )
        return Source(latest.uri, training_job=latest.training_job)
    raise ValueError("spec.model sets none of uri, trainingJobRef, retrainPolicyRef")
