"""The reconcile machinery's promises, seen from outside: ownership by uid, names that are
not ours, and two replicas of which exactly one acts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
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
            "metadata": {"name": "taken"},
            "spec": {"clusterIP": "None", "selector": {"app": "someone-else"}},
        },
    )
    tjs.create(manifest("taken", gpusPerNode=1))
    status = tjs.wait_phase("taken", "Failed", timeout=60)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "InvalidSpec"
    assert (
        "Service taken already exists and is not owned by this TrainingJob" in (failed["message"])
    )
    service = core.read_namespaced_service("taken", tjs.namespace)
    assert not service.metadata.owner_references  # not adopted
    assert service.spec.selector == {"app": "someone-else"}
    assert "InvalidSpec" in tjs.reasons("taken")


@pytest.fixture
def replicas(kubeconfig: str, crds: list[str], tmp_path: Path, operator: OperatorProcess) -> Any:
    """Operator replicas electing a leader on one Lease. The session's operator serves all
    namespaces, so it is stopped meanwhile (and started again after): only the replicas act.
    """
    assert operator.stop() == 0
    started: list[OperatorProcess] = []

    def start(name: str, namespace: str) -> OperatorProcess:
        process = OperatorProcess(
            kubeconfig,
            tmp_path / f"{name}.log",
            "--namespace",
            namespace,
            "--leader-election",
            "mlops-e2e",
            "--lease-namespace",
            namespace,
        )
        process.start()
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()


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
