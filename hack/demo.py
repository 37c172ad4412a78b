"""``make demo``: the operator's main job, end to end, on the embedded local cluster.

Brings the local cluster up (reusing a running one), installs the CRDs, starts the
operator as its own process, and submits three training runs: a 2-node x 4-GPU PyTorch
run, a single-GPU run, and a flaky run whose first worker fails so the whole run is
restarted. It shows their status live until each has finished, then their Events.
The cluster keeps running afterwards for exploration; ``make cluster-down`` stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config

from localcluster.cluster import LocalCluster
from localcluster.kube import apply_crds
from localcluster.ports import free_ports
from localcluster.waiting import wait_for

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "demo"
GROUP, VERSION, PLURAL = "mlops.dev", "v1alpha1", "trainingjobs"


def run(name: str, annotations: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "image": "registry.example/train:1",
            "output": {"modelUri": f"s3://models/demo/{name}"},
            "checkpoint": {"uri": f"s3://checkpoints/demo/{name}"},
            "podTemplate": {"metadata": {"annotations": annotations}},
            **spec,
        },
    }


RUNS = [
    run(
        "llm-ddp",
        {"pod-complete.stage.kwok.x-k8s.io/delay": "8s"},
        framework="pytorch",
        nodes=2,
        gpusPerNode=4,
        dataset={"uri": "s3://data/web-text", "version": "v7"},
        hyperparameters={"learning_rate": "3e-4"},
    ),
    run("resnet", {"pod-complete.stage.kwok.x-k8s.io/delay": "4s"}, gpusPerNode=1),
    # KWOK fails these pods with exit code 1: the operator restarts the whole run once,
    # then reports BackoffLimitExceeded.
    run(
        "flaky",
        {"pod-fail.stage.kwok.x-k8s.io/exit-code": "1", "pod-fail.stage.kwok.x-k8s.io/delay": "3s"},
        nodes=2,
        gpusPerNode=1,
        backoffLimit=1,
    ),
]


def table(custom: client.CustomObjectsApi) -> tuple[str, bool]:
    items = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)["items"]
    rows = [f"{'NAME':10} {'PHASE':11} {'ATTEMPTS':8} {'NODES (act/rdy/ok/fail)':24} MODEL"]
    finished = True
    for item in sorted(items, key=lambda i: i["metadata"]["name"]):
        status = item.get("status") or {}
        nodes = status.get("nodes") or {}
        counts = "/".join(str(nodes.get(k, 0)) for k in ("active", "ready", "succeeded", "failed"))
        phase = status.get("phase", "-")
        finished &= phase in ("Succeeded", "Failed")
        rows.append(
            f"{item['metadata']['name']:10} {phase:11} {status.get('attempts', 0)!s:8} "
            f"{counts:24} {(status.get('model') or {}).get('uri', '')}"
        )
    return "\n".join(rows), finished and len(items) == len(RUNS)


def main() -> int:
    started = time.monotonic()
    cluster = LocalCluster()
    up = cluster.up()
    print(
        f"demo: cluster {'already running' if up.already_running else 'started'} "
        f"in {up.seconds:.1f}s; KUBECONFIG={up.kubeconfig}"
    )
    api = config.new_client_from_config(config_file=str(up.kubeconfig))
    print(f"demo: CRDs installed: {', '.join(apply_crds(api, REPO / 'crds'))}")

    log_path = cluster.state_dir / "logs" / "demo-operator.log"
    metrics_port, health_port = free_ports(2)
    with log_path.open("ab") as log:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_operator",
                "run",
                "--metrics-port",
                str(metrics_port),
                "--health-port",
                str(health_port),
            ],
            env={**os.environ, "KUBECONFIG": str(up.kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    print(f"demo: operator started (pid {operator.pid}, log {log_path})")
    try:
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        try:
            core.delete_namespace(NAMESPACE)
            wait_for(
                lambda: not core.list_namespace(field_selector=f"metadata.name={NAMESPACE}").items,
                60,
                "old demo namespace",
            )
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        wait_for(
            lambda: (
                core.list_namespaced_service_account(
                    NAMESPACE, field_selector="metadata.name=default"
                ).items
            ),
            30,
            "service account",
        )
        for body in RUNS:
            custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        print(f"demo: submitted {len(RUNS)} TrainingJobs to namespace {NAMESPACE}\n")

        deadline = time.monotonic() + 180
        last = ""
        while time.monotonic() < deadline:
            text, finished = table(custom)
            if text != last:
                print(f"--- t+{time.monotonic() - started:5.1f}s\n{text}\n", flush=True)
                last = text
            if finished:
                break
            time.sleep(1)
        else:
            print("demo: runs did not finish within 180s", file=sys.stderr)
            return 1

        print("Events:")
        events = core.list_namespaced_event(
            NAMESPACE, field_selector="involvedObject.kind=TrainingJob"
        ).items
        for event in sorted(events, key=lambda e: e.metadata.creation_timestamp):
            print(
                f"  {event.involved_object.name:10} {event.type:8} {event.reason:22} "
                f"{event.message}"
            )
        print(
            f"\ndemo: done in {time.monotonic() - started:.0f}s. The cluster keeps running:\n"
            f"  export KUBECONFIG={up.kubeconfig} PATH={REPO}/.local/bin:$PATH\n"
            f"  kubectl get mlops,jobs,pods -n {NAMESPACE}\n"
            f"  make cluster-down   # stop it"
        )
        return 0
    finally:
        operator.terminate()
        operator.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
