"""TrainingJob (``tj``): a training run of one or more pods ("nodes") with GPUs, to completion.

Everything in ``spec`` that shapes the pods is immutable once the object exists: a run
whose pods no longer match its spec would make ``status`` and lineage lie. Changing the
image or the data means a new run, which is also what a RetrainPolicy does. What only
governs the run's lifecycle stays mutable: ``suspend``, ``backoffLimit``,
``activeDeadlineSeconds`` and ``ttlSecondsAfterFinished``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from mlops_operator.api.common import (
    MAX_LIST,
    ApiModel,
    Arg,
    DnsName,
    EnvVar,
    KubeObject,
    LabelValue,
    ResourceRequirements,
    StatusBase,
    TemplateMetadata,
    Timestamp,
    Uri,
    cel,
)
from mlops_operator.api.parse import parse
from mlops_operator.api.resource import (
    AGE,
    DNS1035_LABEL,
    CrdNames,
    CustomResource,
    PrinterColumn,
    dns1035_name_rule,
)

#: A run's name becomes its Service's name (a DNS-1035 label) and the stem of
#: ``<name>-a<attempt>-<index>`` pod hostnames, which must fit in 63 characters: 48 leaves
#: room for 3-digit attempts (backoffLimit <= 99) and 4-digit node indexes.
MAX_NAME_LENGTH = 48
NAME_PATTERN = DNS1035_LABEL

__all__ = [
    "IMMUTABLE_FIELDS",
    "Checkpoint",
    "Dataset",
    "Framework",
    "ModelRef",
    "NodeCounts",
    "Output",
    "PodTemplate",
    "TrainingJob",
    "TrainingJobCondition",
    "TrainingJobPhase",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "TriggeredBy",
    "changed_immutable_fields",
    "parse_trainingjob",
]


class Framework(StrEnum):
    """How the pods learn their place in the run."""

    PYTORCH = "pytorch"
    """torchrun's environment: MASTER_ADDR/PORT, WORLD_SIZE, RANK/NODE_RANK, PET_*."""
    GENERIC = "generic"
    """NODE_RANK and NUM_NODES only."""


class TrainingJobPhase(StrEnum):
    """``status.phase``: one word for humans; logic reads conditions."""

    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class TrainingJobCondition(StrEnum):
    """Condition types of a TrainingJob; ``Succeeded`` or ``Failed`` True is terminal."""

    CREATED = "Created"
    QUEUED = "Queued"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class Dataset(ApiModel):
    """The data a run trains on, recorded for lineage and given to the pods as env."""

    uri: Uri
    """Where the data is, e.g. ``s3://bucket/datasets/reviews``."""
    version: Annotated[str, StringConstraints(max_length=256)] | None = None
    """Version of the data (a tag, a snapshot id, a date)."""


class Output(ApiModel):
    """Where the run writes its model."""

    model_uri: Uri
    """Given to the pods; becomes ``status.model.uri`` when the run succeeds."""


class Checkpoint(ApiModel):
    """Where attempts write and read checkpoints."""

    uri: Uri
    """Given to every attempt, so a restarted attempt can resume."""


class PodTemplate(ApiModel):
    """Merged into every pod of the run."""

    metadata: TemplateMetadata | None = None
    """Labels and annotations added to every pod."""
    spec: KubeObject | None = None
    """A partial core/v1 PodSpec merged into every pod (nodeSelector, tolerations, affinity,
    volumes, ...). A container named ``trainer`` merges into the main container (e.g. its
    volumeMounts); any other container is added as a sidecar."""


IMMUTABLE_FIELDS: tuple[str, ...] = (
    "image",
    "command",
    "args",
    "env",
    "framework",
    "nodes",
    "procsPerNode",
    "gpusPerNode",
    "resources",
    "dataset",
    "hyperparameters",
    "output",
    "checkpoint",
    "podTemplate",
    "queueName",
    "priorityClassName",
    "serviceAccountName",
)
"""The spec fields (JSON names) that shape the pods and cannot change after creation."""


def _immutable(name: str) -> dict[str, Any]:
    """A transition rule at spec level: catches change, addition and removal alike."""
    return cel(
        f"has(self.{name}) == has(oldSelf.{name})"
        f" && (!has(self.{name}) || self.{name} == oldSelf.{name})",
        f"spec.{name} is immutable",
        field_path=f".{name}",
        reason="FieldValueForbidden",
    )


class TrainingJobSpec(ApiModel):
    """What to run, on how many nodes and GPUs, with which data, and where the model goes.

    The immutability rules are attached where this spec is a TrainingJob's ``spec`` (see
    :class:`TrainingJob`), not here: inside a RetrainPolicy's template it stays editable.
    """

    image: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    """Container image of the training code."""
    command: Annotated[list[Arg], Field(max_length=MAX_LIST)] | None = None
    """Entrypoint (the image's if unset)."""
    args: Annotated[list[Arg], Field(max_length=MAX_LIST)] | None = None
    """Arguments to the entrypoint."""
    env: Annotated[list[EnvVar], Field(max_length=MAX_LIST)] | None = None
    """Extra environment variables (core/v1 EnvVar) of the main container."""
    framework: Framework = Framework.GENERIC
    """``pytorch`` injects what torchrun needs; ``generic`` injects NODE_RANK and NUM_NODES."""
    nodes: Annotated[int, Field(ge=1, le=9999)] = 1
    """Number of pods; all run at once."""
    procs_per_node: Annotated[int, Field(ge=1)] | None = None
    """Processes per pod (torchrun's nproc-per-node); default ``gpusPerNode``, or 1."""
    gpus_per_node: Annotated[int, Field(ge=0)] = 0
    """GPU limit per pod; the resource name is an operator setting (``nvidia.com/gpu``)."""
    resources: ResourceRequirements | None = None
    """core/v1 ResourceRequirements per pod, for cpu, memory and anything else."""
    dataset: Dataset | None = None
    """The training data, recorded for lineage and given to the pods as env."""
    hyperparameters: Annotated[dict[str, Arg], Field(max_length=MAX_LIST)] | None = None
    """Recorded for lineage and given to the pods."""
    output: Output | None = None
    """Where the run writes its model."""
    checkpoint: Checkpoint | None = None
    """Where attempts keep checkpoints, so a restarted attempt can resume."""
    backoff_limit: Annotated[int, Field(ge=0, le=99)] = 0
    """Whole-run restarts after a failed attempt."""
    active_deadline_seconds: Annotated[int, Field(ge=1)] | None = None
    """Seconds the run may be active, from its first start across restarts; time spent
    suspended does not count. Each attempt's Job gets the remaining time as its own deadline."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] | None = None
    """Delete the TrainingJob this long after it succeeded or failed."""
    suspend: bool = False
    """Stop the pods (a running attempt is lost) until set back to false."""
    queue_name: LabelValue | None = None
    """Hand the run to Kueue: label ``kueue.x-k8s.io/queue-name``, created suspended."""
    priority_class_name: DnsName | None = None
    """PriorityClass of the pods."""
    service_account_name: DnsName | None = None
    """ServiceAccount of the pods."""
    pod_template: PodTemplate | None = None
    """Metadata and a partial PodSpec merged into every pod."""

    @property
    def effective_procs_per_node(self) -> int:
        """``procsPerNode``, else one process per GPU, else 1."""
        if self.procs_per_node is not None:
            return self.procs_per_node
        return self.gpus_per_node or 1


class NodeCounts(ApiModel):
    """Pods of the current attempt by state."""

    active: Annotated[int, Field(ge=0)] = 0
    ready: Annotated[int, Field(ge=0)] = 0
    succeeded: Annotated[int, Field(ge=0)] = 0
    failed: Annotated[int, Field(ge=0)] = 0


class ModelRef(ApiModel):
    """A trained model."""

    uri: str
    """Where the model is."""


class TriggeredBy(ApiModel):
    """Why a RetrainPolicy created this run (lineage from a served model back to its cause)."""

    retrain_policy: str
    """Name of the RetrainPolicy."""
    reason: str
    """``Drift``, ``Schedule`` or ``Manual``."""
    value: str | None = None
    """The drift value, the schedule's time or the annotation's value, as text."""
    time: Timestamp | None = None
    """When the trigger fired."""
    query: str | None = None
    """The PromQL query whose value breached (drift triggers only)."""


class TrainingJobStatus(StatusBase):
    """What the operator observed; written only by the operator.

    Condition types: ``Created``, ``Queued``, ``Running``, ``Restarting``, ``Succeeded``,
    ``Failed``, ``Suspended``; ``Succeeded`` or ``Failed`` True is terminal.
    """

    phase: TrainingJobPhase | None = None
    """One word for humans; logic reads conditions."""
    start_time: Timestamp | None = None
    """When the first attempt started."""
    completion_time: Timestamp | None = None
    """When the run succeeded or failed."""
    attempts: Annotated[int, Field(ge=0)] | None = None
    """Attempts started so far (1 + restarts)."""
    suspended_seconds: Annotated[int, Field(ge=0)] | None = None
    """Time the run has spent suspended since it started; the deadline moves by as much."""
    nodes: NodeCounts | None = None
    """Pods of the current attempt by state."""
    model: ModelRef | None = None
    """The trained model, once the run succeeded."""
    metrics: Annotated[dict[str, float], Field(max_length=MAX_LIST)] | None = None
    """What the run reported, read once when it succeeded: the numbers of the JSON object
    ``{"metrics": {"accuracy": 0.93}}`` its rank-0 container wrote to its termination message
    (``/dev/termination-log``); empty if it wrote none."""
    triggered_by: TriggeredBy | None = None
    """Set when a RetrainPolicy created this run."""


class TrainingJob(CustomResource):
    """A training run: one or more pods, each with GPUs, running one image to completion."""

    crd: ClassVar[CrdNames] = CrdNames(
        kind="TrainingJob",
        plural="trainingjobs",
        singular="trainingjob",
        short_names=("tj",),
        printer_columns=(
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Nodes", ".spec.nodes", "integer"),
            PrinterColumn("GPUs", ".spec.gpusPerNode", "integer", "GPUs per node"),
            PrinterColumn("Attempts", ".status.attempts", "integer"),
            PrinterColumn("Model", ".status.model.uri"),
            AGE,
        ),
        root_rules=(
            dns1035_name_rule(
                MAX_NAME_LENGTH,
                "it names the run's Service, and its Jobs and pods add a suffix",
            ),
        ),
    )

    kind: Literal["TrainingJob"] = "TrainingJob"
    spec: Annotated[
        TrainingJobSpec,
        Field(
            json_schema_extra={
                "x-kubernetes-validations": [_immutable(f) for f in IMMUTABLE_FIELDS],
            }
        ),
    ]
    """What to run; the fields that shape the pods are immutable."""
    status: TrainingJobStatus = Field(default_factory=TrainingJobStatus)

    @model_validator(mode="after")
    def _name_fits_children(self) -> TrainingJob:
        """The admission rule's twin, for objects created before the rule existed."""
        name = self.metadata.name
        if name is not None and not (
            len(name) <= MAX_NAME_LENGTH and re.fullmatch(NAME_PATTERN, name)
        ):
            raise ValueError(
                f"metadata.name {name!r} must be a DNS-1035 label of at most "
                f"{MAX_NAME_LENGTH} characters"
            )
        return self


def changed_immutable_fields(old: TrainingJobSpec, new: TrainingJobSpec) -> list[str]:
    """JSON names of the pod-shaping fields that differ between two specs.

    Admission refuses such changes; this is for the operator's own defence (e.g. a spec it
    recorded when the run started, or a cluster whose CRD lacks the rules).
    """
    attr = {field.alias or name: name for name, field in TrainingJobSpec.model_fields.items()}
    return [f for f in IMMUTABLE_FIELDS if getattr(old, attr[f]) != getattr(new, attr[f])]


def parse_trainingjob(body: Mapping[str, Any]) -> TrainingJob:
    """A TrainingJob from a raw body; raises :class:`~mlops_operator.api.parse.InvalidSpec`."""
    return parse(TrainingJob, body)
