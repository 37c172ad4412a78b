"""Operator settings: what a cluster admin can tune, from flags or environment.

One frozen object, built once at start-up by :mod:`mlops_operator.cli` and handed down;
the pure core receives only the parts it needs (e.g. :class:`TrainingDefaults`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrainingDefaults:
    """Cluster-specific choices the TrainingJob builders need."""

    gpu_resource: str = "nvidia.com/gpu"
    # GPU nodes are usually tainted so that only GPU work lands there.
    gpu_toleration_key: str = "nvidia.com/gpu"
    rendezvous_port: int = 29500


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one operator process."""

    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    metrics_port: int = 8080
    health_port: int = 8081
    workers: int = 16
    log_level: str = "INFO"
    log_format: str = "json"  # or "console" for humans at a terminal
    #: Name of the Lease that elects the one acting replica; None: act alone (one replica).
    leader_election: str | None = None
    #: Namespace of that Lease (the operator's own, from the Downward API, in a cluster).
    lease_namespace: str = "default"
    #: Seconds one API request may take; one reconcile may take ``reconcile_timeout``.
    request_timeout: float = 30.0
    reconcile_timeout: float = 120.0
    training: TrainingDefaults = field(default_factory=TrainingDefaults)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then ``MLOPS_*`` environment variables, then explicit overrides."""
        env = os.environ
        values: dict[str, object] = {}
        if "MLOPS_NAMESPACES" in env:
            values["namespaces"] = tuple(n for n in env["MLOPS_NAMESPACES"].split(",") if n)
        casts: tuple[tuple[str, type], ...] = (
            ("metrics_port", int),
            ("health_port", int),
            ("workers", int),
            ("request_timeout", float),
            ("reconcile_timeout", float),
        )
        for name, cast in casts:
            key = f"MLOPS_{name.upper()}"
            if key in env:
                values[name] = cast(env[key])
        if "POD_NAMESPACE" in env:
            values["lease_namespace"] = env["POD_NAMESPACE"]
        for name in ("log_level", "log_format", "leader_election", "lease_namespace"):
            key = f"MLOPS_{name.upper()}"
            if key in env:
                values[name] = env[key]
        if "MLOPS_GPU_RESOURCE" in env:
            gpu = env["MLOPS_GPU_RESOURCE"]
            values["training"] = TrainingDefaults(gpu_resource=gpu, gpu_toleration_key=gpu)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
