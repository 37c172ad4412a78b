"""The peer: Kubeflow's training operator v1 on the same cluster, fed N PyTorchJobs.

Users choosing between this operator and Kubeflow's will compare the two on one cluster,
so the benchmark does. The training operator (``github.com/kubeflow/training-operator``,
pinned in ``hack/toolchain/training-operator``, built by ``hack/toolchain/build.sh
training-operator`` into the toolchain cache) runs out of cluster as a new user would run
it, with its own flags: only the PyTorchJob scheme, no leader election, loopback metrics
and probes, as many controller threads as our operator has workers, and client rate
limits raised far above what a run needs (our operator has none). Its logging stays as
its Deployment manifest leaves it (zap's development mode: debug lines per reconcile). Its
webhook is never
registered (nothing calls it), but its certificate rotator needs the namespace
``kubeflow`` with the Secret ``training-operator-webhook-cert`` and a certificate pair in
the fixed ``/tmp/k8s-webhook-server/serving-certs``.

Each run is a PyTorchJob with one Master replica whose pod is the pod our operator's Job
would create (same image, GPU limit, toleration, security context and KWOK completion
annotation: :func:`pytorchjob` takes them from the floor's Job), so KWOK completes both
after the same delay. The peer creates that pod and a headless Service per replica
directly; there is no Job in between.

Measured like our operator: all PyTorchJobs ``Running`` and ``Succeeded`` (their
conditions, the controller's own view, as our TrainingJob phase is), its pods' way to
running, the process's CPU-seconds and peak RSS (``VmHWM``), and its API requests from
controller-runtime's ``rest_client_requests_total{code,host,method}`` (delta over the
batch, after it went quiet).
"""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import workload
from bench.arm import Arm, ArmResult, Work, measure
from bench.cluster import kubectl
from bench.kube import (
    ApiError,
    Kube,
    create_namespace,
    namespace_path,
    resource_path,
)
from bench.process import Controller
from bench.track import Tracker
from localcluster import paths
from localcluster.ports import free_ports
from localcluster.toolchain import Component

COMPONENT = Component("training-operator", "github.com/kubeflow/training-operator")
CRD_FILE = "kubeflow.org_pytorchjobs.yaml"
CRD_NAME = "pytorchjobs.kubeflow.org"
API_VERSION = "kubeflow.org/v1"
KIND = "PyTorchJob"
PLURAL = "pytorchjobs"
#: The label the training operator puts on its pods and Services: the job's name.
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
#: The container the training operator fills in (env, port): its default name.
CONTAINER = "pytorch"
OPERATOR_NAMESPACE = "kubeflow"
WEBHOOK_SECRET = "training-operator-webhook-cert"
#: Fixed in the training operator (pkg/cert): not configurable.
CERT_DIR = Path("/tmp/k8s-webhook-server/serving-certs")
#: Client rate limits: its defaults (20 qps, burst 30) would throttle 1,000 runs; ours has
#: no client-side limit, so these are set far above what the benchmark asks of it.
CLIENT_QPS = 1000
CLIENT_BURST = 2000
#: controller-runtime's request counter (client-go's, by HTTP method).
REQUESTS_METRIC = "rest_client_requests_total"
#: HTTP methods as the verbs the report uses (GET is a get, a list or a watch).
METHOD_VERBS = {
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
    "GET": "get/list/watch",
}


# --- the binary and its CRD ------------------------------------------------------------------


def version() -> str:
    """The pinned module version, read from the wrapper module's go.mod."""
    return COMPONENT.version()


def ensure_built() -> None:
    """Build the training operator (and cache its CRDs) unless both are there: minutes on a
    cold machine, so ``make bench`` does it before the benchmark starts."""
    try:
        paths.find_binary(COMPONENT.name)
        have_binary = True
    except paths.MissingBinaryError:
        have_binary = False
    if not have_binary or not (crd_dir() / CRD_FILE).is_file():
        COMPONENT.build()


def crd_dir() -> Path:
    """Where build.sh caches the module's ``manifests/base/crds``."""
    return COMPONENT.cache_dir()


def install_crd(kubeconfig: Path, timeout: float = 60.0) -> None:
    """Apply only the PyTorchJob CRD, server-side (too big for a client-side apply's
    annotation), and wait until PyTorchJobs can be listed."""
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(crd_dir() / CRD_FILE))
    # No `kubectl wait` here: right after the apply the CRD may have no conditions yet, and
    # wait fails on that instead of waiting; listing works once the CRD is served.
    deadline = time.monotonic() + timeout
    while True:
        try:
            kubectl(kubeconfig, "get", PLURAL, "--all-namespaces")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


async def prepare(kube: Kube) -> None:
    """What the training operator needs before it starts: the namespace ``kubeflow`` with
    an empty webhook Secret, and a certificate pair in :data:`CERT_DIR`."""
    from localcluster.kueue import self_signed_pair  # a self-signed pair; any pair works

    try:
        await create_namespace(kube, OPERATOR_NAMESPACE)
    except ApiError as exc:
        if exc.status != 409:
            raise
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": WEBHOOK_SECRET, "namespace": OPERATOR_NAMESPACE},
    }
    try:
        await kube.create(f"{namespace_path(OPERATOR_NAMESPACE)}/secrets", secret)
    except ApiError as exc:
        if exc.status != 409:
            raise
    self_signed_pair(CERT_DIR)


# --- the workload ------------------------------------------------------------------------------


def pytorchjob(run: str, pod_delay: str) -> dict[str, Any]:
    """One PyTorchJob: 1 Master replica whose pod is the pod of our operator's Job for the
    same run (image, 1 GPU, toleration, security context, KWOK's completion delay)."""
    job = workload.job_of(workload.children(run, "peer", pod_delay, workload.defaults()))
    template = job["spec"]["template"]
    ours = template["spec"]
    trainer = ours["containers"][0]
    container = {"name": CONTAINER}
    container.update(
        {
            k: copy.deepcopy(trainer[k])
            for k in ("image", "resources", "securityContext")
            if k in trainer
        }
    )
    # No restartPolicy in the pod: the replica's ("Never", as our Job's pod) is what the
    # training operator puts there, and it logs a warning per pod that has its own.
    pod: dict[str, Any] = {"containers": [container]}
    for key in ("securityContext", "tolerations"):
        if key in ours:
            pod[key] = copy.deepcopy(ours[key])
    annotations = dict((template.get("metadata") or {}).get("annotations") or {})
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": run},
        "spec": {
            "runPolicy": {"cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "restartPolicy": "Never",
                    "template": {"metadata": {"annotations": annotations}, "spec": pod},
                }
            },
        },
    }


def _conditions(obj: dict[str, Any]) -> set[str]:
    status = obj.get("status") or {}
    return {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}


def pytorchjob_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A PyTorchJob by its conditions: Running (or Succeeded) counts as running.

    The training operator turns Running False when the job succeeds; milestones are
    sticky, so a job first seen Succeeded was running too.
    """
    conditions = _conditions(obj)
    milestones = ["created"]
    if "Failed" in conditions:
        return "Failed", [*milestones, "failed"]
    if "Succeeded" in conditions:
        return "Succeeded", [*milestones, "running", "succeeded"]
    if "Running" in conditions:
        return "Running", [*milestones, "running"]
    return ("Created" if "Created" in conditions else "New"), milestones


def pod_progress(obj: dict[str, Any]) -> tuple[str, Iterable[str]]:
    """A peer pod: running once Ready (KWOK's pod-ready stage), complete once Succeeded."""
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    milestones = ["created"]
    if phase == "Failed":
        return phase, [*milestones, "failed"]
    if ready or phase == "Succeeded":
        milestones.append("running")
    if phase == "Succeeded":
        milestones.append("complete")
    return phase, milestones


def owning_job(obj: dict[str, Any]) -> str:
    """The PyTorchJob a pod belongs to."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return str(labels.get(JOB_NAME_LABEL) or obj["metadata"]["name"])


# --- its requests ----------------------------------------------------------------------------


def requests_by_verb(counts: Mapping[tuple[tuple[str, str], ...], float]) -> dict[str, int]:
    """``rest_client_requests_total`` samples (or their delta) summed by verb over codes
    and hosts: ``{"create": 1000, "update": 2000, "get/list/watch": 3, ...}``."""
    out: dict[str, int] = defaultdict(int)
    for labels, value in counts.items():
        method = dict(labels).get("method", "?").upper()
        out[METHOD_VERBS.get(method, method.lower())] += int(value)
    return {verb: n for verb, n in sorted(out.items()) if n}


def requests_by_code(counts: Mapping[tuple[tuple[str, str], ...], float]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for labels, value in counts.items():
        out[dict(labels).get("code", "?")] += int(value)
    return {code: n for code, n in sorted(out.items()) if n}


# --- the process -----------------------------------------------------------------------------


@dataclass
class PeerProcess(Controller):
    """One training-operator process against the bench cluster."""

    kubeconfig: Path
    threads: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    health_port: int = 0
    webhook_port: int = 0
    title = "the training operator"

    def argv(self) -> list[str]:
        return [
            str(paths.find_binary(COMPONENT.name)),
            f"--kubeconfig={self.kubeconfig}",
            "--enable-scheme=pytorchjob",
            "--leader-elect=false",
            f"--metrics-bind-address=127.0.0.1:{self.metrics_port}",
            f"--health-probe-bind-address=127.0.0.1:{self.health_port}",
            f"--webhook-server-port={self.webhook_port}",
            f"--kube-api-qps={CLIENT_QPS}",
            f"--kube-api-burst={CLIENT_BURST}",
            f"--controller-threads={self.threads}",
        ]

    def start(self) -> None:
        self.metrics_port, self.health_port, self.webhook_port = free_ports(3)
        # Both would point it elsewhere: its own namespace, a namespace to watch.
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("MY_POD_NAMESPACE", "KUBEFLOW_NAMESPACE")
        }
        self.popen(self.argv(), {**env, "KUBECONFIG": str(self.kubeconfig)})

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float) -> None:  # noqa: ASYNC109
        """Until ``/readyz`` answers: certificates in place, webhook server listening; its
        controllers start right after."""
        await self.wait_answering(session, f"http://127.0.0.1:{self.health_port}/readyz", timeout)


# --- the run ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class PeerResult(ArmResult):
    """The training operator's: its runs are PyTorchJobs, their children its pods."""

    pods_all_running_s: float
    pods_all_complete_s: float
    requests: dict[str, int]
    requests_by_code: dict[str, int]
    log_errors: int

    def as_dict(self, count: int) -> dict[str, Any]:
        total = sum(self.requests.values())
        writes = sum(
            n for v, n in self.requests.items() if v in ("create", "update", "patch", "delete")
        )
        return {
            **self.times_dict(),
            "pods_all_running_s": round(self.pods_all_running_s, 2),
            "pods_all_complete_s": round(self.pods_all_complete_s, 2),
            **self.process_dict(),
            "requests": {
                "total": total,
                "writes": writes,
                "per_run": round(total / count, 2),
                "writes_per_run": round(writes / count, 2),
                "by_verb": self.requests,
                "by_code": self.requests_by_code,
            },
            "cores_used": self.cores,
            "log_errors": self.log_errors,
            "exit_code": self.exit_code,
            "rss_timeline": self.timeline(),
        }


async def warm_up(
    kube: Kube,
    peer: PeerProcess,
    namespace: str,
    timeout: float,  # noqa: ASYNC109
) -> None:
    """One PyTorchJob through to Succeeded: informers synced, workers and writes all work."""
    path = resource_path(API_VERSION, PLURAL, namespace)
    await kube.create(path, pytorchjob("warmup", "1s"))
    async with asyncio.timeout(timeout):
        while True:
            peer.check_alive()
            label, _ = pytorchjob_progress(await kube.get(f"{path}/warmup"))
            if label == "Succeeded":
                return
            if label == "Failed":
                raise RuntimeError("the warm-up PyTorchJob failed")
            await asyncio.sleep(0.25)


def count_log_errors(path: Path) -> int:
    """Lines the training operator logged at error level (zap's development format)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "\tERROR\t" in line or "panic" in line)


async def run_peer(
    kube: Kube,
    peer: PeerProcess,
    namespace: str,
    warm_namespace: str,
    work: Work,
) -> PeerResult:
    """Start the training operator, warm it up, create ``count`` PyTorchJobs, follow them
    to the end. The caller stops ``peer`` (also when this raises)."""
    await prepare(kube)
    await create_namespace(kube, namespace)
    await create_namespace(kube, warm_namespace)
    count = work.count
    bodies = [pytorchjob(workload.name(i), work.pod_delay) for i in range(count)]
    jobs = Tracker(kube, resource_path(API_VERSION, PLURAL, namespace), pytorchjob_progress, count)
    pods = Tracker(
        kube, resource_path("v1", "pods", namespace), pod_progress, count, key=owning_job
    )
    arm = Arm(
        name="peer",
        controller=peer,
        who="training-operator ",
        process="training-operator",
        runs=jobs,
        runs_title="PyTorchJobs",
        children=pods,
        children_title="pods",
        metric=REQUESTS_METRIC,
        ready=peer.wait_ready,
        warm_up=lambda: warm_up(kube, peer, warm_namespace, 90.0),
    )
    batch = await measure(arm, kube, bodies, work)
    counts = batch.counts(REQUESTS_METRIC)
    return PeerResult(
        namespace=namespace,
        **batch.common(jobs, pods),
        pods_all_running_s=max(pods.times("running").values()) - batch.start,
        pods_all_complete_s=max(pods.times("complete").values()) - batch.start,
        requests=requests_by_verb(counts),
        requests_by_code=requests_by_code(counts),
        log_errors=count_log_errors(peer.log_path),
    )
