"""Where a pod's time went on its way to "running", stage by stage, from the cluster's own
timestamps.

When the operator's Jobs take longer to run than the floor's, the operator is either slow
to create them or it slows the cluster down (on 2 cores, every CPU-second it spends is one
the API server and the controllers do not get). This splits the cluster's part by the
component that owns each step:

- job controller:   Job created -> its pod created (``creationTimestamp``s)
- scheduler + kwok: pod created -> pod started (``status.startTime``, set by KWOK's pod-ready
  stage right after the scheduler binds the pod)
- job status:       pod started -> the Job's ``status.ready`` seen by the benchmark's watch

Server timestamps have one-second resolution, so single values are coarse (and the last
stage reads up to a second long); the spreads over 1,000 pods are what matters.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bench.kube import Kube, resource_path
from bench.track import Spread, owning_run

STAGES = ("job controller", "scheduler + kwok", "job status")


def _wall(value: Any) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _spread(values: list[float]) -> dict[str, float] | None:
    spread = Spread.of(values, 0.0)
    return spread.as_dict() if spread else None


async def stages(
    kube: Kube, namespace: str, job_running: Mapping[str, float]
) -> dict[str, dict[str, float] | None]:
    """Spreads of each stage over the namespace's pods; ``job_running`` maps a run to the
    monotonic time its Job was seen running."""
    offset = time.time() - time.monotonic()
    jobs = await kube.list(resource_path("batch/v1", "jobs", namespace))
    pods = await kube.list(resource_path("v1", "pods", namespace))
    job_created = {
        owning_run(j): _wall(j["metadata"].get("creationTimestamp")) for j in jobs["items"]
    }
    values: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for pod in pods["items"]:
        run = owning_run(pod)
        points = [
            job_created.get(run),
            _wall(pod["metadata"].get("creationTimestamp")),
            _wall((pod.get("status") or {}).get("startTime")),
            job_running[run] + offset if run in job_running else None,
        ]
        for stage, (a, b) in zip(STAGES, itertools.pairwise(points), strict=True):
            if a is not None and b is not None:
                values[stage].append(b - a)
    return {stage: _spread(v) for stage, v in values.items()}
