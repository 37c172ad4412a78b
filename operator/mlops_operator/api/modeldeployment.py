"""ModelDeployment (``md``): a model behind one stable Service, rolled out by canary.

A new model (a spec edit, or a new ``status.latestModel`` of the followed RetrainPolicy)
starts a rollout: the canary takes traffic step by step, Prometheus analysis decides, and a
failed analysis sends all traffic back to the stable model without anyone editing the spec.
Manual promote/abort are annotations (:data:`~mlops_operator.api.keys.PROMOTE_ANNOTATION`,
:data:`~mlops_operator.api.keys.ABORT_ANNOTATION`) acted on once per new value and never
written back, so a GitOps tool never fights the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from mlops_operator.api.common import (
    MAX_LIST,
    ApiModel,
    Arg,
    Bounds,
    DnsName,
    Duration,
    EnvVar,
    ObjectReference,
    Prometheus,
    ResourceRequirements,
    StatusBase,
    Timestamp,
    Uri,
    bounds_rules,
    cel,
    cel_count_set,
    check_set,
)
from mlops_operator.api.parse import parse
from mlops_operator.api.resource import (
    AGE,
    CrdNames,
    CustomResource,
    PrinterColumn,
    dns1035_name_rule,
)

__all__ = [
    "AbortedRollout",
    "Analysis",
    "AnalysisStatus",
    "AnalysisStep",
    "Autoscaling",
    "Canary",
    "CanaryStatus",
    "CanaryStep",
    "GatewayAPIRouting",
    "HistoryEntry",
    "MeasurementResult",
    "Metric",
    "ModelDeployment",
    "ModelDeploymentCondition",
    "ModelDeploymentPhase",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelSource",
    "Pause",
    "ReplicasRouting",
    "Rollout",
    "RolloutOutcome",
    "Server",
    "StableStatus",
    "ThresholdRange",
    "TrafficRouting",
    "VariantValues",
    "parse_modeldeployment",
]

MAX_NAME_LENGTH = 56
"""``<name>-canary`` names a Service, a DNS-1035 label of at most 63 characters."""
MAX_STEPS = 64
MAX_METRICS = 16


class ModelSource(ApiModel):
    """Which model to serve: exactly one of ``uri``, ``trainingJobRef``, ``retrainPolicyRef``."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    cel_count_set("uri", "trainingJobRef", "retrainPolicyRef") + " == 1",
                    "spec.model must set exactly one of uri, trainingJobRef, retrainPolicyRef",
                )
            ]
        }
    }

    uri: Uri | None = None
    """A model URI, served as is."""
    training_job_ref: ObjectReference | None = None
    """Serve this TrainingJob's ``status.model.uri`` once it succeeded."""
    retrain_policy_ref: ObjectReference | None = None
    """Follow this RetrainPolicy's ``status.latestModel``: each new model starts a rollout."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        check_set(self, ("uri", "training_job_ref", "retrain_policy_ref"), exactly_one=True)
        return self


class Server(ApiModel):
    """The model server; the model URI reaches it as env ``MODEL_URI``."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    """Container image of the model server."""
    command: Annotated[list[Arg], Field(max_length=MAX_LIST)] | None = None
    """Entrypoint (the image's if unset)."""
    args: Annotated[list[Arg], Field(max_length=MAX_LIST)] | None = None
    """Arguments to the entrypoint."""
    env: Annotated[list[EnvVar], Field(max_length=MAX_LIST)] | None = None
    """Extra environment variables (core/v1 EnvVar)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    """Port the server listens on; the Service forwards to it."""
    readiness_path: Annotated[str, StringConstraints(pattern=r"^/", max_length=1024)] | None = None
    """HTTP path of the readiness probe (none: a TCP probe on ``port``)."""


class Autoscaling(ApiModel):
    """A HorizontalPodAutoscaler on the stable Deployment, on CPU; a canary's pods follow the
    stable's current replica count by the step's weight."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    "self.minReplicas <= self.maxReplicas",
                    "spec.autoscaling.minReplicas must be <= maxReplicas",
                    field_path=".minReplicas",
                )
            ]
        }
    }

    min_replicas: Annotated[int, Field(ge=1)] = 1
    """Lower bound of replicas."""
    max_replicas: Annotated[int, Field(ge=1)]
    """Upper bound of replicas."""
    target_cpu_utilization_percentage: Annotated[int, Field(ge=1)] | None = Field(
        default=None, alias="targetCPUUtilizationPercentage"
    )
    """Average CPU utilization (percent of requests) the HPA aims for."""

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must be <= maxReplicas")
        return self


class Pause(ApiModel):
    """Wait before the next step."""

    duration: Duration | None = None
    """How long; none waits for a manual promote (a new value of annotation
    ``mlops.dev/promote``)."""


class AnalysisStep(ApiModel):
    """Run the canary's analysis now; the rollout goes on only if it passes."""


class CanaryStep(ApiModel):
    """One step of a canary: exactly one of ``setWeight``, ``pause``, ``analysis``."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    cel_count_set("setWeight", "pause", "analysis") + " == 1",
                    "each step of spec.rollout.canary.steps must set exactly one of "
                    "setWeight, pause, analysis",
                )
            ]
        }
    }

    set_weight: Annotated[int, Field(ge=0, le=100)] | None = None
    """Percent of traffic to the canary."""
    pause: Pause | None = None
    """Wait, for a duration or for a manual promote."""
    analysis: AnalysisStep | None = None
    """Run the analysis now."""

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        check_set(self, ("set_weight", "pause", "analysis"), exactly_one=True)
        return self


class ReplicasRouting(ApiModel):
    """Weight traffic by pod counts behind the one Service (no mesh or gateway needed)."""


class GatewayAPIRouting(ApiModel):
    """Write backend weights of a Gateway API HTTPRoute."""

    http_route: DnsName
    """Name of the HTTPRoute (same namespace) whose backends are the two variants."""


class TrafficRouting(ApiModel):
    """How traffic is split; exactly one of ``replicas``, ``gatewayAPI``."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    cel_count_set("replicas", "gatewayAPI") + " == 1",
                    "spec.rollout.canary.trafficRouting must set exactly one of "
                    "replicas, gatewayAPI",
                )
            ]
        }
    }

    replicas: ReplicasRouting | None = None
    """Weight by pod counts behind one Service."""
    gateway_api: GatewayAPIRouting | None = Field(default=None, alias="gatewayAPI")
    """Weight the backends of a Gateway API HTTPRoute."""

    @model_validator(mode="after")
    def _one_router(self) -> Self:
        check_set(self, ("replicas", "gateway_api"), exactly_one=True)
        return self


class ThresholdRange(Bounds):
    """The range a metric must stay in to pass; at least one of ``min``, ``max``."""

    model_config = ApiModel.model_config | {"json_schema_extra": bounds_rules("thresholdRange")}


class Metric(ApiModel):
    """A PromQL query whose value must stay within ``thresholdRange``.

    The query may use ``{{name}}``, ``{{namespace}}`` and ``{{variant}}`` (``stable`` or
    ``canary``). A query that returns no data is inconclusive: it never promotes.
    """

    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_-]*$", max_length=63)]
    """Name of the metric, as it appears in status."""
    query: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    """PromQL; must return one number."""
    threshold_range: ThresholdRange
    """Passing range of the value."""


class Analysis(ApiModel):
    """Prometheus checks run by ``analysis`` steps (and while a canary takes traffic)."""

    interval: Duration = "1m"
    """Time between two measurements."""
    failure_limit: Annotated[int, Field(ge=0)] = 1
    """Failed measurements tolerated; one more aborts the canary."""
    prometheus: Prometheus
    """Where to run the queries."""
    metrics: Annotated[list[Metric], Field(min_length=1, max_length=MAX_METRICS)]
    """What must hold for the canary to go on."""


class Canary(ApiModel):
    """Roll a new model out step by step behind the same Service."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    "!self.steps.exists(s, has(s.analysis)) || has(self.analysis)",
                    "spec.rollout.canary.analysis is required when a step runs an analysis",
                    field_path=".analysis",
                )
            ]
        }
    }

    steps: Annotated[list[CanaryStep], Field(min_length=1, max_length=MAX_STEPS)]
    """Done in order; after the last step the canary is promoted."""
    traffic_routing: TrafficRouting | None = None
    """How traffic is split (absent: ``replicas``)."""
    analysis: Analysis | None = None
    """Prometheus checks; needed if a step is ``analysis``."""
    progress_deadline_seconds: Annotated[int, Field(ge=1)] | None = None
    """A step not completed within this many seconds aborts the canary (default 600):
    reason ``NoData`` if the analysis had no data, ``ProgressDeadlineExceeded`` otherwise."""

    @model_validator(mode="after")
    def _analysis_defined(self) -> Self:
        if self.analysis is None and any(s.analysis is not None for s in self.steps):
            raise ValueError("analysis is required when a step runs an analysis")
        return self


class Rollout(ApiModel):
    """How a new model replaces the old one."""

    canary: Canary | None = None
    """Absent: a new model replaces the old at once."""


class ModelDeploymentSpec(ApiModel):
    """Which model to serve, with which server, how many replicas, and how to roll out."""

    model: ModelSource
    """Exactly one of ``uri``, ``trainingJobRef``, ``retrainPolicyRef``."""
    server: Server
    """The model server container."""
    replicas: Annotated[int, Field(ge=0)] = 1
    """Replicas of the stable variant (ignored while ``autoscaling`` is set)."""
    gpus_per_replica: Annotated[int, Field(ge=0)] = 0
    """GPU limit per pod."""
    resources: ResourceRequirements | None = None
    """core/v1 ResourceRequirements of the server container."""
    autoscaling: Autoscaling | None = None
    """Scale the stable Deployment with an HPA (the canary follows it by weight)."""
    rollout: Rollout | None = None
    """Absent: a new model replaces the old at once."""
    paused: bool = False
    """Freeze the rollout where it is."""


class ModelDeploymentPhase(StrEnum):
    """``status.phase``: one word for humans; logic reads conditions."""

    PROGRESSING = "Progressing"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    PAUSED = "Paused"


class ModelDeploymentCondition(StrEnum):
    """Condition types of a ModelDeployment."""

    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    PAUSED = "Paused"


class RolloutOutcome(StrEnum):
    """How a rollout ended."""

    PROMOTED = "Promoted"
    ABORTED = "Aborted"
    ROLLED_BACK = "RolledBack"


class StableStatus(ApiModel):
    """The variant that takes the traffic the canary does not."""

    model: str | None = None
    """URI of the model served."""
    revision: Annotated[int, Field(ge=0)] | None = None
    """Rollout revision that made it stable."""
    training_job: str | None = None
    """The TrainingJob that produced the model, when it came from one (lineage)."""
    replicas: Annotated[int, Field(ge=0)] | None = None
    """Desired replicas (the HPA's current count with ``autoscaling``)."""
    ready_replicas: Annotated[int, Field(ge=0)] | None = None


class MeasurementResult(StrEnum):
    """The verdict of one analysis measurement."""

    PASS = "Pass"
    """Every metric's canary value in range."""
    FAIL = "Fail"
    """Some metric's canary value out of range; counts towards ``failureLimit``."""
    INCONCLUSIVE = "Inconclusive"
    """Some metric without a value (no data, NaN, Prometheus unreachable): the rollout holds."""


class VariantValues(ApiModel):
    """One metric's value per variant (absent: no data)."""

    stable: float | None = None
    canary: float | None = None


class AnalysisStatus(ApiModel):
    """Results of the current canary's analysis."""

    successes: Annotated[int, Field(ge=0)] = 0
    failures: Annotated[int, Field(ge=0)] = 0
    inconclusive: Annotated[int, Field(ge=0)] = 0
    """Measurements without data; they count neither way."""
    last_values: Annotated[dict[str, VariantValues], Field(max_length=MAX_METRICS)] | None = None
    """Last value of each metric by name, per variant; only the canary's is judged."""
    last_result: MeasurementResult | None = None
    last_measurement_time: Timestamp | None = None
    """When the last measurement ran; the next is due one ``interval`` later."""
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    """What the last measurement found, in words (failing values, missing data)."""


class CanaryStatus(ApiModel):
    """The variant being rolled out."""

    model: str | None = None
    """URI of the new model."""
    revision: Annotated[int, Field(ge=0)] | None = None
    training_job: str | None = None
    """The TrainingJob that produced the model, when it came from one (lineage)."""
    weight: Annotated[int, Field(ge=0, le=100)] | None = None
    """Percent of traffic it takes now: with replica routing its share of the ready pods
    (``c / (N + c)``), with Gateway API the route's weight while a canary pod is ready."""
    step_index: Annotated[int, Field(ge=0)] | None = None
    """Index of the current step in ``spec.rollout.canary.steps``."""
    started_at: Timestamp | None = None
    """When this rollout began."""
    step_started_at: Timestamp | None = None
    """When the current step began (moved forward by the time spent with ``spec.paused``):
    pauses and the progress deadline count from it, across operator restarts."""
    paused_at: Timestamp | None = None
    """Since when ``spec.paused`` froze the rollout (absent: not paused)."""
    promoting: bool | None = None
    """The canary was promoted; the stable Deployment is rolling out its model."""
    analysis: AnalysisStatus | None = None


class AbortedRollout(ApiModel):
    """The last aborted model: not rolled out again until the desired model changes."""

    model: str
    revision: Annotated[int, Field(ge=0)]
    reason: str
    """``AnalysisFailed``, ``NoData``, ``ProgressDeadlineExceeded`` or ``ManualAbort``."""
    message: Annotated[str, StringConstraints(max_length=4096)] = ""
    """Why, with the failing values."""
    time: Timestamp


class HistoryEntry(ApiModel):
    """One finished rollout."""

    revision: Annotated[int, Field(ge=0)]
    model: str
    outcome: RolloutOutcome
    time: Timestamp
    reason: str | None = None
    """``Promoted``, ``Initial``, ``Replaced``; for an abort ``AnalysisFailed``, ``NoData``,
    ``ProgressDeadlineExceeded``, ``ManualAbort`` or ``Superseded`` (a newer model replaced
    the canary); ``Reverted`` for a rollback to the stable model."""
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    training_job: str | None = None
    """The TrainingJob that produced the model, when it came from one (lineage)."""


class ModelDeploymentStatus(StatusBase):
    """What the operator observed; written only by the operator.

    Condition types: ``Ready``, ``Progressing``, ``Degraded``, ``Paused``.
    """

    phase: ModelDeploymentPhase | None = None
    """One word for humans; logic reads conditions."""
    revision: Annotated[int, Field(ge=0)] | None = None
    """The last revision given to a model; each new desired model gets the next one."""
    stable: StableStatus | None = None
    canary: CanaryStatus | None = None
    """Absent when no rollout is in progress."""
    aborted: AbortedRollout | None = None
    """The last aborted model, while the desired model is still that one."""
    handled_promote: str | None = None
    """The last value of annotation ``mlops.dev/promote`` handled (acted on, or ignored
    because no canary ran)."""
    handled_abort: str | None = None
    """The last value of annotation ``mlops.dev/abort`` handled."""
    history: Annotated[list[HistoryEntry], Field(max_length=20)] | None = None
    """Last rollouts (10 kept), newest last."""


class ModelDeployment(CustomResource):
    """A model served behind one stable Service, rolled out to new versions by canary."""

    crd: ClassVar[CrdNames] = CrdNames(
        kind="ModelDeployment",
        plural="modeldeployments",
        singular="modeldeployment",
        short_names=("md",),
        root_rules=(
            dns1035_name_rule(
                MAX_NAME_LENGTH,
                "it names the deployment's Services, and '<name>-canary' must fit in 63",
            ),
        ),
        printer_columns=(
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Model", ".status.stable.model"),
            PrinterColumn("Canary", ".status.canary.model"),
            PrinterColumn("Weight", ".status.canary.weight", "integer"),
            PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            AGE,
        ),
    )

    kind: Literal["ModelDeployment"] = "ModelDeployment"
    spec: ModelDeploymentSpec
    """The model, its server and its rollout."""
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus)


def parse_modeldeployment(body: Mapping[str, Any]) -> ModelDeployment:
    """A ModelDeployment from a raw body; raises :class:`~mlops_operator.api.parse.InvalidSpec`."""
    return parse(ModelDeployment, body)
