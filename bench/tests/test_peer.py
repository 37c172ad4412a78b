"""The Kubeflow peer: its PyTorchJobs carry our pod, its progress and its request counts."""

from __future__ import annotations

from typing import Any

import yaml

from bench import workload
from bench.operator_run import delta, samples
from bench.peer import (
    CONTAINER,
    pod_progress,
    pytorchjob,
    pytorchjob_progress,
    requests_by_code,
    requests_by_verb,
    version,
)
from localcluster import kwok

METRICS_BEFORE = """
# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 12
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 4
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="PUT"} 3
"""
METRICS_AFTER = """
# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 15
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 2004
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="PUT"} 1503
rest_client_requests_total{code="409",host="127.0.0.1:6443",method="PUT"} 7
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="PATCH"} 1000
"""


def test_the_request_delta_is_counted_by_verb_and_by_code() -> None:
    metric = "rest_client_requests_total"
    counts = delta(samples(METRICS_BEFORE, metric), samples(METRICS_AFTER, metric))
    assert requests_by_verb(counts) == {
        "create": 2000,
        "get/list/watch": 3,
        "patch": 1000,
        "update": 1507,
    }
    assert requests_by_code(counts) == {"200": 2503, "201": 2000, "409": 7}


def test_the_pytorchjob_runs_our_operators_pod() -> None:
    body = pytorchjob("bench-0007", "120s")
    job = workload.job_of(workload.children("bench-0007", "x", "120s", workload.defaults()))
    ours = job["spec"]["template"]
    master = body["spec"]["pytorchReplicaSpecs"]["Master"]
    assert body["metadata"] == {"name": "bench-0007"}
    assert (body["apiVersion"], body["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert master["replicas"] == 1
    assert master["restartPolicy"] == "Never"
    pod = master["template"]["spec"]
    assert master["template"]["metadata"]["annotations"] == {kwok.COMPLETE_DELAY_ANNOTATION: "120s"}
    assert "restartPolicy" not in pod  # the replica's wins; a pod's own draws a warning
    assert pod["tolerations"] == ours["spec"]["tolerations"]
    assert pod["securityContext"] == ours["spec"]["securityContext"]
    (container,) = pod["containers"]
    trainer = ours["spec"]["containers"][0]
    assert container["name"] == CONTAINER
    assert container["image"] == trainer["image"] == workload.IMAGE
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert container["securityContext"] == trainer["securityContext"]
    assert "env" not in container  # the peer sets its own


def conditions(*true: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "j"},
        "status": {"conditions": [{"type": t, "status": "True"} for t in true]},
    }


def test_pytorchjob_milestones_follow_its_conditions() -> None:
    assert pytorchjob_progress({"metadata": {"name": "j"}}) == ("New", ["created"])
    assert pytorchjob_progress(conditions("Created")) == ("Created", ["created"])
    assert pytorchjob_progress(conditions("Created", "Running")) == (
        "Running",
        ["created", "running"],
    )
    # On success the training operator turns Running False: a Succeeded job was running.
    label, milestones = pytorchjob_progress(conditions("Created", "Succeeded"))
    assert (label, list(milestones)) == ("Succeeded", ["created", "running", "succeeded"])
    label, milestones = pytorchjob_progress(conditions("Created", "Failed"))
    assert (label, list(milestones)) == ("Failed", ["created", "failed"])
    running_false = {
        "metadata": {"name": "j"},
        "status": {"conditions": [{"type": "Running", "status": "False"}]},
    }
    assert pytorchjob_progress(running_false) == ("New", ["created"])


def pod(phase: str, ready: bool) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "labels": {"training.kubeflow.org/job-name": "j"}},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_pod_milestones() -> None:
    assert list(pod_progress(pod("Pending", False))[1]) == ["created"]
    assert list(pod_progress(pod("Running", False))[1]) == ["created"]
    assert list(pod_progress(pod("Running", True))[1]) == ["created", "running"]
    assert list(pod_progress(pod("Succeeded", False))[1]) == ["created", "running", "complete"]
    assert list(pod_progress(pod("Failed", False))[1]) == ["created", "failed"]


def test_the_pinned_version_comes_from_the_wrapper_module() -> None:
    assert version() == "v1.9.3"


def test_kwok_completes_the_peers_pods_as_it_completes_job_pods_and_no_others() -> None:
    stages = {s["metadata"]["name"]: s for s in yaml.safe_load_all(kwok.stages_text()) if s}
    selector = stages["pod-complete"]["spec"]["selector"]["matchExpressions"]
    owners = [e for e in selector if e["key"] == ".metadata.ownerReferences.[].kind"]
    assert owners == [
        {
            "key": ".metadata.ownerReferences.[].kind",
            "operator": "In",
            "values": ["Job", "PyTorchJob"],
        }
    ]
    delay = stages["pod-complete"]["spec"]["delay"]["durationFrom"]["expressionFrom"]
    assert kwok.COMPLETE_DELAY_ANNOTATION in delay
