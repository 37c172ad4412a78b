"""Cluster-specific choices the ModelDeployment core needs, as one small frozen object."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PROGRESS_DEADLINE_SECONDS", "ServingDefaults"]

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
"""``spec.rollout.canary.progressDeadlineSeconds`` when unset: the Deployment controller's own
default. A step that has not completed within it aborts the canary."""


@dataclass(frozen=True)
class ServingDefaults:
    """What the ModelDeployment builders need from the operator's settings.

    Mirrors :class:`mlops_operator.settings.TrainingDefaults`: both take the GPU resource
    name from the same setting (``MLOPS_GPU_RESOURCE``).
    """

    gpu_resource: str = "nvidia.com/gpu"
    # GPU nodes are usually tainted so that only GPU work lands there.
    gpu_toleration_key: str = "nvidia.com/gpu"
