"""Admission against the real apiserver: the CRD schemas and CEL rules refuse bad input.

Every case creates (or updates) an object with server-side dry run and expects a refusal
whose message names the offending field, so a user reading ``kubectl apply``'s error knows
what to fix. The examples must all be accepted, and the apiserver's defaulting must agree
with pydantic's. Fixtures ``k8s``, ``namespace`` and ``crds`` come from
``hack/localcluster/pytest_plugin.py``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlops_operator.api.crdgen import KINDS
from mlops_operator.api.trainingjob import TrainingJob, TrainingJobStatus

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

GROUP = "mlops.dev"
VERSION = "v1alpha1"
PLURAL = {k.crd.kind: k.crd.plural for k in KINDS}
MODEL = {k.crd.kind: k for k in KINDS}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

DELETE = object()
"""A change that removes the field."""


# --- valid bases -------------------------------------------------------------------------

TJ: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "TrainingJob",
    "metadata": {"name": "tj"},
    "spec": {
        "image": "train:1",
        "command": ["python", "train.py"],
        "env": [{"name": "A", "value": "1"}],
        "nodes": 2,
        "gpusPerNode": 1,
        "resources": {"requests": {"cpu": "1"}},
        "dataset": {"uri": "s3://d", "version": "v1"},
        "hyperparameters": {"lr": "0.1"},
        "output": {"modelUri": "s3://m"},
        "podTemplate": {"spec": {"nodeSelector": {"gpu": "a100"}}},
    },
}

PROM = {"address": "http://prometheus:9090"}
MD: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ModelDeployment",
    "metadata": {"name": "md"},
    "spec": {
        "model": {"uri": "s3://m"},
        "server": {"image": "serve:1"},
        "autoscaling": {"minReplicas": 1, "maxReplicas": 3},
        "rollout": {
            "canary": {
                "steps": [{"setWeight": 10}, {"pause": {"duration": "1m"}}, {"analysis": {}}],
                "analysis": {
                    "prometheus": PROM,
                    "metrics": [{"name": "ok", "query": "up", "thresholdRange": {"min": 0.99}}],
                },
            }
        },
    },
}

RP: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "RetrainPolicy",
    "metadata": {"name": "rp"},
    "spec": {
        "trainingJobTemplate": {"spec": {"image": "train:1"}},
        "triggers": {
            "drift": {"prometheus": PROM, "query": "drift", "threshold": 0.3},
            "schedule": {"cron": "0 3 * * 1"},
        },
        "promotion": {"mode": "Automatic"},
    },
}


def edited(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` with ``{"spec.a[0].b": value}`` applied (``DELETE`` removes)."""
    out = copy.deepcopy(body)
    for path, value in changes.items():
        parts: list[str | int] = []
        for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
            parts.append(int(index) if index else name)
        parent: Any = out
        for part in parts[:-1]:
            parent = parent[part]
        if value is DELETE:
            del parent[parts[-1]]
        else:
            parent[parts[-1]] = value
    return out


@dataclass(frozen=True)
class Bad:
    """One invalid manifest: a valid base with ``changes``, refused naming ``field``."""

    id: str
    base: dict[str, Any]
    changes: dict[str, Any]
    field: str
    says: str = ""
    """Another part of the message that must appear (the rule's own words)."""
    strict: bool = False
    """Use ``fieldValidation=Strict`` (kubectl's default) so unknown fields are refused."""

    @property
    def body(self) -> dict[str, Any]:
        return edited(self.base, self.changes)


EXACTLY_ONE_SOURCE = "must set exactly one of uri, trainingJobRef, retrainPolicyRef"
ONE_ACTION = "must set exactly one of setWeight, pause, analysis"
CANARY = "spec.rollout.canary"
ANALYSIS = f"{CANARY}.analysis"

INVALID: list[Bad] = [
    # --- TrainingJob: required fields, types, minimums, enums, formats
    Bad("tj-no-spec", TJ, {"spec": DELETE}, "spec", "Required value"),
    Bad("tj-no-image", TJ, {"spec.image": DELETE}, "spec.image", "Required value"),
    Bad("tj-empty-image", TJ, {"spec.image": ""}, "spec.image"),
    Bad("tj-nodes-zero", TJ, {"spec.nodes": 0}, "spec.nodes", "greater than or equal to 1"),
    Bad("tj-nodes-string", TJ, {"spec.nodes": "two"}, "spec.nodes", "integer"),
    Bad("tj-nodes-float", TJ, {"spec.nodes": 1.5}, "spec.nodes", "integer"),
    Bad("tj-gpus-negative", TJ, {"spec.gpusPerNode": -1}, "spec.gpusPerNode"),
    Bad("tj-procs-zero", TJ, {"spec.procsPerNode": 0}, "spec.procsPerNode"),
    Bad("tj-framework-unknown", TJ, {"spec.framework": "jax"}, "spec.framework", '"pytorch"'),
    Bad("tj-env-no-name", TJ, {"spec.env": [{"value": "x"}]}, "spec.env[0].name", "Required"),
    Bad("tj-env-not-a-list", TJ, {"spec.env": {"A": "1"}}, "spec.env", "array"),
    Bad("tj-command-string", TJ, {"spec.command": "python train.py"}, "spec.command", "array"),
    Bad("tj-backoff-negative", TJ, {"spec.backoffLimit": -1}, "spec.backoffLimit"),
    Bad("tj-deadline-zero", TJ, {"spec.activeDeadlineSeconds": 0}, "spec.activeDeadlineSeconds"),
    Bad(
        "tj-ttl-negative", TJ, {"spec.ttlSecondsAfterFinished": -5}, "spec.ttlSecondsAfterFinished"
    ),
    Bad("tj-suspend-string", TJ, {"spec.suspend": "yes"}, "spec.suspend", "boolean"),
    Bad("tj-output-no-uri", TJ, {"spec.output": {}}, "spec.output.modelUri", "Required"),
    Bad("tj-dataset-no-uri", TJ, {"spec.dataset": {"version": "v1"}}, "spec.dataset.uri"),
    Bad("tj-checkpoint-no-uri", TJ, {"spec.checkpoint": {}}, "spec.checkpoint.uri"),
    Bad(
        "tj-hyperparameter-number",
        TJ,
        {"spec.hyperparameters": {"lr": 0.1}},
        "spec.hyperparameters.lr",
    ),
    Bad("tj-bad-sa-name", TJ, {"spec.serviceAccountName": "Bad_Name"}, "spec.serviceAccountName"),
    Bad("tj-bad-queue-name", TJ, {"spec.queueName": "no spaces"}, "spec.queueName"),
    Bad("tj-resources-string", TJ, {"spec.resources": "4 cpus"}, "spec.resources", "object"),
    Bad("tj-pod-spec-string", TJ, {"spec.podTemplate.spec": "x"}, "spec.podTemplate.spec"),
    Bad("tj-name-too-long", TJ, {"metadata.name": "r" * 49}, "metadata.name", "DNS-1035"),
    Bad("tj-name-starts-with-digit", TJ, {"metadata.name": "7b-run"}, "metadata.name", "letter"),
    Bad("tj-backoff-too-large", TJ, {"spec.backoffLimit": 100}, "spec.backoffLimit"),
    Bad("tj-unknown-field", TJ, {"spec.gpuPerNode": 1}, "spec.gpuPerNode", "unknown field", True),
    # --- ModelDeployment
    Bad("md-name-too-long", MD, {"metadata.name": "m" * 57}, "metadata.name", "DNS-1035"),
    Bad("md-name-with-dot", MD, {"metadata.name": "sentiment.v2"}, "metadata.name", "letter"),
    Bad("md-no-server", MD, {"spec.server": DELETE}, "spec.server", "Required value"),
    Bad("md-no-server-image", MD, {"spec.server.image": DELETE}, "spec.server.image"),
    Bad("md-no-model-source", MD, {"spec.model": {}}, "spec.model", EXACTLY_ONE_SOURCE),
    Bad(
        "md-two-model-sources",
        MD,
        {"spec.model.trainingJobRef": {"name": "tj"}},
        "spec.model",
        EXACTLY_ONE_SOURCE,
    ),
    Bad(
        "md-three-model-sources",
        MD,
        {"spec.model.trainingJobRef": {"name": "a"}, "spec.model.retrainPolicyRef": {"name": "b"}},
        "spec.model",
        EXACTLY_ONE_SOURCE,
    ),
    Bad(
        "md-ref-no-name",
        MD,
        {"spec.model": {"retrainPolicyRef": {}}},
        "spec.model.retrainPolicyRef.name",
    ),
    Bad(
        "md-weight-101",
        MD,
        {f"{CANARY}.steps[0].setWeight": 101},
        f"{CANARY}.steps[0].setWeight",
        "100",
    ),
    Bad(
        "md-weight-negative",
        MD,
        {f"{CANARY}.steps[0].setWeight": -1},
        f"{CANARY}.steps[0].setWeight",
    ),
    Bad(
        "md-weight-string",
        MD,
        {f"{CANARY}.steps[0].setWeight": "10%"},
        f"{CANARY}.steps[0].setWeight",
    ),
    Bad(
        "md-step-two-actions",
        MD,
        {f"{CANARY}.steps[0].pause": {"duration": "1m"}},
        f"{CANARY}.steps[0]",
        ONE_ACTION,
    ),
    Bad("md-step-no-action", MD, {f"{CANARY}.steps[1]": {}}, f"{CANARY}.steps[1]", ONE_ACTION),
    Bad(
        "md-pause-bad-duration",
        MD,
        {f"{CANARY}.steps[1].pause.duration": "5 minutes"},
        f"{CANARY}.steps[1].pause.duration",
    ),
    Bad("md-no-steps", MD, {f"{CANARY}.steps": []}, f"{CANARY}.steps"),
    Bad(
        "md-analysis-step-without-analysis",
        MD,
        {ANALYSIS: DELETE},
        ANALYSIS,
        "required when a step runs an analysis",
    ),
    Bad(
        "md-threshold-empty",
        MD,
        {f"{ANALYSIS}.metrics[0].thresholdRange": {}},
        f"{ANALYSIS}.metrics[0].thresholdRange",
        "must set min or max",
    ),
    Bad(
        "md-threshold-min-above-max",
        MD,
        {f"{ANALYSIS}.metrics[0].thresholdRange": {"min": 2, "max": 1}},
        f"{ANALYSIS}.metrics[0].thresholdRange",
        "min must be <= max",
    ),
    Bad("md-interval-days", MD, {f"{ANALYSIS}.interval": "1d"}, f"{ANALYSIS}.interval"),
    Bad(
        "md-failure-limit-negative",
        MD,
        {f"{ANALYSIS}.failureLimit": -1},
        f"{ANALYSIS}.failureLimit",
    ),
    Bad(
        "md-prometheus-no-scheme",
        MD,
        {f"{ANALYSIS}.prometheus.address": "prometheus:9090"},
        f"{ANALYSIS}.prometheus.address",
    ),
    Bad("md-no-metrics", MD, {f"{ANALYSIS}.metrics": []}, f"{ANALYSIS}.metrics"),
    Bad(
        "md-metric-no-query",
        MD,
        {f"{ANALYSIS}.metrics[0].query": DELETE},
        f"{ANALYSIS}.metrics[0].query",
    ),
    Bad(
        "md-two-routers",
        MD,
        {f"{CANARY}.trafficRouting": {"replicas": {}, "gatewayAPI": {"httpRoute": "r"}}},
        f"{CANARY}.trafficRouting",
        "exactly one of replicas, gatewayAPI",
    ),
    Bad(
        "md-min-above-max-replicas",
        MD,
        {"spec.autoscaling.minReplicas": 5},
        "spec.autoscaling.minReplicas",
        "must be <= maxReplicas",
    ),
    Bad(
        "md-autoscaling-no-max",
        MD,
        {"spec.autoscaling.maxReplicas": DELETE},
        "spec.autoscaling.maxReplicas",
    ),
    Bad("md-port-too-big", MD, {"spec.server.port": 70000}, "spec.server.port", "65535"),
    Bad("md-replicas-negative", MD, {"spec.replicas": -1}, "spec.replicas"),
    Bad(
        "md-readiness-path-relative",
        MD,
        {"spec.server.readinessPath": "healthz"},
        "spec.server.readinessPath",
    ),
    Bad("md-paused-string", MD, {"spec.paused": "no"}, "spec.paused", "boolean"),
    # --- RetrainPolicy
    Bad("rp-name-too-long", RP, {"metadata.name": "p" * 64}, "metadata.name", "63"),
    Bad(
        "rp-no-triggers",
        RP,
        {"spec.triggers": {}},
        "spec.triggers",
        "at least one of drift, schedule, manual",
    ),
    Bad("rp-triggers-missing", RP, {"spec.triggers": DELETE}, "spec.triggers", "Required value"),
    Bad("rp-no-template", RP, {"spec.trainingJobTemplate": DELETE}, "spec.trainingJobTemplate"),
    Bad(
        "rp-template-no-image",
        RP,
        {"spec.trainingJobTemplate.spec.image": DELETE},
        "spec.trainingJobTemplate.spec.image",
    ),
    Bad(
        "rp-template-nodes-zero",
        RP,
        {"spec.trainingJobTemplate.spec.nodes": 0},
        "spec.trainingJobTemplate.spec.nodes",
    ),
    Bad(
        "rp-drift-for-words",
        RP,
        {"spec.triggers.drift.for": "15 minutes"},
        "spec.triggers.drift.for",
    ),
    Bad(
        "rp-drift-interval-days",
        RP,
        {"spec.triggers.drift.interval": "1d"},
        "spec.triggers.drift.interval",
    ),
    Bad(
        "rp-drift-no-threshold",
        RP,
        {"spec.triggers.drift.threshold": DELETE},
        "spec.triggers.drift.threshold",
    ),
    Bad(
        "rp-drift-threshold-string",
        RP,
        {"spec.triggers.drift.threshold": "high"},
        "spec.triggers.drift.threshold",
    ),
    Bad(
        "rp-drift-no-query", RP, {"spec.triggers.drift.query": DELETE}, "spec.triggers.drift.query"
    ),
    Bad(
        "rp-drift-no-prometheus",
        RP,
        {"spec.triggers.drift.prometheus": DELETE},
        "spec.triggers.drift.prometheus",
    ),
    Bad(
        "rp-cron-four-fields",
        RP,
        {"spec.triggers.schedule.cron": "0 3 * *"},
        "spec.triggers.schedule.cron",
    ),
    Bad(
        "rp-cron-words",
        RP,
        {"spec.triggers.schedule.cron": "every day"},
        "spec.triggers.schedule.cron",
    ),
    Bad(
        "rp-cron-minute-61",
        RP,
        {"spec.triggers.schedule.cron": "61 * * * *"},
        "spec.triggers.schedule.cron",
    ),
    Bad(
        "rp-cron-macro",
        RP,
        {"spec.triggers.schedule.cron": "@daily"},
        "spec.triggers.schedule.cron",
    ),
    Bad(
        "rp-bad-time-zone",
        RP,
        {"spec.triggers.schedule.timeZone": "Not A Zone!"},
        "spec.triggers.schedule.timeZone",
    ),
    Bad("rp-cooldown-words", RP, {"spec.cooldown": "1 hour"}, "spec.cooldown"),
    Bad(
        "rp-concurrency-unknown",
        RP,
        {"spec.concurrencyPolicy": "Allow"},
        "spec.concurrencyPolicy",
        '"Forbid"',
    ),
    Bad(
        "rp-promotion-mode-unknown",
        RP,
        {"spec.promotion.mode": "Auto"},
        "spec.promotion.mode",
        '"Automatic"',
    ),
    Bad(
        "rp-evaluation-unbounded",
        RP,
        {"spec.promotion.evaluation": {"metric": "accuracy"}},
        "spec.promotion.evaluation",
        "must set min or max",
    ),
    Bad("rp-max-retrains-zero", RP, {"spec.maxRetrainsPerDay": 0}, "spec.maxRetrainsPerDay"),
    Bad(
        "rp-history-negative",
        RP,
        {"spec.historyLimit": {"succeeded": -1}},
        "spec.historyLimit.succeeded",
    ),
    Bad(
        "rp-deployment-ref-no-name",
        RP,
        {"spec.modelDeploymentRef": {}},
        "spec.modelDeploymentRef.name",
    ),
    Bad("rp-suspend-string", RP, {"spec.suspend": "true"}, "spec.suspend", "boolean"),
]


# --- helpers -----------------------------------------------------------------------------


def api(k8s: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s)


def create(
    k8s: client.ApiClient,
    namespace: str,
    body: dict[str, Any],
    *,
    dry_run: bool = True,
    strict: bool = False,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
    if strict:
        kwargs["field_validation"] = "Strict"
    result = api(k8s).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL[body["kind"]], body, **kwargs
    )
    return cast(dict[str, Any], result)


def refusal(exc: ApiException) -> str:
    """The apiserver's message, as ``kubectl apply`` would print it."""
    assert exc.status is not None
    assert 400 <= exc.status < 500, exc
    try:
        return str(json.loads(exc.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.body)


def examples() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


# --- tests -------------------------------------------------------------------------------


def test_the_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 40
    assert len({b.id for b in INVALID}) == len(INVALID)


@pytest.mark.parametrize("base", [TJ, MD, RP], ids=["tj", "md", "rp"])
def test_bases_are_valid(k8s: client.ApiClient, namespace: str, base: dict[str, Any]) -> None:
    create(k8s, namespace, base, strict=True)


@pytest.mark.parametrize("body", examples(), ids=lambda b: f"{b['kind']}-{b['metadata']['name']}")
def test_example_is_accepted_and_defaults_agree(
    k8s: client.ApiClient, namespace: str, body: dict[str, Any]
) -> None:
    stored = create(k8s, namespace, body, strict=True)
    model = MODEL[body["kind"]]
    by_pydantic = model.model_validate(body).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    assert stored["spec"] == by_pydantic["spec"]


@pytest.mark.parametrize("bad", INVALID, ids=lambda b: b.id)
def test_invalid_manifest_is_refused_naming_the_field(
    k8s: client.ApiClient, namespace: str, bad: Bad
) -> None:
    with pytest.raises(ApiException) as exc:
        create(k8s, namespace, bad.body, strict=bad.strict)
    message = refusal(exc.value)
    assert bad.field in message, message
    assert bad.says in message, message


# --- TrainingJob immutability --------------------------------------------------------------

IMMUTABLE: list[tuple[str, dict[str, Any], str]] = [
    ("image", {"spec.image": "train:2"}, "spec.image"),
    ("command-changed", {"spec.command": ["python", "other.py"]}, "spec.command"),
    ("command-removed", {"spec.command": DELETE}, "spec.command"),
    ("args-added", {"spec.args": ["--fast"]}, "spec.args"),
    ("env-value", {"spec.env[0].value": "2"}, "spec.env"),
    ("framework", {"spec.framework": "pytorch"}, "spec.framework"),
    ("nodes", {"spec.nodes": 4}, "spec.nodes"),
    ("procs-added", {"spec.procsPerNode": 2}, "spec.procsPerNode"),
    ("gpus", {"spec.gpusPerNode": 8}, "spec.gpusPerNode"),
    ("resources", {"spec.resources.requests.cpu": "2"}, "spec.resources"),
    ("dataset-version", {"spec.dataset.version": "v2"}, "spec.dataset"),
    ("hyperparameters", {"spec.hyperparameters.lr": "0.2"}, "spec.hyperparameters"),
    ("output", {"spec.output.modelUri": "s3://other"}, "spec.output"),
    ("checkpoint-added", {"spec.checkpoint": {"uri": "s3://c"}}, "spec.checkpoint"),
    ("pod-template-spec", {"spec.podTemplate.spec.nodeSelector.gpu": "h100"}, "spec.podTemplate"),
    ("queue-added", {"spec.queueName": "q"}, "spec.queueName"),
    ("priority-class-added", {"spec.priorityClassName": "high"}, "spec.priorityClassName"),
    ("service-account-added", {"spec.serviceAccountName": "sa"}, "spec.serviceAccountName"),
]


@pytest.fixture
def stored_tj(k8s: client.ApiClient, namespace: str) -> dict[str, Any]:
    return create(k8s, namespace, TJ, dry_run=False)


def replace(k8s: client.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    result = api(k8s).replace_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL[body["kind"]],
        body["metadata"]["name"],
        body,
        dry_run="All",
    )
    return cast(dict[str, Any], result)


@pytest.mark.parametrize(("case", "changes", "field"), IMMUTABLE, ids=[c[0] for c in IMMUTABLE])
def test_trainingjob_pod_shaping_fields_are_immutable(
    k8s: client.ApiClient,
    namespace: str,
    stored_tj: dict[str, Any],
    case: str,
    changes: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(ApiException) as exc:
        replace(k8s, namespace, edited(stored_tj, changes))
    message = refusal(exc.value)
    assert f"{field} is immutable" in message, message


@pytest.mark.parametrize(
    "changes",
    [
        {"spec.suspend": True},
        {"spec.backoffLimit": 3},
        {"spec.activeDeadlineSeconds": 600},
        {"spec.ttlSecondsAfterFinished": 60},
        {"metadata.labels": {"team": "a"}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_trainingjob_lifecycle_fields_stay_mutable(
    k8s: client.ApiClient, namespace: str, stored_tj: dict[str, Any], changes: dict[str, Any]
) -> None:
    replace(k8s, namespace, edited(stored_tj, changes))


def test_retrainpolicy_template_stays_editable(k8s: client.ApiClient, namespace: str) -> None:
    stored = create(k8s, namespace, RP, dry_run=False)
    replace(k8s, namespace, edited(stored, {"spec.trainingJobTemplate.spec.image": "train:2"}))


# --- status, discovery -----------------------------------------------------------------------


def test_status_written_by_the_operator_is_accepted_unchanged(
    k8s: client.ApiClient, namespace: str, stored_tj: dict[str, Any]
) -> None:
    """What the models dump for a status patch is what the status schema stores."""
    status = TrainingJobStatus.model_validate(
        {
            "phase": "Succeeded",
            "observedGeneration": 1,
            "attempts": 1,
            "startTime": "2026-11-22T04:00:00Z",
            "completionTime": "2026-11-22T05:00:00Z",
            "nodes": {"active": 0, "ready": 0, "succeeded": 2, "failed": 0},
            "model": {"uri": "s3://m"},
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": "True",
                    "reason": "Completed",
                    "message": "done",
                    "lastTransitionTime": "2026-11-22T05:00:00Z",
                    "observedGeneration": 1,
                }
            ],
            "triggeredBy": {"retrainPolicy": "rp", "reason": "Drift", "value": "0.4"},
        }
    )
    patch = {"status": status.model_dump(by_alias=True, exclude_none=True, mode="json")}
    result = cast(
        dict[str, Any],
        api(k8s).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "trainingjobs", "tj", patch
        ),
    )
    assert result["status"] == patch["status"]
    assert TrainingJob.model_validate(result).status == status


def test_discovery_names_and_category(k8s: client.ApiClient) -> None:
    resources = api(k8s).get_api_resources(GROUP, VERSION).resources
    found = {r.name: r for r in resources if "/" not in r.name}
    assert set(found) == {"trainingjobs", "modeldeployments", "retrainpolicies"}
    for kind in KINDS:
        resource = found[kind.crd.plural]
        assert resource.kind == kind.crd.kind
        assert resource.namespaced
        assert resource.short_names == list(kind.crd.short_names)
        assert resource.categories == ["mlops"]
