"""``make demo``: the whole loop, end to end, on the embedded local cluster.

Drift to retrain to canary to promotion, with no one editing a spec:

1. the local cluster (real control plane, KWOK GPU nodes, a real Prometheus), the CRDs and
   the operator as its own process; a small simulated model-metrics endpoint that the
   Prometheus scrapes: the served model's drift score and each variant's error ratio;
2. a RetrainPolicy ``sentiment`` and a ModelDeployment ``sentiment`` that follows it;
3. a first training run (a manual trigger) trains and succeeds; the ModelDeployment serves
   its model;
4. drift is injected and rises; the policy waits out its ``for`` window and retrains; the
   new model passes its evaluation gate and rolls out 10 → 50 → 100 under analysis, and is
   promoted;
5. a bad model (its canary answers with errors) is rolled back; the stable is untouched;
6. the lineage of the served model, from status alone.

Everything shown comes from the API: status and the operator's Events. The cluster keeps
running afterwards; ``make demo-down`` stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config

from localcluster.cluster import LocalCluster
from localcluster.exporter import Exporter
from localcluster.kube import apply_crds
from localcluster.kwok import COMPLETE_DELAY_ANNOTATION, TERMINATION_MESSAGE_ANNOTATION
from localcluster.ports import free_ports
from localcluster.waiting import wait_for
from mlops_operator.api import keys

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "demo"
GROUP, VERSION = "mlops.dev", "v1alpha1"
NAME = "sentiment"
THRESHOLD = 0.3
GOOD_ERRORS, BAD_ERRORS = 0.01, 0.12


def policy(prometheus: str) -> dict[str, Any]:
    metrics = {"metrics": {"accuracy": 0.94, "val_loss": 0.19}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RetrainPolicy",
        "metadata": {"name": NAME},
        "spec": {
            "trainingJobTemplate": {
                "spec": {
                    "image": "registry.example/sentiment-train:1",
                    "framework": "pytorch",
                    "nodes": 2,
                    "gpusPerNode": 1,
                    "dataset": {"uri": "s3://data/reviews", "version": "2026-12"},
                    "hyperparameters": {"learning_rate": "3e-5", "epochs": "3"},
                    "output": {"modelUri": "s3://models/sentiment"},
                    "podTemplate": {
                        "metadata": {
                            "annotations": {
                                COMPLETE_DELAY_ANNOTATION: "5s",
                                TERMINATION_MESSAGE_ANNOTATION: json.dumps(metrics),
                            }
                        }
                    },
                }
            },
            "modelDeploymentRef": {"name": NAME},
            "triggers": {
                "drift": {
                    "prometheus": {"address": prometheus},
                    "query": f'max(model_drift{{namespace="{NAMESPACE}", model="{NAME}"}})',
                    "threshold": THRESHOLD,
                    "for": "10s",
                    "interval": "2s",
                },
                "manual": {},
            },
            "cooldown": "15s",
            "promotion": {"mode": "Automatic", "evaluation": {"metric": "accuracy", "min": 0.9}},
        },
    }


def deployment(prometheus: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {
            "model": {"retrainPolicyRef": {"name": NAME}},
            "server": {"image": "registry.example/sentiment-serve:1", "readinessPath": "/ready"},
            "replicas": 4,
            "rollout": {
                "canary": {
                    "steps": [
                        {"setWeight": 10},
                        {"pause": {"duration": "4s"}},
                        {"analysis": {}},
                        {"setWeight": 50},
                        {"pause": {"duration": "4s"}},
                        {"analysis": {}},
                        {"setWeight": 100},
                    ],
                    "analysis": {
                        "interval": "2s",
                        "failureLimit": 0,
                        "prometheus": {"address": prometheus},
                        "metrics": [
                            {
                                "name": "error-ratio",
                                "query": 'max(model_error_ratio{namespace="{{namespace}}", '
                                'name="{{name}}", variant="{{variant}}"})',
                                "thresholdRange": {"max": 0.05},
                            }
                        ],
                    },
                    "progressDeadlineSeconds": 60,
                }
            },
        },
    }


class Story:
    """Prints what happens as it happens, and plays the model servers' metrics."""

    def __init__(self, api: client.ApiClient, exporter: Exporter, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.exporter = exporter
        self.started = time.monotonic()
        self.seen_events: set[str] = set()
        self.last_lines: dict[str, str] = {}
        self.bad_models: set[str] = set()

    def say(self, text: str) -> None:
        print(f"\n== t+{time.monotonic() - self.started:5.1f}s  {text}", flush=True)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, plural, name
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        return obj

    def status(self, plural: str, name: str = NAME) -> dict[str, Any]:
        return self.get(plural, name).get("status") or {}

    def tick(self) -> None:
        """Serve the variants' error ratios, then print new state lines and Events."""
        md = self.status("modeldeployments")
        for variant in ("stable", "canary"):
            model = (md.get(variant) or {}).get("model")
            labels = {"namespace": NAMESPACE, "name": NAME, "variant": variant}
            if model:
                ratio = BAD_ERRORS if model in self.bad_models else GOOD_ERRORS
                self.exporter.set("model_error_ratio", ratio, labels)
            else:
                self.exporter.clear("model_error_ratio", labels)
        self._line("RetrainPolicy", self._policy_line(self.status("retrainpolicies")))
        self._line("ModelDeployment", self._deployment_line(md))
        for run in self.runs():
            status = run.get("status") or {}
            self._line(
                f"TrainingJob {run['metadata']['name']}",
                f"{status.get('phase', '-')}, attempts {status.get('attempts', 0)}"
                + (f", metrics {status['metrics']}" if status.get("metrics") else ""),
            )
        events = self.core.list_namespaced_event(NAMESPACE).items
        for event in sorted(events, key=lambda e: e.event_time or e.metadata.creation_timestamp):
            if event.reporting_component != "mlops-operator":
                continue
            if event.metadata.uid in self.seen_events:
                continue
            self.seen_events.add(event.metadata.uid)
            obj = event.involved_object
            print(f"   event  {obj.kind} {obj.name}: {event.reason}: {event.message}", flush=True)

    def _line(self, who: str, line: str) -> None:
        if self.last_lines.get(who) != line:
            self.last_lines[who] = line
            print(f"   {who}: {line}", flush=True)

    @staticmethod
    def _policy_line(rp: dict[str, Any]) -> str:
        parts = [rp.get("phase", "-")]
        if "lastValue" in rp:
            parts.append(f"drift {rp['lastValue']:.2f} (threshold {THRESHOLD})")
        if rp.get("activeTrainingJob"):
            parts.append(f"running {rp['activeTrainingJob']}")
        if rp.get("latestModel"):
            parts.append(f"latest model {rp['latestModel']['uri']}")
        return ", ".join(parts)

    @staticmethod
    def _deployment_line(md: dict[str, Any]) -> str:
        stable, canary = md.get("stable") or {}, md.get("canary") or {}
        line = f"{md.get('phase', '-')}, stable {stable.get('model', '-')}"
        line += f" ({stable.get('readyReplicas', 0)}/{stable.get('replicas', 0)} ready)"
        if canary:
            line += f", canary {canary.get('model')} at {canary.get('weight', 0)}% served"
            line += f", step {canary.get('stepIndex', 0) + 1}"
        return line

    def runs(self) -> list[dict[str, Any]]:
        items = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "trainingjobs"
        )["items"]
        return sorted(items, key=lambda i: i["metadata"]["creationTimestamp"])

    def until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            if done():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo: {what} did not happen within {timeout:.0f}s")
            time.sleep(0.5)

    def annotate_policy(self, key: str, value: str) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            "retrainpolicies",
            NAME,
            {"metadata": {"annotations": {key: value}}},
        )


def history(story: Story) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = story.status("modeldeployments").get("history") or []
    return entries


def main() -> int:
    cluster = LocalCluster()
    up = cluster.up()
    prom = cluster.ensure_prometheus()
    api = config.new_client_from_config(config_file=str(up.kubeconfig))
    apply_crds(api, REPO / "crds")
    core = client.CoreV1Api(api)
    _fresh_namespace(core)

    log_path = cluster.state_dir / "logs" / "demo-operator.log"
    metrics_port, health_port = free_ports(2)
    with log_path.open("ab") as log:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_operator",
                "run",
                "--namespace",
                NAMESPACE,
                "--metrics-port",
                str(metrics_port),
                "--health-port",
                str(health_port),
            ],
            env={**os.environ, "KUBECONFIG": str(up.kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    exporter = Exporter().start()
    try:
        exporter.set("model_drift", 0.08, {"namespace": NAMESPACE, "model": NAME})
        exporter.register(prom)
        story = Story(api, exporter, str(up.kubeconfig))
        story.say(
            f"local cluster {'reused' if up.already_running else 'started'}, Prometheus "
            f"{prom.url}, operator pid {operator.pid} (log {log_path})"
        )
        return _play(story, prom.url)
    finally:
        exporter.close()
        operator.terminate()
        operator.wait(timeout=30)


def _play(story: Story, prometheus: str) -> int:
    custom = story.custom
    custom.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "retrainpolicies", policy(prometheus)
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "modeldeployments", deployment(prometheus)
    )
    story.say("applied RetrainPolicy and ModelDeployment 'sentiment' (it follows the policy)")
    story.until(
        lambda: "ModelNotReady" in json.dumps(story.status("modeldeployments")),
        30,
        "the deployment waiting for a model",
    )

    story.say("first training run, by hand: kubectl annotate rp sentiment mlops.dev/retrain=v1")
    story.annotate_policy(keys.RETRAIN_ANNOTATION, "v1")
    story.until(
        lambda: story.status("modeldeployments").get("phase") == "Healthy", 90, "first model served"
    )

    story.say("drift rises in production (simulated): model_drift 0.08 -> 0.45")
    labels = {"namespace": NAMESPACE, "model": NAME}
    for value in (0.15, 0.24, 0.33, 0.41, 0.45):
        story.exporter.set("model_drift", value, labels)
        story.tick()
        time.sleep(1.5)
    served = len(history(story))
    story.until(
        lambda: len(history(story)) > served and history(story)[-1]["outcome"] == "Promoted",
        150,
        "the retrained model promoted",
    )
    story.exporter.set("model_drift", 0.06, labels)
    story.say("the retrained model serves; drift falls back to 0.06")
    story.until(lambda: story.status("retrainpolicies").get("phase") != "Breaching", 20, "calm")

    story.say("a bad model: kubectl annotate rp sentiment mlops.dev/retrain=hotfix")
    before = {r["metadata"]["name"] for r in story.runs()}
    stable_pods = _pods(story, "stable")
    story.annotate_policy(keys.RETRAIN_ANNOTATION, "hotfix")

    def bad_run_created() -> bool:
        for run in story.runs():
            if run["metadata"]["name"] not in before:
                story.bad_models.add(run["spec"]["output"]["modelUri"])
                return True
        return False

    story.until(bad_run_created, 60, "the hotfix run")
    story.until(
        lambda: story.status("modeldeployments").get("phase") == "Degraded",
        150,
        "the bad canary rolled back",
    )
    untouched = _pods(story, "stable") == stable_pods
    story.say(f"rolled back; the stable pods are the same ones as before: {untouched}")

    story.say(f"lineage: mlops-operator lineage {NAME} -n {NAMESPACE}")
    subprocess.run(
        [sys.executable, "-m", "mlops_operator", "lineage", NAME, "-n", NAMESPACE],
        env={**os.environ, "KUBECONFIG": story.kubeconfig},
        check=True,
    )
    print(
        f"\ndemo: done in {time.monotonic() - story.started:.0f}s. The cluster keeps running:\n"
        f"  export KUBECONFIG={REPO}/.local/cluster/kubeconfig PATH={REPO}/.local/bin:$PATH\n"
        f"  kubectl get mlops,deploy,pods -n {NAMESPACE}\n"
        f"  make demo-down   # stop it"
    )
    return 0 if untouched else 1


def _pods(story: Story, variant: str) -> set[str]:
    pods = story.core.list_namespaced_pod(
        NAMESPACE,
        label_selector=f"{keys.MODELDEPLOYMENT_LABEL}={NAME},{keys.VARIANT_LABEL}={variant}",
    ).items
    return {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None}


def _fresh_namespace(core: client.CoreV1Api) -> None:
    try:
        core.delete_namespace(NAMESPACE)
        wait_for(
            lambda: not core.list_namespace(field_selector=f"metadata.name={NAMESPACE}").items,
            90,
            "the old demo namespace to go",
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
        "the namespace's service account",
    )


if __name__ == "__main__":
    sys.exit(main())
