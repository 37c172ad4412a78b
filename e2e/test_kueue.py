"""TrainingJobs under a real Kueue: quota, admission order, preemption, gang admission.

Kueue (sigs.k8s.io/kueue, built like the control plane) runs beside the local control
plane (the ``kueue`` fixture). Each test gets a ResourceFlavor and a ClusterQueue of its
own (only its namespace may use it: other sessions share this Kueue) with a GPU quota
smaller than the work, and a LocalQueue ``team`` in its namespace. The flavor is a node
pool of the session's own (one 8-GPU node, tainted): Kueue puts the flavor's node
selector and toleration on the pods it admits, so other sessions' pods never take the
GPUs a test counts on, and a test's pods never take theirs. Kueue admits,
suspends and resumes the Jobs; the operator only creates them suspended with the queue
label. Nothing here writes a Job, a pod or a Workload: what moves, Kueue, the Job
controller, the scheduler and KWOK move.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from kubernetes import client

from e2e.trainingjobs import COMPLETE_DELAY, TrainingJobs, manifest
from localcluster import kube, nodes
from localcluster import kueue as kq
from localcluster.pytest_plugin import SESSION_PREFIX
from localcluster.waiting import wait_for

QUEUE = "team"
GPU = "nvidia.com/gpu"
#: StrictFIFO: a run that fits never overtakes an older one that does not, so admission
#: order is creation order (BestEffortFIFO would let small runs jump the queue).
STRATEGY = "StrictFIFO"
POOL_LABEL = "mlops.dev/test-pool"


class Queues:
    """The test's ResourceFlavor, ClusterQueue and LocalQueue, and its Workloads."""

    def __init__(self, api: client.ApiClient, namespace: str, pool: str) -> None:
        self.api = api
        self.namespace = namespace
        self.pool = pool
        # Cluster-scoped: unique across sessions and reruns.
        self.name = f"{namespace[:50]}-{secrets.token_hex(3)}"

    def create(self, gpus: int) -> None:
        kube.create(self.api, self.flavor())
        kube.create(self.api, self.cluster_queue(gpus))
        kube.create(
            self.api,
            {
                "apiVersion": kq.API_VERSION,
                "kind": "LocalQueue",
                "metadata": {"name": QUEUE, "namespace": self.namespace},
                "spec": {"clusterQueue": self.name},
            },
        )
        for kind, name, namespace in (
            ("ClusterQueue", self.name, None),
            ("LocalQueue", QUEUE, self.namespace),
        ):
            wait_for(partial(self._active, kind, name, namespace), 30, f"{kind} {name} Active")

    def _active(self, kind: str, name: str, namespace: str | None) -> bool:
        return kube.has_condition(
            kube.get(self.api, kq.API_VERSION, kind, name, namespace), "Active"
        )

    def flavor(self) -> dict[str, Any]:
        """The session's node pool: Kueue adds this selector and toleration to the pods
        of the runs it admits in this flavor."""
        return {
            "apiVersion": kq.API_VERSION,
            "kind": "ResourceFlavor",
            "metadata": {"name": self.name},
            "spec": {
                "nodeLabels": {POOL_LABEL: self.pool},
                "tolerations": [
                    {
                        "key": POOL_LABEL,
                        "operator": "Equal",
                        "value": self.pool,
                        "effect": "NoSchedule",
                    }
                ],
            },
        }

    def cluster_queue(self, gpus: int) -> dict[str, Any]:
        """Only this namespace; preemption of lower-priority Workloads."""
        return {
            "apiVersion": kq.API_VERSION,
            "kind": "ClusterQueue",
            "metadata": {"name": self.name},
            "spec": {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": self.namespace}
                },
                "queueingStrategy": STRATEGY,
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": [GPU],
                        "flavors": [
                            {
                                "name": self.name,
                                "resources": [{"name": GPU, "nominalQuota": gpus}],
                            }
                        ],
                    }
                ],
            },
        }

    def set_gpus(self, gpus: int) -> None:
        """Change the ClusterQueue's GPU quota (what an administrator would do)."""
        kube.server_side_apply(self.api, [self.cluster_queue(gpus)])

    def delete(self) -> None:
        # In the background: Kueue keeps them (finalizers) until their Workloads are gone,
        # which the namespace's deletion takes care of.
        kube.delete(self.api, kq.API_VERSION, "ClusterQueue", self.name)
        kube.delete(self.api, kq.API_VERSION, "ResourceFlavor", self.name)

    def workloads(self) -> list[dict[str, Any]]:
        return kube.list_objects(self.api, kq.API_VERSION, "Workload", self.namespace)

    def workload(self, job: str) -> dict[str, Any] | None:
        """The Workload Kueue made for Job ``job`` (it owns it)."""
        return next(
            (
                w
                for w in self.workloads()
                if any(
                    o["kind"] == "Job" and o["name"] == job
                    for o in w["metadata"].get("ownerReferences") or []
                )
            ),
            None,
        )

    def pending_message(self, job: str) -> str | None:
        """Kueue's own reason why Job ``job`` is not admitted: the message of its
        Workload's ``QuotaReserved=False`` condition."""
        cond = kube.condition(self.workload(job), "QuotaReserved")
        if cond is None or cond["status"] != "False" or not cond.get("message"):
            return None
        return str(cond["message"])


@pytest.fixture(scope="session")
def pool(k8s: client.ApiClient, kueue: kq.Kueue, gpu_nodes: list[str]) -> Iterator[list[str]]:
    """The session's node pool: one 8-GPU node labelled and tainted ``POOL_LABEL``.

    Returns the node names; their label value is ``<session prefix>-kueue``.
    """
    value = f"{SESSION_PREFIX}-kueue"
    names = nodes.add_gpu_nodes(
        k8s,
        1,
        prefix=f"{value}-gpu",
        labels={POOL_LABEL: value},
        extra_taints=[{"key": POOL_LABEL, "value": value, "effect": "NoSchedule"}],
    )
    yield names
    nodes.delete_nodes(k8s, names)


@pytest.fixture
def queues(k8s: client.ApiClient, namespace: str, pool: list[str]) -> Iterator[Queues]:
    """The test's queues, with a quota of 4 GPUs (the test may change it)."""
    made = Queues(k8s, namespace, f"{SESSION_PREFIX}-kueue")
    made.create(gpus=4)
    yield made
    made.delete()


@pytest.fixture
def high_priority(k8s: client.ApiClient, namespace: str) -> Iterator[str]:
    """A PriorityClass above the default (0); Kueue gives a run's Workload the priority of
    its pods' ``priorityClassName``. ``preemptionPolicy: Never``: Kueue preempts within the
    test's ClusterQueue, but the scheduler must never evict other sessions' pods for it."""
    name = f"{namespace[:50]}-high"
    scheduling = client.SchedulingV1Api(k8s)
    scheduling.create_priority_class(
        client.V1PriorityClass(
            metadata=client.V1ObjectMeta(name=name), value=1000, preemption_policy="Never"
        )
    )
    yield name
    scheduling.delete_priority_class(name)


def queued(**spec: Any) -> dict[str, Any]:
    """A run in the LocalQueue ``team``."""
    return {"queueName": QUEUE, **spec}


def job_of(tjs: TrainingJobs, name: str) -> Any:
    (job,) = tjs.jobs(name)
    return job


def time_of(status: dict[str, Any], field: str) -> datetime:
    return datetime.fromisoformat(status[field].replace("Z", "+00:00"))


def test_runs_beyond_quota_wait_for_kueue_and_are_admitted_in_order(
    tjs: TrainingJobs, queues: Queues, pool: list[str]
) -> None:
    # 4 GPUs of quota: "first" takes 2; "second" (4) does not fit until it ends; "third"
    # (2) would fit at once, but may not overtake "second".
    tjs.create(manifest("first", **queued(gpusPerNode=2), annotations={COMPLETE_DELAY: "8s"}))
    tjs.wait_phase("first", "Running")
    # Kueue orders a queue by the Workloads' creationTimestamp (whole seconds; a tie goes
    # by UID): third's must be made in a later second than second's.
    tjs.create(manifest("second", **queued(gpusPerNode=4), annotations={COMPLETE_DELAY: "5s"}))
    made = wait_for(lambda: queues.workload("second-a1"), 30, "the Workload of second-a1")
    created = time_of(made["metadata"], "creationTimestamp")
    wait_for(lambda: datetime.now(UTC) >= created + timedelta(seconds=1), 5, "the next second")
    tjs.create(manifest("third", **queued(gpusPerNode=2), annotations={COMPLETE_DELAY: "2s"}))
    wait_for(lambda: queues.workload("third-a1"), 30, "the Workload of third-a1")

    # Kueue's own reason, on the Workload of the run at the head of the queue.
    reason = wait_for(lambda: queues.pending_message("second-a1"), 30, "Kueue's reason")
    assert "insufficient unused quota" in reason
    assert GPU in reason
    for name in ("second", "third"):
        status = tjs.wait_phase(name, "Queued")
        assert status["attempts"] == 1
        queued_condition = tjs.condition(name, "Queued")
        assert queued_condition is not None
        assert queued_condition["status"] == "True"
        assert QUEUE in queued_condition["message"]
        assert job_of(tjs, name).spec.suspend is True
        assert not tjs.pods(name)
    assert tjs.status("first")["phase"] in ("Running", "Succeeded")

    # Quota frees in order: second when first ends, third when second ends.
    second = tjs.wait_phase("second", "Running", "Succeeded", timeout=60)
    assert tjs.status("third")["phase"] == "Queued", "third overtook second"
    third = tjs.wait_phase("third", "Running", "Succeeded", timeout=60)
    done = {n: tjs.wait_phase(n, "Succeeded", timeout=60) for n in ("first", "second", "third")}
    assert time_of(done["first"], "completionTime") <= time_of(second, "startTime")
    assert time_of(done["second"], "completionTime") <= time_of(third, "startTime")
    for name, status in done.items():
        assert status["attempts"] == 1, name
        assert "Restarting" not in tjs.reasons(name), name
        # Kueue put the flavor's node selector on the pods it admitted.
        assert {p.spec.node_name for p in tjs.pods(name)} <= set(pool), name


def test_a_queued_run_shows_kueues_reason(tjs: TrainingJobs, queues: Queues) -> None:
    tjs.create(manifest("big", **queued(nodes=1, gpusPerNode=8)))
    reason = wait_for(lambda: queues.pending_message("big-a1"), 30, "Kueue's reason")
    tjs.wait_phase("big", "Queued")
    wait_for(
        lambda: reason in ((tjs.condition("big", "Queued") or {}).get("message") or ""),
        15,
        f"Kueue's reason ({reason!r}) in the Queued condition",
    )


def test_a_run_preempted_by_kueue_goes_back_to_the_queue_without_losing_its_deadline(
    tjs: TrainingJobs, queues: Queues, high_priority: str
) -> None:
    # 40s of active time; it needs ~12s of it. Preempted early, it waits in the queue for
    # longer than the whole deadline: the waiting must not count.
    tjs.create(
        manifest(
            "low",
            **queued(gpusPerNode=4, activeDeadlineSeconds=40),
            annotations={COMPLETE_DELAY: "12s"},
        )
    )
    tjs.wait_phase("low", "Running")
    tjs.create(
        manifest(
            "high",
            **queued(gpusPerNode=4, priorityClassName=high_priority),
            annotations={COMPLETE_DELAY: "45s"},
        )
    )

    # Kueue preempts low: its Job is suspended again, its pods stop.
    evicted = tjs.wait_phase("low", "Queued", timeout=30)
    assert tjs.condition("low", "Queued")["reason"] == "Evicted"  # type: ignore[index]
    assert tjs.condition("low", "Running")["status"] == "False"  # type: ignore[index]
    assert evicted["attempts"] == 1
    assert tjs.condition("low", "Restarting") is None
    assert tjs.condition("low", "Failed") is None
    workload = queues.workload("low-a1")
    assert kube.has_condition(workload, "Preempted"), workload
    assert [j.metadata.name for j in tjs.jobs("low")] == ["low-a1"]
    job = job_of(tjs, "low")
    assert job.spec.suspend is True
    assert not job.status.failed, "the Job controller counted the stopped pods as failed"
    wait_for(lambda: "Evicted" in tjs.reasons("low"), 10, "an Evicted event")

    tjs.wait_phase("high", "Running", timeout=30)
    # Back in when high is done (45s), then 12s more: past 40s since low first started.
    back = tjs.wait_phase("low", "Running", timeout=90)
    assert tjs.condition("low", "Queued")["status"] == "False"  # type: ignore[index]
    done = tjs.wait_phase("low", "Succeeded", timeout=60)
    elapsed = time_of(done, "completionTime") - time_of(done, "startTime")
    assert elapsed.total_seconds() > 40, "the scenario must outlast the deadline"
    assert done["suspendedSeconds"] >= 30, done
    assert back["attempts"] == done["attempts"] == 1
    assert [j.metadata.name for j in tjs.jobs("low")] == ["low-a1"]
    assert "Restarting" not in tjs.reasons("low")
    assert tjs.wait_phase("high", "Succeeded", timeout=30)["attempts"] == 1


def test_a_multi_node_run_is_admitted_whole_or_not_at_all(
    tjs: TrainingJobs, queues: Queues
) -> None:
    # 2 nodes x 4 GPUs: 6 GPUs of quota would hold one node, but Kueue admits the Job as
    # one Workload, so no pod starts until all 8 fit.
    queues.set_gpus(6)
    tjs.create(
        manifest("pair", **queued(nodes=2, gpusPerNode=4), annotations={COMPLETE_DELAY: "6s"})
    )
    reason = wait_for(lambda: queues.pending_message("pair-a1"), 30, "Kueue's reason")
    # All 8 GPUs counted against the quota at once, not node by node.
    assert "current podset request (8) > maximum capacity (6)" in reason
    workload = queues.workload("pair-a1")
    assert [(p["name"], p["count"]) for p in workload["spec"]["podSets"]] == [("main", 2)]  # type: ignore[index]
    tjs.wait_phase("pair", "Queued")
    assert not tjs.pods("pair")
    assert job_of(tjs, "pair").status.active in (None, 0)

    queues.set_gpus(8)
    running = tjs.wait_phase("pair", "Running", timeout=60)
    assert running["nodes"]["ready"] == 2
    assert running["attempts"] == 1
    done = tjs.wait_phase("pair", "Succeeded", timeout=60)
    assert done["nodes"]["succeeded"] == 2


def test_deleting_a_queued_run_removes_its_workload(tjs: TrainingJobs, queues: Queues) -> None:
    tjs.create(manifest("waiting", **queued(gpusPerNode=8)))
    tjs.wait_phase("waiting", "Queued")
    wait_for(lambda: queues.workload("waiting-a1"), 30, "the Workload of waiting-a1")
    tjs.delete("waiting")
    wait_for(lambda: not queues.workload("waiting-a1"), 60, "the Workload gone")
    wait_for(lambda: not tjs.jobs("waiting"), 30, "the Job gone")
