"""The reconcile machinery's promises, seen from outside: ownership by uid, names that are
not ours, and two replicas of which exactly one acts."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from e2e.operator_process import OperatorProcess
from e2e.trainingjobs import COMPLETE_DELAY, TrainingJobs, manifest
from localcluster.waiting import wait_for


def job_owner_uids(tjs: TrainingJobs, name: str) -> list[str]:
    return [
        ref.uid
        for job in tjs.jobs(name)
        for ref in job.metadata.owner_references or ()
        if ref.controller
    ]


def test_a_run_applied_again_after_deletion_mid_run_starts_on_its_own(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    body = manifest("again", gpusPerNode=1, annotations={COMPLETE_DELAY: "600s"})
    old = tjs.create(body)
    tjs.wait_phase("again", "Running")
    tjs.delete("again")  # as a GitOps tool does before it applies the run again
    wait_for(lambda: not tjs.exists("again"), 30, "the run to be gone")
    new = tjs.create(manifest("again", gpusPerNode=1, annotations={COMPLETE_DELAY: "600s"}))
    new_uid = new["metadata"]["uid"]
    assert new_uid != old["metadata"]["uid"]
    status = tjs.wait_phase("again", "Running", timeout=90)
    assert status["attempts"] == 1
    assert "completionTime" not in status
    # Its Job is its own, not the deleted run's.
    wait_for(lambda: job_owner_uids(tjs, "again") == [new_uid], 60, "only the new run's Job")


def test_a_run_applied_again_after_success_does_not_inherit_the_old_result(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    spec: dict[str, Any] = {"gpusPerNode": 1, "output": {"modelUri": "s3://m/old"}}
    tjs.create(manifest("redo", annotations={COMPLETE_DELAY: "1s"}, **spec))
    done = tjs.wait_phase("redo", "Succeeded", timeout=60)
    assert done["model"]["uri"] == "s3://m/old"
    tjs.delete("redo")
    wait_for(lambda: not tjs.exists("redo"), 30, "the run to be gone")
    spec["output"] = {"modelUri": "s3://m/new"}
    new = tjs.create(manifest("redo", annotations={COMPLETE_DELAY: "20s"}, **spec))
    # Right after creation it must not claim success (the old Job may still be there).
    time.sleep(3)
    early = tjs.get("redo").get("status") or {}
    assert early.get("phase") != "Succeeded", early
    done = tjs.wait_phase("redo", "Succeeded", timeout=90)
    assert done["model"]["uri"] == "s3://m/new"
    assert job_owner_uids(tjs, "redo") == [new["metadata"]["uid"]]


def test_a_child_name_held_by_someone_else_is_never_adopted(
    tjs: TrainingJobs, k8s: client.ApiClient, gpu_nodes: list[str]
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_service(
        tjs.namespace,
        {
            "metadata": {"name": "taken-nodes"},
            "spec": {"clusterIP": "None", "selector": {"app": "someone-else"}},
        },
    )
    tjs.create(manifest("taken", framework="pytorch", gpusPerNode=1))  # it needs its Service
    status = tjs.wait_phase("taken", "Failed", timeout=60)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "InvalidSpec"
    assert (
        "Service taken-nodes already exists and is not owned by this TrainingJob"
        in (failed["message"])
    )
    service = core.read_namespaced_service("taken-nodes", tjs.namespace)
    assert not service.metadata.owner_references  # not adopted
    assert service.spec.selector == {"app": "someone-else"}
    assert "InvalidSpec" in tjs.reasons("taken")


def test_two_replicas_one_acts_and_hand_over_on_stop_and_on_kill(
    k8s: client.ApiClient, replicas: Any, gpu_nodes: list[str], tmp_path: Path
) -> None:
    core = client.CoreV1Api(k8s)
    namespace = f"ha-{int(time.time())}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        tjs = TrainingJobs(k8s, namespace)
        a = replicas("a", namespace)
        b = replicas("b", namespace)
        for i in range(6):
            tjs.create(
                manifest(
                    f"ha-{i}",
                    gpusPerNode=1,
                    activeDeadlineSeconds=600,
                    annotations={COMPLETE_DELAY: "25s"},
                )
            )
        for i in range(6):
            tjs.wait_phase(f"ha-{i}", "Running", timeout=90)
        leader = a if "leading" in Path(a.log_path).read_text() else b
        other = b if leader is a else a
        assert "leading" not in Path(other.log_path).read_text()
        leader.stop()  # a rolling update: the Lease is released, the other takes over
        wait_for(lambda: "leading" in Path(other.log_path).read_text(), 20, "hand-over")
        tjs.create(manifest("ha-late", gpusPerNode=1, annotations={COMPLETE_DELAY: "5s"}))
        tjs.wait_phase("ha-late", "Running", timeout=60)
        other.kill()  # a node dies: the next replica waits out the Lease, then acts
        c = replicas("c", namespace)
        for i in range(6):
            tjs.wait_phase(f"ha-{i}", "Succeeded", timeout=120)
        tjs.wait_phase("ha-late", "Succeeded", timeout=60)
        assert "leading" in Path(c.log_path).read_text()
        for name in [f"ha-{i}" for i in range(6)] + ["ha-late"]:
            status = tjs.status(name)
            assert status["attempts"] == 1, (name, status)
            assert len(tjs.jobs(name)) == 1, name
            failed = [c for c in status["conditions"] if c["type"] == "Failed"]
            assert not failed, (name, failed)
            restarts = [r for r in tjs.reasons(name) if r in ("Restarting", "DeadlineExceeded")]
            assert not restarts, (name, restarts)
    finally:
        core.delete_namespace(namespace)


def test_pods_the_job_controller_cannot_create_are_explained_in_status(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    # What a new user meets with an example that names a ServiceAccount the fresh
    # namespace does not have: the Job controller's FailedCreate Event, in our status.
    tjs.create(manifest("nosa", gpusPerNode=1, serviceAccountName="trainer"))

    def explained() -> dict[str, Any] | None:
        running = tjs.condition("nosa", "Running")
        return running if running and running["reason"] == "FailedCreate" else None

    wait_for(explained, 60, "FailedCreate in the Running condition")
    running = explained()
    assert running is not None
    assert 'serviceaccount "trainer" not found' in running["message"]
    assert "FailedCreate" in tjs.reasons("nosa")


def test_a_child_refused_by_a_quota_shows_in_status_and_is_retried(
    tjs: TrainingJobs, k8s: client.ApiClient, gpu_nodes: list[str]
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_resource_quota(
        tjs.namespace,
        {"metadata": {"name": "no-jobs"}, "spec": {"hard": {"count/jobs.batch": "0"}}},
    )
    tjs.create(manifest("quota", gpusPerNode=1, annotations={COMPLETE_DELAY: "1s"}))

    def refused() -> dict[str, Any] | None:
        running = tjs.condition("quota", "Running")
        return running if running and running["reason"] == "WriteFailed" else None

    wait_for(refused, 60, "the quota refusal in the Running condition")
    running = refused()
    assert running is not None
    assert "exceeded quota" in running["message"]
    core.delete_namespaced_resource_quota("no-jobs", tjs.namespace)
    # Retried with backoff: once the quota is gone the run goes on by itself.
    done = tjs.wait_phase("quota", "Succeeded", timeout=120)
    assert done["attempts"] == 1


def test_a_huge_unschedulable_run_costs_a_few_bounded_pod_reads(
    tjs: TrainingJobs, operator: OperatorProcess, gpu_nodes: list[str]
) -> None:
    def pod_lists() -> float:
        pattern = (
            r'mlops_operator_kube_requests_total\{verb="list",resource="pods",code="200"\} (\S+)'
        )
        found = re.search(pattern, operator.metrics())
        return float(found.group(1)) if found else 0.0

    before = pod_lists()
    tjs.create(manifest("huge", nodes=40, gpusPerNode=16))  # no node has 16 GPUs
    status = tjs.wait_phase("huge", "Pending", timeout=30)

    def says_why() -> bool:
        running = tjs.condition("huge", "Running")
        return bool(running and running["reason"] == "Unschedulable")

    wait_for(says_why, 60, "the scheduler's reason in status")
    time.sleep(15)  # child events keep waking it; reads stay once per re-check interval
    assert pod_lists() - before <= 2, status
