"""Lineage: from the model a ModelDeployment serves back to the run and the drift behind it.

Every link is read from ``status`` alone, written by the operator as it went:

- ``ModelDeployment.status.stable`` — the model URI, its revision, the TrainingJob that made it;
- ``TrainingJob.spec`` / ``status`` — dataset and version, hyperparameters, metrics, when it
  finished, and ``status.triggeredBy`` — the RetrainPolicy, the trigger, its value and query;
- ``RetrainPolicy.status`` — the model it promoted and when.

This module turns the objects into rows; :mod:`mlops_operator.cli` fetches and prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import TrainingJob

__all__ = ["Row", "rows"]


@dataclass(frozen=True)
class Row:
    """One link of the chain: what it is, which object says so, and what it says."""

    step: str
    object: str
    detail: str


def rows(
    md: ModelDeployment,
    tj: TrainingJob | None = None,
    policy: RetrainPolicy | None = None,
) -> list[Row]:
    """The chain as far as the objects given reach (a missing link says why it stops)."""
    ns = md.metadata.namespace or ""
    stable = md.status.stable
    out = [
        Row(
            "served model",
            f"ModelDeployment {ns}/{md.metadata.name}",
            _join(
                stable.model if stable else "(nothing served yet)",
                f"revision {stable.revision}" if stable and stable.revision else None,
                _promoted(md, stable.revision if stable else None),
            ),
        )
    ]
    run = stable.training_job if stable else None
    if run is None:
        out.append(Row("produced by", "-", "not recorded (the model was given by URI)"))
        return out
    if tj is None:
        out.append(Row("produced by", f"TrainingJob {ns}/{run}", "(not found: deleted?)"))
        return out
    status, spec = tj.status, tj.spec
    out.append(
        Row(
            "produced by",
            f"TrainingJob {ns}/{run}",
            _join(
                status.phase.value if status.phase else None,
                f"finished {_time(status.completion_time)}" if status.completion_time else None,
                f"attempts {status.attempts}" if status.attempts else None,
            ),
        )
    )
    if spec.dataset is not None:
        version = f" @ {spec.dataset.version}" if spec.dataset.version else ""
        out.append(Row("dataset", "", f"{spec.dataset.uri}{version}"))
    if spec.hyperparameters:
        out.append(Row("hyperparameters", "", _pairs(spec.hyperparameters)))
    if status.metrics:
        out.append(Row("metrics", "", _pairs({k: f"{v:g}" for k, v in status.metrics.items()})))
    trigger = status.triggered_by
    if trigger is None:
        out.append(Row("triggered by", "-", "created by hand (no RetrainPolicy)"))
        return out
    out.append(
        Row(
            "triggered by",
            f"RetrainPolicy {ns}/{trigger.retrain_policy}",
            _join(
                trigger.reason,
                f"value {trigger.value}" if trigger.value is not None else None,
                f"at {_time(trigger.time)}" if trigger.time else None,
                f"query {trigger.query.strip()}" if trigger.query else None,
            ),
        )
    )
    if policy is not None and policy.status.latest_model is not None:
        latest = policy.status.latest_model
        out.append(
            Row(
                "policy's latest",
                f"RetrainPolicy {ns}/{policy.metadata.name}",
                _join(latest.uri, f"from {latest.training_job}", f"at {_time(latest.time)}"),
            )
        )
    return out


def _promoted(md: ModelDeployment, revision: int | None) -> str | None:
    for entry in reversed(md.status.history or []):
        if entry.revision == revision:
            return f"{entry.outcome.value.lower()} {_time(entry.time)}"
    return None


def _pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def _time(value: object) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value)
