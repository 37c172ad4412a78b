"""ModelDeployment builders: the two Deployments, the three Services and the HPA, by equality.

Full expected manifests for a realistic ModelDeployment, so any change to what lands in the
cluster shows up here.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlops_operator.api.keys import (
    MANAGED_BY,
    MODELDEPLOYMENT_LABEL,
    OPERATOR,
    RETRAINPOLICY_LABEL,
    REVISION_LABEL,
    VARIANT_LABEL,
    Variant,
)
from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.core.serving import builders
from mlops_operator.core.serving.defaults import ServingDefaults

D = ServingDefaults()
UID = "0b6f2f4e-6a55-4b59-a0a4-6f3f4b7c2d11"
MODEL = "s3://ml-models/sentiment/run-2026-11-01"

# examples/modeldeployment-canary.yaml (shortened), as the apiserver hands it over.
BODY: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {
        "name": "sentiment",
        "namespace": "nlp",
        "uid": UID,
        "generation": 3,
        "resourceVersion": "9001",
        # Not ours: must not be copied onto the children.
        "labels": {"app.kubernetes.io/part-of": "sentiment"},
    },
    "spec": {
        "model": {"uri": MODEL},
        "server": {
            "image": "ghcr.io/example/sentiment-serve:1.4.2",
            "args": ["--model-dir=/mnt/models"],
            "port": 8080,
            "readinessPath": "/v2/health/ready",
            "env": [{"name": "WORKERS", "value": "2"}],
        },
        "replicas": 4,
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
    },
}

OWNER = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "ModelDeployment",
    "name": "sentiment",
    "uid": UID,
    "controller": True,
    "blockOwnerDeletion": True,
}
LABELS = {MANAGED_BY: OPERATOR, MODELDEPLOYMENT_LABEL: "sentiment"}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def make(**spec: Any) -> ModelDeployment:
    body = copy.deepcopy(BODY)
    for key, value in spec.items():
        if value is None:
            body["spec"].pop(key, None)
        else:
            body["spec"][key] = value
    return ModelDeployment.model_validate(body)


def expected_template(variant: str, model: str, revision: int) -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {**LABELS, VARIANT_LABEL: variant, REVISION_LABEL: str(revision)},
        },
        "spec": {
            "securityContext": RESTRICTED_POD,
            "containers": [
                {
                    "name": "server",
                    "image": "ghcr.io/example/sentiment-serve:1.4.2",
                    "args": ["--model-dir=/mnt/models"],
                    "env": [
                        {"name": "MODEL_URI", "value": model},
                        {"name": "WORKERS", "value": "2"},
                    ],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}},
                    "securityContext": RESTRICTED_CONTAINER,
                    "resources": {
                        "requests": {"cpu": "2", "memory": "4Gi"},
                        "limits": {"memory": "4Gi"},
                    },
                }
            ],
        },
    }


def test_stable_deployment() -> None:
    manifest = builders.deployment(make(), Variant.STABLE, MODEL, 1, 4, D)
    template = expected_template("stable", MODEL, 1)
    assert manifest == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "sentiment-stable",
            "namespace": "nlp",
            "labels": {**LABELS, VARIANT_LABEL: "stable"},
            "annotations": {"mlops.dev/template-hash": builders.template_hash(template)},
            "ownerReferences": [OWNER],
        },
        "spec": {
            "replicas": 4,
            # The revision is not in the selector: a promote changes the template, never
            # the (immutable) selector.
            "selector": {
                "matchLabels": {MODELDEPLOYMENT_LABEL: "sentiment", VARIANT_LABEL: "stable"}
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": template,
        },
    }


def test_canary_deployment_differs_only_by_variant_model_revision_and_count() -> None:
    manifest = builders.deployment(make(), Variant.CANARY, "s3://m/new", 7, 1, D)
    assert manifest["metadata"]["name"] == "sentiment-canary"
    assert manifest["metadata"]["labels"][VARIANT_LABEL] == "canary"
    assert manifest["spec"]["replicas"] == 1
    assert manifest["spec"]["selector"] == {
        "matchLabels": {MODELDEPLOYMENT_LABEL: "sentiment", VARIANT_LABEL: "canary"}
    }
    assert manifest["spec"]["template"] == expected_template("canary", "s3://m/new", 7)


def test_hpa_owned_stable_has_no_replica_count() -> None:
    manifest = builders.deployment(make(), Variant.STABLE, MODEL, 1, None, D)
    assert "replicas" not in manifest["spec"]


def test_tcp_probe_without_readiness_path_and_no_optional_fields() -> None:
    md = make(server={"image": "srv:1", "port": 9000}, resources=None)
    template = builders.pod_template(md, Variant.STABLE, MODEL, 2, D)
    assert template["spec"]["containers"] == [
        {
            "name": "server",
            "image": "srv:1",
            "env": [{"name": "MODEL_URI", "value": MODEL}],
            "ports": [{"name": "http", "containerPort": 9000, "protocol": "TCP"}],
            "readinessProbe": {"tcpSocket": {"port": "http"}},
            "securityContext": RESTRICTED_CONTAINER,
        }
    ]
    assert "tolerations" not in template["spec"]


def test_command_is_passed_through() -> None:
    md = make(server={"image": "srv:1", "command": ["serve"], "args": ["--fast"]})
    container = builders.pod_template(md, Variant.STABLE, MODEL, 1, D)["spec"]["containers"][0]
    assert (container["command"], container["args"]) == (["serve"], ["--fast"])


def test_gpus_add_the_limit_and_the_toleration() -> None:
    defaults = ServingDefaults(gpu_resource="amd.com/gpu", gpu_toleration_key="amd.com/gpu")
    md = make(gpusPerReplica=2)
    spec = builders.pod_template(md, Variant.CANARY, MODEL, 1, defaults)["spec"]
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"memory": "4Gi", "amd.com/gpu": 2},
    }
    assert spec["tolerations"] == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_the_users_model_uri_env_never_overrides_ours() -> None:
    server = {"image": "srv:1", "env": [{"name": "MODEL_URI", "value": "s3://wrong"}]}
    container = builders.pod_template(make(server=server), Variant.STABLE, MODEL, 1, D)
    assert container["spec"]["containers"][0]["env"] == [{"name": "MODEL_URI", "value": MODEL}]


def test_the_builders_never_share_state_with_the_spec() -> None:
    md = make()
    template = builders.pod_template(md, Variant.STABLE, MODEL, 1, D)
    template["spec"]["containers"][0]["env"][1]["value"] = "99"
    template["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Ti"
    assert md.spec.server.env == [{"name": "WORKERS", "value": "2"}]
    assert md.spec.resources == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"memory": "4Gi"},
    }


def test_lineage_labels_of_the_owner_reach_the_pods() -> None:
    body = copy.deepcopy(BODY)
    body["metadata"]["labels"][RETRAINPOLICY_LABEL] = "nightly"
    md = ModelDeployment.model_validate(body)
    labels = builders.pod_template(md, Variant.STABLE, MODEL, 1, D)["metadata"]["labels"]
    assert labels == {
        **LABELS,
        RETRAINPOLICY_LABEL: "nightly",
        VARIANT_LABEL: "stable",
        REVISION_LABEL: "1",
    }


def test_template_hash_ignores_key_order_and_sees_every_change() -> None:
    a = builders.pod_template(make(), Variant.STABLE, MODEL, 1, D)
    b = dict(reversed(list(a.items())))
    assert builders.template_hash(a) == builders.template_hash(b)
    assert len(builders.template_hash(a)) == 16
    for other in (
        builders.pod_template(make(), Variant.STABLE, MODEL, 2, D),
        builders.pod_template(make(), Variant.STABLE, "s3://m/other", 1, D),
        builders.pod_template(make(replicas=9, gpusPerReplica=1), Variant.STABLE, MODEL, 1, D),
    ):
        assert builders.template_hash(other) != builders.template_hash(a)


def test_deployment_patch_of_the_template_clears_tolerations_no_longer_wanted() -> None:
    manifest = builders.deployment(make(), Variant.STABLE, "s3://m/v2", 2, 4, D)
    patch = builders.deployment_patch(manifest, template=True, replicas=False)
    template = copy.deepcopy(manifest["spec"]["template"])
    template["spec"]["tolerations"] = None
    assert patch == {
        "metadata": {"annotations": manifest["metadata"]["annotations"]},
        "spec": {"template": template},
    }


def test_deployment_patch_of_the_count_only() -> None:
    manifest = builders.deployment(make(), Variant.CANARY, MODEL, 2, 3, D)
    assert builders.deployment_patch(manifest, template=False, replicas=True) == {
        "spec": {"replicas": 3}
    }


def test_deployment_patch_keeps_wanted_tolerations() -> None:
    manifest = builders.deployment(make(gpusPerReplica=1), Variant.CANARY, MODEL, 2, 3, D)
    patch = builders.deployment_patch(manifest, template=True, replicas=True)
    assert patch["spec"]["replicas"] == 3
    assert patch["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


@pytest.mark.parametrize(
    ("variant", "name", "selector"),
    [
        (None, "sentiment", {MODELDEPLOYMENT_LABEL: "sentiment"}),
        (
            Variant.STABLE,
            "sentiment-stable",
            {MODELDEPLOYMENT_LABEL: "sentiment", VARIANT_LABEL: "stable"},
        ),
        (
            Variant.CANARY,
            "sentiment-canary",
            {MODELDEPLOYMENT_LABEL: "sentiment", VARIANT_LABEL: "canary"},
        ),
    ],
)
def test_services(variant: Variant | None, name: str, selector: dict[str, str]) -> None:
    assert builders.service(make(), variant) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "nlp",
            "labels": LABELS,
            "ownerReferences": [OWNER],
        },
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def test_all_three_services() -> None:
    names = [s["metadata"]["name"] for s in builders.services(make())]
    assert names == ["sentiment", "sentiment-stable", "sentiment-canary"]


def test_hpa_on_the_stable_deployment() -> None:
    md = make(
        autoscaling={"minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70}
    )
    assert builders.hpa(md) == {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "sentiment",
            "namespace": "nlp",
            "labels": LABELS,
            "ownerReferences": [OWNER],
        },
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "sentiment-stable",
            },
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def test_hpa_without_a_cpu_target_states_the_default() -> None:
    spec = builders.hpa_spec(make(autoscaling={"maxReplicas": 5}))
    assert spec["minReplicas"] == 1
    # Spelled out, so the object the API server returns is the one we wrote.
    assert spec["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }


def test_hpa_needs_autoscaling() -> None:
    with pytest.raises(ValueError, match="autoscaling"):
        builders.hpa_spec(make())
