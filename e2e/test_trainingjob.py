"""TrainingJob end to end: the operator as a process, the real control plane, KWOK pods.

Nothing here writes the status of a Job or pod: the real Job controller and scheduler
move them, KWOK plays the kubelet, and each test asserts what a user would see with
kubectl — phase, conditions, Events, the Jobs and pods themselves.
"""

from __future__ import annotations

import re

from e2e.operator_process import OperatorProcess
from e2e.trainingjobs import COMPLETE_DELAY, FAIL_DELAY, FAIL_EXIT_CODE, TrainingJobs, manifest
from localcluster.waiting import wait_for
from mlops_operator.api.keys import ATTEMPT_LABEL, TRAININGJOB_LABEL


def env_of(pod: object) -> dict[str, object]:
    container = pod.spec.containers[0]  # type: ignore[attr-defined]
    return {
        e.name: e.value if e.value is not None else e.value_from.field_ref.field_path
        for e in container.env
    }


def test_pytorch_2x4_run_lands_on_gpu_nodes_and_reports_its_model(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    tjs.create(
        manifest(
            "ddp",
            framework="pytorch",
            nodes=2,
            gpusPerNode=4,
            dataset={"uri": "s3://data/imagenet", "version": "v3"},
            hyperparameters={"learning-rate": "0.1"},
            output={"modelUri": "s3://models/ddp"},
            checkpoint={"uri": "s3://ckpt/ddp"},
            annotations={COMPLETE_DELAY: "3s"},
        )
    )
    running = tjs.wait_phase("ddp", "Running", "Succeeded")
    pods = tjs.pods("ddp")
    assert len(pods) == 2
    assert {p.spec.node_name for p in pods} <= set(gpu_nodes)
    for pod in pods:
        limits = pod.spec.containers[0].resources.limits
        assert limits["nvidia.com/gpu"] == "4"
        env = env_of(pod)
        assert env["MASTER_ADDR"] == "ddp-a1-0.ddp-nodes"
        assert env["MASTER_PORT"] == "29500"
        assert env["WORLD_SIZE"] == "8"
        assert env["PET_NNODES"] == "2"
        assert env["PET_NPROC_PER_NODE"] == "4"
        index_field = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        assert env["NODE_RANK"] == env["PET_NODE_RANK"] == env["RANK"] == index_field
        assert env["DATASET_URI"] == "s3://data/imagenet"
        assert env["CHECKPOINT_URI"] == "s3://ckpt/ddp"
        assert env["HP_LEARNING_RATE"] == "0.1"
        assert pod.spec.subdomain == "ddp-nodes"
        assert pod.spec.security_context.run_as_non_root is True
    assert sorted(
        p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in pods
    ) == ["0", "1"]
    assert running["attempts"] == 1

    done = tjs.wait_phase("ddp", "Succeeded")
    assert done["model"] == {"uri": "s3://models/ddp"}
    assert done["nodes"]["succeeded"] == 2
    assert done["startTime"] <= done["completionTime"]
    assert tjs.condition("ddp", "Succeeded")["status"] == "True"
    assert tjs.core.read_namespaced_service("ddp-nodes", tjs.namespace).spec.cluster_ip == "None"
    wait_for(lambda: "Succeeded" in tjs.reasons("ddp"), 10, "a Succeeded event")


def test_run_needing_more_gpus_than_any_node_has_waits_with_a_clear_message(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    tjs.create(manifest("huge", gpusPerNode=64))
    running = wait_for(
        lambda: (c := tjs.condition("huge", "Running")) and c["reason"] == "Unschedulable" and c,
        60,
        "Running=False with reason Unschedulable",
    )
    assert running["status"] == "False"
    assert "Insufficient nvidia.com/gpu" in running["message"]
    assert tjs.status("huge")["phase"] == "Pending"


def test_a_failed_worker_restarts_the_whole_run_then_it_fails_when_attempts_run_out(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    tjs.create(
        manifest(
            "flaky",
            nodes=2,
            gpusPerNode=1,
            backoffLimit=1,
            checkpoint={"uri": "s3://ckpt/flaky"},
            annotations={FAIL_EXIT_CODE: "3", FAIL_DELAY: "1s"},
        )
    )
    failed = tjs.wait_phase("flaky", "Failed", timeout=90)
    assert failed["attempts"] == 2
    assert [j.metadata.name for j in tjs.jobs("flaky")] == ["flaky-a1", "flaky-a2"]
    condition = tjs.condition("flaky", "Failed")
    assert condition["reason"] == "BackoffLimitExceeded"
    assert "failed with exit code 3" in condition["message"]  # the Job controller's words
    reasons = wait_for(
        lambda: (r := tjs.reasons("flaky")).count("BackoffLimitExceeded") and r,
        10,
        "a BackoffLimitExceeded event",
    )
    assert "Restarting" in reasons
    restart = next(e for e in tjs.events("flaky") if e.reason == "Restarting")
    assert "attempt 1 failed" in restart.message
    assert "from checkpoint s3://ckpt/flaky" in restart.message
    # The second attempt got the same checkpoint location.
    attempt2 = [p for p in tjs.pods("flaky") if p.metadata.labels[ATTEMPT_LABEL] == "2"]
    assert attempt2
    assert all(env_of(p)["CHECKPOINT_URI"] == "s3://ckpt/flaky" for p in attempt2)


def test_a_worker_lost_mid_run_restarts_the_whole_run_which_then_succeeds(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    tjs.create(
        manifest(
            "resilient",
            nodes=2,
            gpusPerNode=1,
            backoffLimit=2,
            output={"modelUri": "s3://models/resilient"},
            annotations={COMPLETE_DELAY: "6s"},
        )
    )
    tjs.wait_phase("resilient", "Running")
    # A worker dies as when its node is lost: KWOK terminates the pod (exit 143), the
    # real Job controller fails the attempt, and the operator starts the next one.
    worker = next(
        p
        for p in tjs.pods("resilient")
        if p.metadata.annotations["batch.kubernetes.io/job-completion-index"] == "1"
    )
    tjs.core.delete_namespaced_pod(worker.metadata.name, tjs.namespace)

    done = tjs.wait_phase("resilient", "Succeeded", timeout=60)
    assert done["attempts"] == 2
    assert done["model"] == {"uri": "s3://models/resilient"}
    jobs = tjs.jobs("resilient")
    assert [j.metadata.name for j in jobs] == ["resilient-a1", "resilient-a2"]
    assert any(c.type == "Failed" and c.status == "True" for c in jobs[0].status.conditions)
    restart = wait_for(
        lambda: next((e for e in tjs.events("resilient") if e.reason == "Restarting"), None),
        10,
        "a Restarting event",
    )
    assert "attempt 1 failed" in restart.message
    assert f"{worker.metadata.name} failed with exit code 143" in restart.message
    assert "starting attempt 2 of 3" in restart.message
    assert tjs.condition("resilient", "Restarting")["status"] == "False"


def test_with_backoff_limit_zero_one_failure_fails_the_run(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    tjs.create(manifest("once", gpusPerNode=1, annotations={FAIL_EXIT_CODE: "1"}))
    failed = tjs.wait_phase("once", "Failed")
    assert failed["attempts"] == 1
    assert len(tjs.jobs("once")) == 1
    assert tjs.condition("once", "Failed")["reason"] == "BackoffLimitExceeded"


def test_suspend_stops_the_pods_and_resume_finishes_the_run(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    tjs.create(manifest("pausable", gpusPerNode=1, annotations={COMPLETE_DELAY: "6s"}))
    tjs.wait_phase("pausable", "Running")
    tjs.patch_spec("pausable", {"suspend": True})
    tjs.wait_phase("pausable", "Suspended")
    wait_for(
        lambda: not [p for p in tjs.pods("pausable") if p.metadata.deletion_timestamp is None],
        30,
        "the pods of a suspended run to go away",
    )
    assert tjs.condition("pausable", "Suspended")["status"] == "True"
    assert tjs.jobs("pausable")[0].spec.suspend is True

    tjs.patch_spec("pausable", {"suspend": False})
    done = tjs.wait_phase("pausable", "Succeeded", timeout=60)
    assert done["attempts"] == 1  # resuming is not a restart
    assert tjs.condition("pausable", "Suspended")["status"] == "False"
    assert {"Suspended", "Resumed"} <= set(tjs.reasons("pausable"))
    # One generic node meets no one: no headless Service was ever made for it.
    assert not tjs.core.list_namespaced_service(
        tjs.namespace, label_selector=f"{TRAININGJOB_LABEL}=pausable"
    ).items


def test_active_deadline_fails_the_run_on_time(tjs: TrainingJobs, gpu_nodes: list[str]) -> None:
    tjs.create(
        manifest(
            "slow", gpusPerNode=1, activeDeadlineSeconds=4, annotations={COMPLETE_DELAY: "120s"}
        )
    )
    tjs.wait_phase("slow", "Running")
    failed = tjs.wait_phase("slow", "Failed", timeout=20)
    assert tjs.condition("slow", "Failed")["reason"] == "DeadlineExceeded"
    # Measured from the run's start: on time, give or take the Job controller's sync.
    started, ended = failed["startTime"], failed["completionTime"]
    assert started < ended
    wait_for(
        lambda: not [p for p in tjs.pods("slow") if p.status.phase == "Running"],
        30,
        "the pods of the expired run to stop",
    )


def test_ttl_deletes_the_finished_run_and_its_children(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    tjs.create(manifest("shortlived", gpusPerNode=1, ttlSecondsAfterFinished=2))
    tjs.wait_phase("shortlived", "Succeeded")
    wait_for(lambda: not tjs.exists("shortlived"), 15, "the TrainingJob to be deleted")
    wait_for(lambda: not tjs.jobs("shortlived"), 30, "its Jobs to be garbage-collected")


def test_deleting_a_run_removes_its_children(tjs: TrainingJobs, gpu_nodes: list[str]) -> None:
    # pytorch: a run with a rendezvous, so it has a Service to be collected too.
    tjs.create(
        manifest("doomed", framework="pytorch", gpusPerNode=1, annotations={COMPLETE_DELAY: "120s"})
    )
    tjs.wait_phase("doomed", "Running")
    tjs.delete("doomed")
    wait_for(
        lambda: not tjs.jobs("doomed") and not tjs.pods("doomed"),
        30,
        "Jobs and pods of the deleted run to be garbage-collected",
    )
    wait_for(
        lambda: (
            not tjs.core.list_namespaced_service(
                tjs.namespace, label_selector=f"{TRAININGJOB_LABEL}=doomed"
            ).items
        ),
        30,
        "its Service to be garbage-collected",
    )


def test_queue_name_hands_the_job_to_kueue_and_shows_queued(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    # No Kueue runs here, so the run stays queued: exactly what a user sees until Kueue
    # admits it. (Admission itself is Kueue's to test.)
    tjs.create(manifest("queued", gpusPerNode=1, queueName="team-a"))
    status = tjs.wait_phase("queued", "Queued")
    assert tjs.condition("queued", "Queued")["status"] == "True"
    assert "team-a" in tjs.condition("queued", "Queued")["message"]
    assert status["attempts"] == 1
    job = tjs.jobs("queued")[0]
    assert job.spec.suspend is True
    assert job.metadata.labels["kueue.x-k8s.io/queue-name"] == "team-a"
    assert not tjs.pods("queued")


def test_a_child_the_api_server_refuses_fails_the_run_as_invalid_spec(
    tjs: TrainingJobs, gpu_nodes: list[str]
) -> None:
    # podTemplate.spec passes through the CRD schema; the Job's validation refuses it.
    tjs.create(manifest("broken", podTemplate={"spec": {"restartPolicy": "Sometimes"}}))
    tjs.wait_phase("broken", "Failed")
    condition = tjs.condition("broken", "Failed")
    assert condition["reason"] == "InvalidSpec"
    assert "restartPolicy" in condition["message"]
    wait_for(lambda: "InvalidSpec" in tjs.reasons("broken"), 10, "an InvalidSpec event")


def test_killing_the_operator_mid_flight_loses_nothing_and_duplicates_nothing(
    tjs: TrainingJobs, operator: OperatorProcess, gpu_nodes: list[str]
) -> None:
    names = [f"burst-{i}" for i in range(12)]
    for name in names:
        tjs.create(manifest(name, gpusPerNode=1, annotations={COMPLETE_DELAY: "4s"}))
    # Kill it while it is creating children and writing status.
    wait_for(lambda: any(tjs.jobs(n) for n in names), 30, "the first Job")
    operator.kill()
    operator.start()
    for name in names:
        done = tjs.wait_phase(name, "Succeeded", timeout=90)
        assert done["attempts"] == 1
        assert [j.metadata.name for j in tjs.jobs(name)] == [f"{name}-a1"]
        created = [e for e in tjs.events(name) if e.reason == "Created"]
        assert len(created) <= 1  # a restart never repeats a creation
    # Its metrics count what it did after the restart.
    assert re.search(
        r'mlops_operator_reconcile_total\{controller="trainingjob"', operator.metrics()
    )
