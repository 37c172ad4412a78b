"""The local cluster is a real cluster: real scheduler, real controllers, KWOK kubelet.

Every outcome asserted here is produced by the control plane or by KWOK; the tests
only create and delete objects and never write a Job, Pod or Deployment status. If one
of these fails, the operator's integration tests cannot be trusted either.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from localcluster import kube, kwok
from localcluster.nodes import GPU_RESOURCE, GPU_TOLERATION, add_gpu_nodes, delete_nodes
from localcluster.ports import free_ports
from localcluster.prometheus import PrometheusServer
from localcluster.waiting import wait_for

TIMEOUT = 60.0
IMAGE = "registry.example/trainer:1.0"  # never pulled: KWOK runs no containers


def job_manifest(
    name: str,
    annotations: dict[str, str] | None = None,
    gpus: int = 0,
    completions: int = 1,
    backoff_limit: int = 6,
    indexed: bool = False,
    ttl_seconds: int | None = None,
) -> dict[str, Any]:
    """A Job whose pods (optionally) need GPUs and tolerate the GPU taint."""
    container: dict[str, Any] = {"name": "trainer", "image": IMAGE}
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if gpus:
        container["resources"] = {"limits": {GPU_RESOURCE: str(gpus)}}
        pod_spec["tolerations"] = [GPU_TOLERATION]
    spec: dict[str, Any] = {
        "completions": completions,
        "parallelism": completions,
        "backoffLimit": backoff_limit,
        "template": {"metadata": {"annotations": annotations or {}}, "spec": pod_spec},
    }
    if indexed:
        spec["completionMode"] = "Indexed"
    if ttl_seconds is not None:
        spec["ttlSecondsAfterFinished"] = ttl_seconds
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def deployment_manifest(name: str, replicas: int) -> dict[str, Any]:
    """A Deployment of ``replicas`` long-running server pods."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "server", "image": IMAGE}]},
            },
        },
    }


def get_job(k8s: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The Job, or None once it is gone."""
    return kube.get(k8s, "batch/v1", "Job", name, namespace)


def job_pods(k8s: client.ApiClient, namespace: str, job: str) -> list[dict[str, Any]]:
    """The pods the Job controller created for ``job``."""
    selector = f"batch.kubernetes.io/job-name={job}"
    return kube.list_objects(k8s, "v1", "Pod", namespace, label_selector=selector)


def wait_job_condition(k8s: client.ApiClient, namespace: str, name: str, kind: str) -> None:
    """Wait until the Job controller sets condition ``kind`` (Complete, Failed)."""
    wait_for(
        lambda: kube.has_condition(get_job(k8s, namespace, name), kind),
        TIMEOUT,
        f"Job {name} {kind}",
    )


def terminated_state(pod: dict[str, Any]) -> dict[str, Any]:
    """The terminated state of the pod's (only) container."""
    state: dict[str, Any] = pod["status"]["containerStatuses"][0]["state"]
    assert "terminated" in state, state
    terminated: dict[str, Any] = state["terminated"]
    return terminated


def run_seconds(terminated: dict[str, Any]) -> float:
    """How long the container "ran" (API timestamps have one-second resolution)."""
    started = dt.datetime.fromisoformat(terminated["startedAt"])
    finished = dt.datetime.fromisoformat(terminated["finishedAt"])
    return (finished - started).total_seconds()


def test_indexed_gpu_job_is_scheduled_run_and_completed(
    k8s: client.ApiClient, namespace: str, gpu_nodes: list[str]
) -> None:
    """(a) The scheduler places GPU pods on GPU nodes, KWOK completes them after the
    annotated delay, the Job controller marks the Job Complete."""
    manifest = job_manifest(
        "train",
        annotations={kwok.COMPLETE_DELAY_ANNOTATION: "3s"},
        gpus=4,
        completions=2,
        indexed=True,
    )
    kube.create(k8s, manifest, namespace)

    wait_job_condition(k8s, namespace, "train", "Complete")
    job = get_job(k8s, namespace, "train")
    assert job is not None
    assert job["status"]["succeeded"] == 2

    pods = job_pods(k8s, namespace, "train")
    indexes = {
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods
    }
    assert indexes == {"0", "1"}
    for pod in pods:
        assert pod["spec"]["nodeName"] in gpu_nodes
        assert pod["status"]["phase"] == "Succeeded"
        terminated = terminated_state(pod)
        assert terminated["exitCode"] == 0
        assert terminated["reason"] == "Completed"
        # The delay annotation held the pod Running for ~3s.
        assert run_seconds(terminated) >= 2


def test_pod_needing_more_gpus_than_any_node_stays_unschedulable(
    k8s: client.ApiClient, namespace: str, gpu_nodes: list[str]
) -> None:
    """(b) The scheduler does real GPU accounting: one more GPU than the biggest node
    has fits nowhere, and the pod says so."""
    nodes = kube.list_objects(k8s, "v1", "Node")
    most = max(int(n["status"]["allocatable"].get(GPU_RESOURCE, "0")) for n in nodes)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "too-big"},
        "spec": {
            "tolerations": [GPU_TOLERATION],
            "containers": [
                {
                    "name": "trainer",
                    "image": IMAGE,
                    "resources": {"limits": {GPU_RESOURCE: str(most + 1)}},
                }
            ],
        },
    }
    kube.create(k8s, pod, namespace)

    def unschedulable() -> dict[str, Any] | None:
        current = kube.get(k8s, "v1", "Pod", "too-big", namespace)
        cond = kube.condition(current, "PodScheduled")
        return cond if cond and cond["status"] == "False" else None

    cond = wait_for(unschedulable, TIMEOUT, "pod too-big marked unschedulable")
    assert cond["reason"] == "Unschedulable"
    assert f"Insufficient {GPU_RESOURCE}" in cond["message"]
    current = kube.get(k8s, "v1", "Pod", "too-big", namespace)
    assert current is not None
    assert current["status"]["phase"] == "Pending"
    assert "nodeName" not in current["spec"]


def test_deleting_an_owner_garbage_collects_its_dependents(
    k8s: client.ApiClient, namespace: str
) -> None:
    """(c) The garbage collector follows ownerReferences (ConfigMap -> ConfigMap,
    Job -> pods), and KWOK terminates and removes the running pods being deleted."""
    owner = kube.create(
        k8s, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace
    )
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "child", "ownerReferences": [ref]},
    }
    kube.create(k8s, child, namespace)
    # Pods that would run for an hour: only the garbage collector can end them.
    long_job = job_manifest(
        "long", annotations={kwok.COMPLETE_DELAY_ANNOTATION: "1h"}, completions=2
    )
    kube.create(k8s, long_job, namespace)

    def both_running() -> bool:
        pods = job_pods(k8s, namespace, "long")
        return len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)

    wait_for(both_running, TIMEOUT, "both pods of Job long Running")

    kube.delete(k8s, "v1", "ConfigMap", "owner", namespace)
    kube.delete(k8s, "batch/v1", "Job", "long", namespace)

    wait_for(
        lambda: kube.get(k8s, "v1", "ConfigMap", "child", namespace) is None,
        TIMEOUT,
        "ConfigMap child garbage-collected",
    )
    wait_for(lambda: not job_pods(k8s, namespace, "long"), TIMEOUT, "pods of Job long gone")


def test_failure_stage_fails_the_pod_and_the_job(k8s: client.ApiClient, namespace: str) -> None:
    """(d) A pod annotated with an exit code fails with it after the annotated delay;
    with backoffLimit 0 the Job controller marks the Job Failed."""
    annotations = {kwok.FAIL_EXIT_CODE_ANNOTATION: "3", kwok.FAIL_DELAY_ANNOTATION: "2s"}
    kube.create(k8s, job_manifest("crash", annotations=annotations, backoff_limit=0), namespace)

    wait_job_condition(k8s, namespace, "crash", "Failed")
    job = get_job(k8s, namespace, "crash")
    failed = kube.condition(job, "Failed")
    assert job is not None
    assert failed is not None
    assert failed["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 1
    assert not job["status"].get("succeeded")

    (pod,) = job_pods(k8s, namespace, "crash")
    assert pod["status"]["phase"] == "Failed"
    terminated = terminated_state(pod)
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    assert run_seconds(terminated) >= 1


def test_deployment_pods_become_ready_and_keep_running(
    k8s: client.ApiClient, namespace: str
) -> None:
    """(e) Deployment -> ReplicaSet -> pods Ready; not being Job-owned, they never finish.

    "Keep running" is checked against a clock the cluster provides rather than a sleep:
    a Job started after the Deployment is ready must complete (which takes KWOK's
    default completion delay) while the Deployment's pods stay the same Running pods.
    """
    kube.create(k8s, deployment_manifest("serving", 2), namespace)

    def available() -> bool:
        dep = kube.get(k8s, "apps/v1", "Deployment", "serving", namespace) or {}
        status = dep.get("status", {})
        return bool(status.get("availableReplicas") == 2 and status.get("readyReplicas") == 2)

    wait_for(available, TIMEOUT, "Deployment serving has 2 available replicas")

    def serving_pods() -> dict[str, dict[str, Any]]:
        pods = kube.list_objects(k8s, "v1", "Pod", namespace, label_selector="app=serving")
        return {p["metadata"]["uid"]: p for p in pods}

    before = serving_pods()
    assert len(before) == 2
    for pod in before.values():
        assert pod["status"]["phase"] == "Running"
        assert kube.has_condition(pod, "Ready")
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"

    kube.create(k8s, job_manifest("tick"), namespace)
    wait_job_condition(k8s, namespace, "tick", "Complete")

    after = serving_pods()
    assert after.keys() == before.keys()
    for pod in after.values():
        assert pod["status"]["phase"] == "Running"
        status = pod["status"]["containerStatuses"][0]
        assert status["restartCount"] == 0
        assert "running" in status["state"]


@pytest.fixture
def exporter(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A tiny prometheus_client exporter on loopback: (address, its ``test`` label).

    The label is unique per run: other sessions may share the cluster's Prometheus.
    """
    registry = CollectorRegistry()
    label = f"{request.node.name}-{secrets.token_hex(3)}"
    gauge = Gauge("realism_answer", "A value the test expects back", ["test"], registry=registry)
    gauge.labels(test=label).set(42.5)
    (port,) = free_ports(1)
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}", label
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_prometheus_scrapes_an_exporter_started_by_the_test(
    prometheus: PrometheusServer, exporter: tuple[str, str]
) -> None:
    """(f) file_sd picks the target up at runtime; the query returns the exporter's value."""
    address, label = exporter
    prometheus.add_target(address, {"suite": "realism"})
    try:
        promql = f'realism_answer{{test="{label}", suite="realism"}}'
        result = wait_for(lambda: prometheus.query(promql), TIMEOUT, f"query {promql}")
        assert len(result) == 1
        assert float(result[0]["value"][1]) == 42.5
        assert result[0]["metric"]["instance"] == address
        up = prometheus.query(f'up{{instance="{address}"}}')
        assert float(up[0]["value"][1]) == 1.0
    finally:
        prometheus.remove_target(address)


def test_ttl_after_finished_controller_deletes_finished_jobs(
    k8s: client.ApiClient, namespace: str
) -> None:
    """The ttl-after-finished controller deletes a finished Job (and GC its pods)."""
    kube.create(k8s, job_manifest("ephemeral", ttl_seconds=0), namespace)
    wait_for(
        lambda: get_job(k8s, namespace, "ephemeral") is None,
        TIMEOUT,
        "Job ephemeral deleted after finishing",
    )
    wait_for(lambda: not job_pods(k8s, namespace, "ephemeral"), TIMEOUT, "its pods gone")


def test_namespace_controller_empties_and_removes_a_namespace(k8s: client.ApiClient) -> None:
    """Deleting a namespace with running pods completes: the namespace controller
    deletes its content, KWOK terminates the pods, the namespace disappears."""
    name = f"realism-ns-{secrets.token_hex(3)}"
    kube.create(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(
        lambda: kube.get(k8s, "v1", "ServiceAccount", "default", name),
        TIMEOUT,
        f"service account default in {name}",
    )
    kube.create(k8s, deployment_manifest("doomed", 2), name)
    wait_for(
        lambda: len(kube.list_objects(k8s, "v1", "Pod", name, label_selector="app=doomed")) == 2,
        TIMEOUT,
        "2 pods of Deployment doomed",
    )
    kube.delete(k8s, "v1", "Namespace", name)
    wait_for(
        lambda: kube.get(k8s, "v1", "Namespace", name) is None,
        TIMEOUT,
        f"namespace {name} gone",
    )


def test_apply_crds_establishes_and_serves_custom_resources(
    k8s: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    """The CRD helper behind the ``crds`` fixture: server-side apply, Established,
    custom resources can be created."""
    plural = f"widgets{secrets.token_hex(3)}"
    group = "realism.localcluster.test"
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget" + plural[7:]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    (tmp_path / "widget.yaml").write_text(yaml.safe_dump(crd))
    try:
        names = kube.apply_crds(k8s, tmp_path)
        assert names == [f"{plural}.{group}"]
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": crd["spec"]["names"]["kind"],
            "metadata": {"name": "w"},
            "spec": {"size": 3},
        }
        created = kube.create(k8s, widget, namespace)
        assert created["spec"] == {"size": 3}
    finally:
        kube.delete(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"{plural}.{group}")


def test_crds_fixture_returns_established_crds(k8s: client.ApiClient, crds: list[str]) -> None:
    """Whatever crds/ holds (maybe nothing yet) is applied and Established."""
    for name in crds:
        crd = kube.get(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        assert kube.has_condition(crd, "Established"), name


def test_add_gpu_nodes_adds_schedulable_gpu_capacity(k8s: client.ApiClient, namespace: str) -> None:
    """More fake GPU nodes can be added at runtime (benchmarks need ~1,000 GPUs); the
    scheduler uses them. The test pool is tainted so no other test's pods land there."""
    pool = f"realism-{secrets.token_hex(3)}"
    taint = {"key": "localcluster.test/pool", "value": pool, "effect": "NoSchedule"}
    names = add_gpu_nodes(
        k8s, 2, gpus_per_node=4, pods_per_node=10, prefix=pool, extra_taints=[taint]
    )
    try:
        assert names == [f"{pool}-0", f"{pool}-1"]
        for name in names:
            node = kube.get(k8s, "v1", "Node", name)
            assert node is not None
            assert node["status"]["allocatable"][GPU_RESOURCE] == "4"
            assert node["metadata"]["labels"]["nvidia.com/gpu.count"] == "4"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "on-new-pool"},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": names[1]},
                "tolerations": [GPU_TOLERATION, {**taint, "operator": "Equal"}],
                "containers": [
                    {"name": "c", "image": IMAGE, "resources": {"limits": {GPU_RESOURCE: "4"}}}
                ],
            },
        }
        kube.create(k8s, pod, namespace)

        def running() -> bool:
            current = kube.get(k8s, "v1", "Pod", "on-new-pool", namespace) or {}
            return bool(current.get("status", {}).get("phase") == "Running")

        wait_for(running, TIMEOUT, "pod on the new GPU node Running")
    finally:
        delete_nodes(k8s, names)
