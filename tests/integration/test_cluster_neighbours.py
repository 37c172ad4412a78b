"""What the ModelDeployment and RetrainPolicy tests need beside the control plane.

The real Gateway API CRDs, KWOK stages for a pod that never turns ready and for a
training container's termination message, a metrics endpoint the test controls scraped
by the real Prometheus, and that Prometheus stopped and started again. Every outcome
here comes from the API server, the controllers, KWOK or Prometheus; no test writes a
pod's or a Job's status.
"""

from __future__ import annotations

import math
import os
import urllib.request
from functools import partial
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from localcluster import gatewayapi, kube, kwok
from localcluster.cluster import LocalCluster
from localcluster.exporter import Exporter, series, wait_scraped
from localcluster.ports import port_is_open
from localcluster.prometheus import PrometheusServer
from localcluster.waiting import wait_for

TIMEOUT = 60.0
IMAGE = "registry.example/model-server:1.0"  # never pulled: KWOK runs no containers
ROUTE_API = f"{gatewayapi.GROUP}/v1"
LOCAL_ONLY = pytest.mark.skipif(
    bool(os.environ.get("KUBECONFIG")), reason="the local cluster's own processes only"
)


# -- Gateway API ----------------------------------------------------------------------


def test_gateway_api_bundle_is_the_pinned_standard_channel(
    k8s: client.ApiClient, gateway_api: list[str]
) -> None:
    """The fixture installs the module's ten standard-channel CRDs, Established."""
    assert len(gateway_api) == 10
    assert gatewayapi.HTTPROUTE_CRD in gateway_api
    assert f"gateways.{gatewayapi.GROUP}" in gateway_api
    for name in gateway_api:
        crd = kube.get(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        assert kube.has_condition(crd, "Established"), name
    route_crd = kube.get(
        k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition", gatewayapi.HTTPROUTE_CRD
    )
    assert route_crd is not None
    annotations = route_crd["metadata"]["annotations"]
    assert annotations[f"{gatewayapi.GROUP}/channel"] == "standard"
    if not os.environ.get("KUBECONFIG"):
        assert annotations[f"{gatewayapi.GROUP}/bundle-version"] == gatewayapi.version()
        assert gatewayapi.version() == "v1.6.3"
        storage = [v["name"] for v in route_crd["spec"]["versions"] if v["storage"]]
        assert storage == ["v1"]


@LOCAL_ONLY
def test_safe_upgrades_policy_refuses_experimental_crds_over_standard(
    k8s: client.ApiClient, gateway_api: list[str]
) -> None:
    """The bundle's ValidatingAdmissionPolicy is installed and enforced (dry run)."""
    (path,) = [p for p in gatewayapi.manifest_paths() if p.name.endswith("_referencegrants.yaml")]
    (crd,) = kube.load_manifests([path])
    crd["metadata"]["annotations"][f"{gatewayapi.GROUP}/channel"] = "experimental"

    def refusal() -> ApiException | None:
        try:
            kube.server_side_apply(k8s, [crd], dry_run=True)
        except ApiException as exc:
            return exc
        return None

    # A new policy takes effect within a few seconds (the API server loads it async).
    refused = wait_for(refusal, TIMEOUT, "safe-upgrades refusing an experimental CRD")
    assert refused.status == 422
    assert "safe-upgrades.gateway.networking.k8s.io" in str(refused.body)


def route_manifest(weights: tuple[int, int]) -> dict[str, Any]:
    """An HTTPRoute splitting traffic between a stable and a canary Service."""
    stable, canary = weights
    return {
        "apiVersion": ROUTE_API,
        "kind": "HTTPRoute",
        "metadata": {"name": "model"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "model-stable", "port": 8080, "weight": stable},
                        {"name": "model-canary", "port": 8080, "weight": canary},
                    ]
                }
            ],
        },
    }


def backend_weights(route: dict[str, Any]) -> dict[str, int]:
    """Backend name -> weight of the route's first rule."""
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


def test_httproute_with_two_weighted_backends_is_stored_defaulted_and_validated(
    k8s: client.ApiClient, namespace: str, gateway_api: list[str]
) -> None:
    """An HTTPRoute round-trips its weights, gets the upstream schema's defaults, takes
    new weights by server-side apply, and a weight the schema forbids is refused."""
    created = kube.create(k8s, route_manifest((90, 10)), namespace)
    assert backend_weights(created) == {"model-stable": 90, "model-canary": 10}
    # Defaults only the real CRD schema knows about.
    ref = created["spec"]["rules"][0]["backendRefs"][0]
    assert (ref["group"], ref["kind"]) == ("", "Service")
    assert created["spec"]["rules"][0]["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/"}}
    ]
    assert created["spec"]["parentRefs"][0]["kind"] == "Gateway"

    kube.server_side_apply(
        k8s, [{**route_manifest((50, 50)), "metadata": {"name": "model", "namespace": namespace}}]
    )
    read = kube.get(k8s, ROUTE_API, "HTTPRoute", "model", namespace)
    assert read is not None
    assert backend_weights(read) == {"model-stable": 50, "model-canary": 50}

    bad = route_manifest((100, -1))
    bad["metadata"]["name"] = "bad"
    with pytest.raises(ApiException) as refused:
        kube.create(k8s, bad, namespace)
    assert refused.value.status == 422
    assert "weight" in str(refused.value.body)


# -- KWOK stages ----------------------------------------------------------------------


def deployment_manifest(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A one-replica Deployment of a model server; ``annotations`` go on its pods."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "server", "image": IMAGE}]},
            },
        },
    }


def deployment_pod(k8s: client.ApiClient, namespace: str, app: str) -> dict[str, Any] | None:
    """The (single) pod of Deployment ``app``, once there is exactly one."""
    pods = kube.list_objects(k8s, "v1", "Pod", namespace, label_selector=f"app={app}")
    return pods[0] if len(pods) == 1 else None


def test_never_ready_pod_runs_unready_while_a_normal_one_becomes_ready(
    k8s: client.ApiClient, namespace: str
) -> None:
    """A canary whose readiness probe never passes: Running, started, never Ready, and
    its Deployment never counts it ready, while an unannotated (or "false") one is."""
    kube.create(k8s, deployment_manifest("stable"), namespace)
    kube.create(
        k8s, deployment_manifest("canary", {kwok.NEVER_READY_ANNOTATION: "true"}), namespace
    )
    kube.create(
        k8s, deployment_manifest("explicit", {kwok.NEVER_READY_ANNOTATION: "false"}), namespace
    )

    def running(app: str) -> dict[str, Any] | None:
        pod = deployment_pod(k8s, namespace, app)
        return pod if pod and pod["status"].get("phase") == "Running" else None

    def one_ready(app: str) -> bool:
        deployment = kube.get(k8s, "apps/v1", "Deployment", app, namespace) or {}
        return bool(deployment.get("status", {}).get("readyReplicas") == 1)

    for app in ("stable", "explicit"):
        wait_for(partial(one_ready, app), TIMEOUT, f"Deployment {app} has a ready pod")
    canary = wait_for(lambda: running("canary"), TIMEOUT, "the canary pod Running")

    # Checked after the two others are ready, so KWOK had every chance to make it ready.
    ready = kube.condition(canary, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    assert ready["message"] == "containers with unready status: [server]"
    assert kube.has_condition(canary, "ContainersReady", "False")
    (status,) = canary["status"]["containerStatuses"]
    assert (status["ready"], status["started"]) == (False, True)
    assert "running" in status["state"]
    assert canary["status"]["podIP"]
    assert canary["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"

    # A Job started now completes (KWOK's default delay): time passed, still unready.
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "tick"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": IMAGE}]}
            }
        },
    }
    kube.create(k8s, job, namespace)
    wait_for(
        lambda: kube.has_condition(kube.get(k8s, "batch/v1", "Job", "tick", namespace), "Complete"),
        TIMEOUT,
        "Job tick Complete",
    )
    later = deployment_pod(k8s, namespace, "canary")
    assert later is not None
    assert later["metadata"]["uid"] == canary["metadata"]["uid"]
    assert later["status"]["phase"] == "Running"
    assert kube.has_condition(later, "Ready", "False")
    deployment = kube.get(k8s, "apps/v1", "Deployment", "canary", namespace)
    assert deployment is not None
    assert not deployment["status"].get("readyReplicas")
    assert deployment["status"].get("unavailableReplicas") == 1


def job_with_containers(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A Job whose pod has a trainer (rank 0's container) and a sidecar."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "trainer", "image": IMAGE},
                        {"name": "sidecar", "image": IMAGE},
                    ],
                },
            },
        },
    }


def completed_statuses(
    k8s: client.ApiClient, namespace: str, job: str
) -> dict[str, dict[str, Any]]:
    """Container name -> terminated state of the Job's pod, once the Job is Complete."""
    wait_for(
        lambda: kube.has_condition(kube.get(k8s, "batch/v1", "Job", job, namespace), "Complete"),
        TIMEOUT,
        f"Job {job} Complete",
    )
    (pod,) = kube.list_objects(
        k8s, "v1", "Pod", namespace, label_selector=f"batch.kubernetes.io/job-name={job}"
    )
    assert pod["status"]["phase"] == "Succeeded"
    return {s["name"]: s["state"]["terminated"] for s in pod["status"]["containerStatuses"]}


def test_job_pod_completes_with_the_annotated_termination_message(
    k8s: client.ApiClient, namespace: str
) -> None:
    """The first container reports the text as its termination message, byte for byte
    (quotes, newline, non-ASCII); exit code 0; other containers and pods without the
    annotation report none."""
    text = '{"metrics": {"accuracy": 0.93, "val_loss": 0.21}}\nnote: "ok" <done> & ü'
    annotations = {kwok.TERMINATION_MESSAGE_ANNOTATION: text}
    kube.create(k8s, job_with_containers("train", annotations), namespace)
    kube.create(k8s, job_with_containers("plain", {}), namespace)

    train = completed_statuses(k8s, namespace, "train")
    assert train["trainer"]["message"] == text
    assert (train["trainer"]["exitCode"], train["trainer"]["reason"]) == (0, "Completed")
    assert "message" not in train["sidecar"]
    assert train["sidecar"]["exitCode"] == 0

    plain = completed_statuses(k8s, namespace, "plain")
    assert all("message" not in state for state in plain.values())
    assert plain["trainer"]["exitCode"] == 0


# -- the exporter and Prometheus ------------------------------------------------------


def test_exporter_renders_the_prometheus_text_format() -> None:
    """Sorted gauges with HELP/TYPE, escaped label values, NaN and Inf spelled as the
    format wants, and nothing at all once everything is cleared."""
    exp = Exporter()
    exp.set("b_ratio", 0.1, {"variant": "canary", "name": 'q"x\\'})
    exp.set("a_total", math.inf, help="Infinite\nhelp")
    exp.set("b_ratio", math.nan, {"variant": "stable", "name": "m"})
    assert exp.render() == (
        "# HELP a_total Infinite\\nhelp\n"
        "# TYPE a_total gauge\n"
        "a_total +Inf\n"
        "# HELP b_ratio b_ratio, set by the test or the demo\n"
        "# TYPE b_ratio gauge\n"
        'b_ratio{name="m",variant="stable"} NaN\n'
        'b_ratio{name="q\\"x\\\\",variant="canary"} 0.1\n'
    )
    assert series("b_ratio", {"variant": "canary", "name": "m"}) == (
        'b_ratio{name="m",variant="canary"}'
    )
    exp.clear("b_ratio", {"variant": "stable", "name": "m"})
    assert exp.value("b_ratio", {"variant": "stable", "name": "m"}) is None
    assert exp.value("b_ratio", {"variant": "canary", "name": 'q"x\\'}) == 0.1
    exp.clear("b_ratio")
    assert "b_ratio" not in exp.render()
    exp.clear()
    assert exp.render() == ""


def test_exporter_serves_metrics_over_http() -> None:
    """GET /metrics answers the rendered text with the text format's content type."""
    with Exporter() as exp:
        exp.set("served", 2.5, {"k": "v"})
        with urllib.request.urlopen(f"http://{exp.address}/metrics", timeout=5) as resp:
            body = resp.read().decode()
            content_type = resp.headers["Content-Type"]
    assert 'served{k="v"} 2.5\n' in body
    assert content_type.startswith("text/plain; version=0.0.4")


def test_exporter_values_reach_promql_and_vanish_when_cleared(
    exporter: Exporter, prometheus: PrometheusServer, namespace: str
) -> None:
    """What the test sets is what a PromQL query returns (per variant); a changed value
    follows; a cleared series is no data while the other variant stays; NaN is NaN."""
    canary = {"namespace": namespace, "name": "model", "variant": "canary"}
    stable = {**canary, "variant": "stable"}
    exporter.set("model_error_ratio", 0.01, canary)
    exporter.set("model_error_ratio", 0.002, stable)
    exporter.wait_scraped(series("model_error_ratio", canary), 0.01)
    exporter.wait_scraped(series("model_error_ratio", stable), 0.002)

    (sample,) = prometheus.query(series("model_error_ratio", canary))
    assert sample["metric"]["instance"] == exporter.address
    assert {k: sample["metric"][k] for k in canary} == canary

    exporter.set("model_error_ratio", 0.2, canary)
    wait_scraped(prometheus, series("model_error_ratio", canary), 0.2)

    exporter.clear("model_error_ratio", canary)
    exporter.wait_scraped(series("model_error_ratio", canary), None)
    assert prometheus.query(series("model_error_ratio", canary)) == []
    exporter.wait_scraped(series("model_error_ratio", stable), 0.002)

    exporter.set("model_error_ratio", math.nan, canary)
    exporter.wait_scraped(series("model_error_ratio", canary), math.nan)


def test_prometheus_stop_and_start_keeps_its_port_and_its_data(
    exporter: Exporter, prometheus: PrometheusServer, namespace: str
) -> None:
    """Stopped: the port is closed and queries fail. Started: same URL, the samples
    from before the stop are still there, and scraping resumes."""
    labels = {"namespace": namespace, "name": "model", "variant": "stable"}
    selector = series("model_latency_seconds", labels)
    exporter.set("model_latency_seconds", 7.0, labels)
    exporter.wait_scraped(selector, 7.0)
    url, port = prometheus.url, prometheus.port

    with prometheus.stopped():
        assert not prometheus.running()
        assert not port_is_open(port)
        with pytest.raises(RuntimeError):
            prometheus.query(selector)
        exporter.set("model_latency_seconds", 8.0, labels)

    assert prometheus.running()
    assert prometheus.url == url
    assert port_is_open(port)
    exporter.wait_scraped(selector, 8.0)
    (oldest,) = prometheus.query(f"min_over_time({selector}[10m])")
    assert float(oldest["value"][1]) == 7.0


@LOCAL_ONLY
def test_local_cluster_brings_a_stopped_prometheus_back_on_its_port(
    prometheus: PrometheusServer,
) -> None:
    """``ensure_prometheus`` (what the fixture and `up` use) restarts a stopped
    Prometheus on its old port, so URLs handed out earlier stay valid."""
    prometheus.stop()
    try:
        assert LocalCluster().prometheus() is None
        again = LocalCluster().ensure_prometheus()
        assert again.url == prometheus.url
        assert again.ready()
    finally:
        prometheus.start()


@LOCAL_ONLY
def test_up_restarts_kwok_when_its_stages_changed(kubeconfig: str) -> None:
    """A running cluster started from an older kwok.yaml gets the current stages at the
    next `up`: KWOK restarts with the package's configuration."""
    cluster = LocalCluster()
    before = cluster.table.get("kwok")
    assert before is not None
    cluster.layout.kwok_config.write_text("# stages of an older checkout\n")

    result = cluster.up()

    assert result.already_running
    after = cluster.table.get("kwok")
    assert after is not None
    assert after.alive()
    assert after.pid != before.pid
    assert cluster.layout.kwok_config.read_text() == kwok.stages_text()
