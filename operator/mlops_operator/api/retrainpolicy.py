"""RetrainPolicy (``rp``): when to retrain a model, how often at most, and what becomes of it.

Triggers: at least one of ``drift``, ``schedule`` or ``manual`` must be declared, so that a
policy always says how it fires. The manual trigger itself is the annotation
``mlops.dev/retrain: "<any new value>"``
(:data:`~mlops_operator.api.keys.RETRAIN_ANNOTATION`): each new value starts one retrain,
the operator records the value it handled in status and never removes or writes the
annotation. It is honoured on every policy, and ``manual: {}`` exists only so that a policy
retrained by hand alone can say so (it has no fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from mlops_operator.api.common import (
    ApiModel,
    Bounds,
    Cron,
    Duration,
    ObjectReference,
    Prometheus,
    StatusBase,
    TemplateMetadata,
    Timestamp,
    bounds_rules,
    cel,
    cel_any_set,
    check_set,
)
from mlops_operator.api.parse import parse
from mlops_operator.api.resource import AGE, CrdNames, CustomResource, PrinterColumn
from mlops_operator.api.trainingjob import TrainingJobSpec

__all__ = [
    "ConcurrencyPolicy",
    "Drift",
    "Evaluation",
    "HistoryLimit",
    "LastTrigger",
    "LatestModel",
    "ManualTrigger",
    "Promotion",
    "PromotionMode",
    "RetrainPolicy",
    "RetrainPolicyCondition",
    "RetrainPolicyPhase",
    "RetrainPolicySpec",
    "RetrainPolicyStatus",
    "RunStart",
    "Schedule",
    "TrainingJobTemplate",
    "TriggerReason",
    "Triggers",
    "parse_retrainpolicy",
]

QueryText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class TrainingJobTemplate(ApiModel):
    """What each retrain creates: a TrainingJob with this metadata and spec."""

    metadata: TemplateMetadata | None = None
    """Labels and annotations of the created TrainingJobs."""
    spec: TrainingJobSpec
    """The spec of the created TrainingJobs."""


class Drift(ApiModel):
    """Retrain when a PromQL value stays above ``threshold`` for the whole ``for`` window."""

    prometheus: Prometheus
    """Where to run the query."""
    query: QueryText
    """PromQL returning one number, e.g. a drift score of the served model."""
    threshold: float
    """Breach when the value is above this."""
    for_: Duration = Field(default="0s", alias="for")
    """How long the value must stay above ``threshold`` (hysteresis against spikes)."""
    interval: Duration = "1m"
    """Time between two evaluations."""


class Schedule(ApiModel):
    """Retrain on a calendar."""

    cron: Cron
    """Standard 5-field cron, e.g. ``0 3 * * 1`` (Mondays 03:00)."""
    time_zone: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$", max_length=64),
    ] = "UTC"
    """IANA time zone of ``cron``, e.g. ``Europe/Berlin``."""


class ManualTrigger(ApiModel):
    """Declares a policy retrained only by hand, through annotation ``mlops.dev/retrain``."""


class Triggers(ApiModel):
    """What starts a retrain; at least one of ``drift``, ``schedule``, ``manual``."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    cel_any_set("drift", "schedule", "manual"),
                    "spec.triggers must set at least one of drift, schedule, manual",
                )
            ]
        }
    }

    drift: Drift | None = None
    """Retrain on a drift metric."""
    schedule: Schedule | None = None
    """Retrain on a calendar."""
    manual: ManualTrigger | None = None
    """Retrain only by hand (annotation ``mlops.dev/retrain`` works on every policy)."""

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        check_set(self, ("drift", "schedule", "manual"), exactly_one=False)
        return self


class ConcurrencyPolicy(StrEnum):
    """What a trigger does while a retrain runs."""

    FORBID = "Forbid"
    """Ignore it: one retrain at a time."""
    REPLACE = "Replace"
    """Delete the running TrainingJob and start a new one."""


class PromotionMode(StrEnum):
    """Who decides that a new model becomes ``status.latestModel``."""

    AUTOMATIC = "Automatic"
    MANUAL = "Manual"


class Evaluation(Bounds):
    """A metric the run reports that must lie within ``min``..``max`` to promote."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": bounds_rules("spec.promotion.evaluation")
    }

    metric: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    """Name of the metric (a key of the run's ``status.metrics``)."""


class Promotion(ApiModel):
    """What becomes of a run's model."""

    mode: PromotionMode = PromotionMode.AUTOMATIC
    """``Automatic``: a successful run (passing ``evaluation``) sets ``status.latestModel``;
    ``Manual``: wait for a new value of annotation ``mlops.dev/promote: <trainingjob name>``
    (acted on once per value, never written back)."""
    evaluation: Evaluation | None = None
    """Gate on a metric of the run."""


class HistoryLimit(ApiModel):
    """How many finished TrainingJobs of this policy are kept."""

    succeeded: Annotated[int, Field(ge=0)] = 3
    failed: Annotated[int, Field(ge=0)] = 1


class RetrainPolicySpec(ApiModel):
    """When to retrain, how often at most, and what becomes of the new model."""

    training_job_template: TrainingJobTemplate
    """The TrainingJob each retrain creates."""
    model_deployment_ref: ObjectReference | None = None
    """A ModelDeployment (same namespace) for lineage; it follows this policy through its
    ``spec.model.retrainPolicyRef``."""
    triggers: Triggers
    """At least one of ``drift``, ``schedule``, ``manual``."""
    cooldown: Duration = "1h"
    """Minimum time from the end of the last run to the next one."""
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.FORBID
    """``Forbid``: one retrain at a time; ``Replace``: a trigger replaces the running one."""
    max_retrains_per_day: Annotated[int, Field(ge=1)] | None = None
    """Hard cap on runs started in any 24 hours."""
    promotion: Annotated[Promotion, Field(json_schema_extra={"default": {}})] = Field(
        default_factory=Promotion
    )
    """What becomes of a successful run's model."""
    suspend: bool = False
    """Stop evaluating triggers (a running retrain goes on)."""
    history_limit: Annotated[HistoryLimit, Field(json_schema_extra={"default": {}})] = Field(
        default_factory=HistoryLimit
    )
    """How many finished TrainingJobs to keep."""


class RetrainPolicyPhase(StrEnum):
    """``status.phase``: one word for humans; logic reads conditions."""

    WATCHING = "Watching"
    BREACHING = "Breaching"
    RETRAINING = "Retraining"
    COOLING_DOWN = "CoolingDown"
    SUSPENDED = "Suspended"


class RetrainPolicyCondition(StrEnum):
    """Condition types of a RetrainPolicy."""

    READY = "Ready"
    BREACHING = "Breaching"
    RETRAINING = "Retraining"
    COOLING_DOWN = "CoolingDown"
    SUSPENDED = "Suspended"
    PROMOTED = "Promoted"
    """Whether the last successful run's model became ``status.latestModel``, and why not."""


class TriggerReason(StrEnum):
    """Why a retrain started (``status.lastTrigger.reason``, a TrainingJob's ``triggeredBy``)."""

    DRIFT = "Drift"
    SCHEDULE = "Schedule"
    MANUAL = "Manual"


class LastTrigger(ApiModel):
    """The last trigger that started a retrain."""

    time: Timestamp
    """When it fired: the scheduled time, or when the drift value or the annotation was
    acted on."""
    reason: TriggerReason
    value: str | None = None
    """The drift value, the scheduled time or the annotation's value, as text."""
    query: str | None = None
    """The drift query whose value breached (drift triggers only)."""


class LatestModel(ApiModel):
    """The model a following ModelDeployment serves."""

    uri: str
    training_job: str
    """The TrainingJob that produced it."""
    time: Timestamp
    """When it was promoted."""


class RunStart(ApiModel):
    """A run the policy started, for the rolling ``maxRetrainsPerDay`` budget."""

    training_job: str
    time: Timestamp


class RetrainPolicyStatus(StatusBase):
    """What the operator observed; written only by the operator.

    Condition types: ``Ready``, ``Breaching``, ``Retraining``, ``CoolingDown``, ``Suspended``,
    ``Promoted``.

    A policy whose triggers are quiet writes no status at all: an evaluation of the drift
    query is written only when it changes something (the breach window opens or closes, the
    query stops or starts returning data, or the value moves by more than a tenth of the
    threshold), so ``lastValue`` and ``lastEvaluationTime`` show the last such evaluation.
    """

    phase: RetrainPolicyPhase | None = None
    """One word for humans; logic reads conditions."""
    last_value: float | None = None
    """The drift query's value as last written (see above); absent while it has none."""
    last_evaluation_time: Timestamp | None = None
    """When ``lastValue`` (or the lack of one) was read."""
    breaching_since: Timestamp | None = None
    """Start of the current breach window: the first of the consecutive evaluations above
    the threshold (absent: not breaching). The run a breach starts closes the window and
    none opens while that run is active, so a drift that persists starts another run only
    after a new full ``for`` from the run's end (and the cooldown)."""
    last_trigger: LastTrigger | None = None
    next_eligible_time: Timestamp | None = None
    """While the cooldown or the daily budget holds new runs back: when they end."""
    active_training_job: str | None = None
    """The running retrain, if any."""
    last_training_job: str | None = None
    """The last finished retrain."""
    last_completion_time: Timestamp | None = None
    """When ``lastTrainingJob`` finished; the cooldown counts from it."""
    latest_model: LatestModel | None = None
    """The newest promoted model."""
    last_schedule_time: Timestamp | None = None
    """The last scheduled time that started a run (or was answered by a run)."""
    handled_retrain: str | None = None
    """The last value of annotation ``mlops.dev/retrain`` acted on."""
    handled_promote: str | None = None
    """The last value of annotation ``mlops.dev/promote`` acted on."""
    recent_runs: Annotated[list[RunStart], Field(max_length=256)] | None = None
    """Runs started in the 24 hours before the newest one, oldest first: the rolling
    ``maxRetrainsPerDay`` budget, which pruning finished runs cannot reset."""


class RetrainPolicy(CustomResource):
    """When to retrain a model, how often at most, and what becomes of the new model."""

    crd: ClassVar[CrdNames] = CrdNames(
        kind="RetrainPolicy",
        plural="retrainpolicies",
        singular="retrainpolicy",
        short_names=("rp",),
        root_rules=(
            cel(
                "self.metadata.name.size() <= 63",
                "metadata.name must be at most 63 characters: it is the value of the "
                "mlops.dev/retrainpolicy label on every run the policy creates",
                reason="FieldValueInvalid",
            ),
        ),
        printer_columns=(
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Value", ".status.lastValue", "number"),
            PrinterColumn("Threshold", ".spec.triggers.drift.threshold", "number"),
            PrinterColumn("Active", ".status.activeTrainingJob"),
            PrinterColumn("Latest model", ".status.latestModel.uri"),
            AGE,
        ),
    )

    kind: Literal["RetrainPolicy"] = "RetrainPolicy"
    spec: RetrainPolicySpec
    """Triggers, limits and the TrainingJob template."""
    status: RetrainPolicyStatus = Field(default_factory=RetrainPolicyStatus)


def parse_retrainpolicy(body: Mapping[str, Any]) -> RetrainPolicy:
    """A RetrainPolicy from a raw body; raises :class:`~mlops_operator.api.parse.InvalidSpec`."""
    return parse(RetrainPolicy, body)
