"""What the benchmark runs: N one-node, one-GPU TrainingJobs whose pods take a set time.

The operator run creates TrainingJobs; the floor creates the operator's children of those
same TrainingJobs directly. The floor's manifests are what the operator's own (pure)
reconcile creates for a fresh run, so the two runs put exactly the same pods, Jobs and
Services on the cluster, and the floor follows the operator when its children change.
The Kubeflow peer's PyTorchJobs (:mod:`bench.peer`) take their pod from the same Job.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from localcluster import kwok
from mlops_operator import API_VERSION
from mlops_operator.api.trainingjob import TrainingJob
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


def _model(run: str, namespace: str, pod_delay: str) -> TrainingJob:
    body = trainingjob(run, pod_delay)
    body["metadata"] = {"name": run, "namespace": namespace, "uid": str(uuid.uuid4())}
    return TrainingJob.model_validate(body)


#: The REST collection the floor creates each kind of child in.
CHILD_COLLECTIONS = {"Service": ("v1", "services"), "Job": ("batch/v1", "jobs")}


def children(
    run: str, namespace: str, pod_delay: str, training: TrainingDefaults
) -> list[dict[str, Any]]:
    """What the operator's first reconcile of :func:`trainingjob` creates, in its order
    (today a headless Service and the attempt-1 Job).

    Taken from the operator's own (pure) reconcile, so the floor follows the operator when
    it creates fewer or other children. Owner references are dropped: there is no
    TrainingJob to own them in the floor, and the garbage collector deletes children whose
    owner does not exist.
    """
    plan = reconcile(_model(run, namespace, pod_delay), Observed(), datetime.now(UTC), training)
    out = []
    for create in plan.creates:
        manifest = copy.deepcopy(create.manifest)
        manifest["metadata"].pop("ownerReferences", None)
        out.append(manifest)
    return out


def job_of(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The Job among a run's children."""
    jobs = [m for m in manifests if m.get("kind") == "Job"]
    if len(jobs) != 1:
        raise AssertionError(f"expected one Job among {[m.get('kind') for m in manifests]}")
    return jobs[0]


def check_children_match_operator(pod_delay: str, training: TrainingDefaults) -> None:
    """Fail unless the floor can create what the operator's first reconcile creates: one
    Job, and otherwise only kinds it knows the collection of (:data:`CHILD_COLLECTIONS`).

    The reconcile of a TrainingJob with no children yet is pure, so this costs nothing and
    needs no cluster.
    """
    manifests = children(name(0), "check", pod_delay, training)
    job = job_of(manifests)
    if job["spec"].get("suspend"):
        raise AssertionError("the operator's first reconcile creates a suspended Job")
    unknown = sorted({str(m.get("kind")) for m in manifests} - set(CHILD_COLLECTIONS))
    if unknown:
        raise AssertionError(
            f"the operator's first reconcile creates {unknown}: teach bench/workload.py "
            "where the floor creates them"
        )
