"""What the benchmark runs: N one-node, one-GPU TrainingJobs whose pods take a set time.

The operator run creates TrainingJobs; the floor creates the operator's children of those
same TrainingJobs directly. The floor's manifests come from the operator's own builders,
so the two runs put exactly the same pods, Jobs and Services on the cluster; a self-check
compares them with what the operator's reconcile decides for a fresh run, so the floor
cannot silently drift from the operator when the builders change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from localcluster import kwok
from mlops_operator import API_VERSION
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.training import builders
from mlops_operator.core.training.observed import Observed
from mlops_operator.core.training.reconcile import reconcile
from mlops_operator.settings import Settings, TrainingDefaults

#: Never pulled: KWOK runs no containers.
IMAGE = "registry.example/bench-trainer:1.0"
PLURAL = TrainingJob.crd.plural


def name(index: int) -> str:
    """``bench-0000`` .. ``bench-0999``: sortable, and short enough for every child name."""
    return f"bench-{index:04d}"


def defaults() -> TrainingDefaults:
    """The operator's training defaults, from the same MLOPS_* environment it reads."""
    return Settings.from_env().training


def trainingjob(run: str, pod_delay: str) -> dict[str, Any]:
    """One TrainingJob: 1 node x 1 GPU; KWOK completes its pod ``pod_delay`` after it runs."""
    return {
        "apiVersion": API_VERSION,
        "kind": TrainingJob.crd.kind,
        "metadata": {"name": run},
        "spec": {
            "image": IMAGE,
            "nodes": 1,
            "gpusPerNode": 1,
            "podTemplate": {
                "metadata": {"annotations": {kwok.COMPLETE_DELAY_ANNOTATION: pod_delay}},
            },
        },
    }


def children(
    run: str, namespace: str, pod_delay: str, training: TrainingDefaults
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Service and attempt-1 Job the operator creates for :func:`trainingjob`.

    Owner references are dropped: there is no TrainingJob to own them in the floor, and the
    garbage collector deletes children whose owner does not exist.
    """
    body = trainingjob(run, pod_delay)
    body["metadata"] = {"name": run, "namespace": namespace, "uid": str(uuid.uuid4())}
    tj = TrainingJob.model_validate(body)
    service = builders.service(tj, training)
    job = builders.job(tj, 1, training, suspend=False, active_deadline_seconds=None)
    for manifest in (service, job):
        del manifest["metadata"]["ownerReferences"]
    return service, job


def check_children_match_operator(pod_delay: str, training: TrainingDefaults) -> None:
    """Fail unless :func:`children` equals what the operator's reconcile would create.

    The reconcile of a TrainingJob with no children yet is pure, so this costs nothing and
    needs no cluster.
    """
    run, namespace = name(0), "check"
    body = trainingjob(run, pod_delay)
    body["metadata"] = {"name": run, "namespace": namespace, "uid": str(uuid.uuid4())}
    tj = TrainingJob.model_validate(body)
    plan = reconcile(tj, Observed(), datetime.now(UTC), training)
    expected = {c.kind: c.manifest for c in plan.creates}
    for manifest in (expected.get("Service"), expected.get("Job")):
        if manifest is None:
            raise AssertionError(f"the operator's first reconcile creates {sorted(expected)}")
        manifest["metadata"].pop("ownerReferences", None)
    service, job = children(run, namespace, pod_delay, training)
    if (service, job) != (expected["Service"], expected["Job"]):
        raise AssertionError(
            "the floor's manifests differ from the operator's first reconcile; "
            "update bench/workload.py to build what the operator builds"
        )
