"""The whole loop with no human step: drift -> retrain -> evaluation -> canary -> lineage.

A ModelDeployment follows a RetrainPolicy (``spec.model.retrainPolicyRef``). The model's
drift, published by an exporter and scraped by the real Prometheus, rises and stays above
the threshold past ``for``; the policy starts one TrainingJob named after the breach; KWOK
completes it with metrics in its termination message; the policy promotes its model
through the evaluation gate; the ModelDeployment rolls it out by canary under analysis of
a healthy error ratio and promotes it. Then the audit trail is walked back from the served
model to the drift value that started it, reading nothing but status (and the run's
immutable spec, for its dataset and hyperparameters).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from kubernetes import client

from e2e.retrainpolicies import (
    Drift,
    RetrainPolicies,
    drift_query,
    drift_trigger,
    find,
    manifest,
    run_spec,
    time_id,
    triggered_by,
)
from localcluster.exporter import Exporter
from localcluster.prometheus import PrometheusServer
from mlops_operator import GROUP, VERSION
from mlops_operator.api.keys import RETRAIN_ANNOTATION, RETRAINPOLICY_LABEL

ERROR_RATIO = "model_error_ratio"


def lineage(kubeconfig: str, namespace: str, md: str) -> dict[str, str]:
    """``mlops-operator lineage <md> -o json`` as a user runs it: step -> object and detail."""
    out = subprocess.run(
        [sys.executable, "-m", "mlops_operator", "lineage", md, "-n", namespace, "-o", "json"],
        env={**os.environ, "KUBECONFIG": kubeconfig},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = json.loads(out)
    chain = {r["step"]: r["detail"] for r in rows}
    chain["produced by"] = next(r["object"] for r in rows if r["step"] == "produced by")
    return chain


def deployment(name: str, policy: str, prometheus: str) -> dict[str, Any]:
    """A ModelDeployment following ``policy``, rolled out 50% -> analysis -> promote."""
    query = ERROR_RATIO + '{namespace="{{namespace}}",variant="{{variant}}"}'
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"retrainPolicyRef": {"name": policy}},
            "server": {"image": "registry.example/serve:1"},
            "replicas": 2,
            "rollout": {
                "canary": {
                    "steps": [{"setWeight": 50}, {"analysis": {}}],
                    "analysis": {
                        "interval": "1s",
                        "failureLimit": 1,
                        "prometheus": {"address": prometheus},
                        "metrics": [
                            {
                                "name": "error-ratio",
                                "query": f"max({query})",
                                "thresholdRange": {"max": 0.05},
                            }
                        ],
                    },
                    "progressDeadlineSeconds": 120,
                }
            },
        },
    }


def test_drift_retrains_evaluates_rolls_out_and_leaves_a_lineage_in_status(
    rps: RetrainPolicies,
    kubeconfig: str,
    prometheus: PrometheusServer,
    exporter: Exporter,
) -> None:
    ns = rps.namespace
    for variant in ("stable", "canary"):
        exporter.set(ERROR_RATIO, 0.01, {"namespace": ns, "variant": variant})
    exporter.wait_scraped(f'{ERROR_RATIO}{{namespace="{ns}"}}', 0.01)
    drift = Drift(exporter, ns, "churn")
    drift.set(0.1)

    dataset = {"uri": "s3://data/churn", "version": "2026-11-20"}
    hyperparameters = {"learning-rate": "0.01", "epochs": "3"}
    rps.create_md(deployment("churn-serve", "churn", prometheus.url))
    rps.create(
        manifest(
            "churn",
            triggers={"drift": drift_trigger(prometheus.url, ns, threshold=0.3, for_="4s")},
            template=run_spec(
                metrics={"accuracy": 0.93, "val_loss": 0.2},
                dataset=dataset,
                hyperparameters=hyperparameters,
            ),
            modelDeploymentRef={"name": "churn-serve"},
            cooldown="0s",
            # The first model and the retrain; then the budget holds the loop still.
            maxRetrainsPerDay=2,
            promotion={"mode": "Automatic", "evaluation": {"metric": "accuracy", "min": 0.9}},
            # The first model, so that there is something to serve before the drift.
            annotations={RETRAIN_ANNOTATION: "first"},
        )
    )

    # The first model is served at once (no canary against nothing).
    (first,) = rps.wait_runs("churn", 1)
    first_name = first["metadata"]["name"]
    policy = rps.wait(
        "churn",
        lambda s: (s.get("latestModel") or {}).get("trainingJob") == first_name,
        "the first model promoted",
    )
    first_uri = policy["latestModel"]["uri"]
    rps.wait_md(
        "churn-serve",
        lambda s: (s.get("stable") or {}).get("model") == first_uri and s.get("phase") == "Healthy",
        "serving the first model",
        timeout=90,
    )

    # Drift rises and stays: a breach window opens, lasts `for`, and starts one run.
    drift.set(0.8)
    breaching = rps.wait("churn", lambda s: s.get("breachingSince"), "a breach window", timeout=30)
    since = breaching["breachingSince"]
    assert find(breaching, "Breaching")["reason"] == "AboveThreshold"
    runs = rps.wait_runs("churn", 2, timeout=30)
    run = runs[1]
    name = run["metadata"]["name"]
    # Named from the trigger: the breach's start.
    assert name == f"churn-d-{time_id(since)}", rps.describe("churn")
    assert run["metadata"]["labels"][RETRAINPOLICY_LABEL] == "churn"
    owner = run["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("RetrainPolicy", "churn", True)
    started = rps.wait_event("churn", "RetrainStarted", containing=name)
    assert "drift value 0.8 above threshold 0.3" in started.message

    done = rps.wait_run_phase(name, "Succeeded")
    assert done["metrics"] == {"accuracy": 0.93, "val_loss": 0.2}
    cause = triggered_by(rps.run(name))
    assert cause["retrainPolicy"] == "churn"
    assert cause["reason"] == "Drift"
    assert cause["value"] == "0.8"
    assert cause["query"] == drift_query(ns)
    assert cause["time"] >= since

    # The evaluation gate passes: its model is the policy's latest.
    policy = rps.wait(
        "churn",
        lambda s: (s.get("latestModel") or {}).get("trainingJob") == name,
        "the retrained model promoted",
    )
    latest = policy["latestModel"]
    assert latest["uri"] == done["model"]["uri"]
    assert latest["uri"] != first_uri  # each run writes its own model
    promoted = find(policy, "Promoted")
    assert promoted["status"] == "True"
    assert "accuracy 0.93" in promoted["message"]
    assert "ModelPromoted" in rps.reasons("churn")

    # The ModelDeployment rolls it out by canary with no spec edit, and promotes it.
    canary = rps.wait_md(
        "churn-serve",
        lambda s: (s.get("canary") or {}).get("model") == latest["uri"],
        "a canary of the retrained model",
        timeout=60,
    )["canary"]
    assert canary["trainingJob"] == name
    md = rps.wait_md(
        "churn-serve",
        lambda s: (
            (s.get("stable") or {}).get("model") == latest["uri"]
            and not s.get("canary")
            and s.get("phase") == "Healthy"
        ),
        "the retrained model promoted to stable",
        timeout=120,
    )
    last = md["history"][-1]
    assert (last["model"], last["outcome"], last["trainingJob"]) == (
        latest["uri"],
        "Promoted",
        name,
    )
    drift.set(0.1)  # the new model fixed it

    # Lineage, from what is served back to why: status alone.
    served = rps.md("churn-serve")["status"]["stable"]
    producer = served.get("trainingJob") or next(
        h["trainingJob"] for h in reversed(md["history"]) if h["model"] == served["model"]
    )
    tj = rps.run(producer)
    assert tj["status"]["model"]["uri"] == served["model"]
    assert tj["spec"]["dataset"] == dataset
    assert tj["spec"]["hyperparameters"] == hyperparameters
    assert tj["status"]["metrics"] == {"accuracy": 0.93, "val_loss": 0.2}
    assert triggered_by(tj)["reason"] == "Drift"
    assert triggered_by(tj)["value"] == "0.8"
    # What lineage reads cannot be rewritten after the fact.
    with pytest.raises(client.ApiException) as refused:
        rps.custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, "trainingjobs", producer, {"spec": {"dataset": {"version": "x"}}}
        )
    assert refused.value.status == 422
    # The same chain as one printout, as a user asks for it.
    chain = lineage(kubeconfig, ns, "churn-serve")
    assert chain["served model"].startswith(latest["uri"])
    assert chain["produced by"] == f"TrainingJob {ns}/{name}"
    assert f"{dataset['uri']} @ {dataset['version']}" in chain["dataset"]
    assert "learning-rate=0.01" in chain["hyperparameters"]
    assert "accuracy=0.93" in chain["metrics"]
    assert chain["triggered by"].startswith("Drift; value 0.8; at ")
    assert drift_query(ns) in chain["triggered by"]

    # Exactly one run answered the drift; the daily budget now holds the loop still.
    assert rps.run_names("churn") == [first_name, name]
    policy = rps.wait_condition("churn", "CoolingDown", "True", "BudgetSpent")
    assert rps.status("churn")["nextEligibleTime"]
    assert rps.reasons("churn").count("RetrainStarted") == 2
