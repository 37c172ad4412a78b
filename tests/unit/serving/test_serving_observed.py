"""Observed views of a ModelDeployment's children, from raw objects as the API server returns
them (the shapes below are what kube-apiserver 1.36 and Gateway API v1 controllers write)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.keys import Variant
from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.core.serving import builders
from mlops_operator.core.serving.analysis import Measurement
from mlops_operator.core.serving.defaults import ServingDefaults
from mlops_operator.core.serving.observed import (
    DeploymentState,
    HpaState,
    ParentState,
    RouteState,
    ServiceState,
    deployment_state,
    hpa_state,
    observe,
    route_state,
    service_state,
)
from mlops_operator.core.serving.source import Source

MD_UID = "0b6f2f4e-6a55-4b59-a0a4-6f3f4b7c2d11"
MD = ModelDeployment.model_validate(
    {
        "metadata": {"name": "sentiment", "namespace": "nlp", "uid": MD_UID, "generation": 1},
        "spec": {"model": {"uri": "s3://m/v1"}, "server": {"image": "srv:1"}, "replicas": 3},
    }
)


def deployment_body(variant: Variant = Variant.STABLE) -> dict[str, Any]:
    """Our manifest after a round trip through the API server, mid-rollout."""
    body = copy.deepcopy(builders.deployment(MD, variant, "s3://m/v7", 7, 3, ServingDefaults()))
    body["metadata"].update(
        {"uid": "dep-uid", "generation": 4, "resourceVersion": "777", "creationTimestamp": "x"}
    )
    body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "5"
    body["status"] = {
        "observedGeneration": 4,
        "replicas": 4,
        "updatedReplicas": 2,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "True"}],
    }
    return body


def test_deployment_state() -> None:
    body = deployment_body()
    assert deployment_state(body) == DeploymentState(
        name="sentiment-stable",
        uid="dep-uid",
        owner_uid=MD_UID,
        variant="stable",
        revision=7,
        model="s3://m/v7",
        template_hash=body["metadata"]["annotations"]["mlops.dev/template-hash"],
        replicas=3,
        generation=4,
        observed_generation=4,
        current=4,
        updated=2,
        ready=3,
        available=3,
    )


def test_deployment_state_of_a_fresh_deployment_without_status() -> None:
    body = deployment_body(Variant.CANARY)
    del body["status"]
    del body["spec"]["replicas"]  # the API default is 1
    state = deployment_state(body)
    assert (state.variant, state.replicas, state.ready, state.observed_generation) == (
        "canary",
        1,
        0,
        0,
    )
    assert not state.observed


def _state(**kw: Any) -> DeploymentState:
    base: dict[str, Any] = {
        "name": "d",
        "uid": "u",
        "owner_uid": None,
        "variant": "canary",
        "revision": 1,
        "model": "m",
        "template_hash": "h",
        "replicas": 2,
        "generation": 3,
        "observed_generation": 3,
        "current": 2,
        "updated": 2,
        "ready": 2,
        "available": 2,
    }
    return DeploymentState(**{**base, **kw})


def test_rolled_out() -> None:
    assert _state().rolled_out(2)
    assert not _state().rolled_out(3)  # the count asked for has not been written yet
    assert not _state(observed_generation=2).rolled_out(2)  # the controller lags
    assert not _state(updated=1).rolled_out(2)  # an old pod is still counted
    assert not _state(current=3).rolled_out(2)  # an old pod is still counted
    assert not _state(ready=1).rolled_out(2)
    assert _state(replicas=0, current=0, updated=0, ready=0).rolled_out(0)


def test_deployment_without_our_server_container_has_no_model() -> None:
    body = deployment_body()
    body["spec"]["template"]["spec"]["containers"][0]["name"] = "sidecar"
    assert deployment_state(body).model is None


def test_deployment_of_someone_else() -> None:
    body = deployment_body()
    body["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "uid": "other", "controller": False},
        {"kind": "Rollout", "uid": "argo", "controller": True},
    ]
    assert deployment_state(body).owner_uid == "argo"
    body["metadata"]["ownerReferences"] = []
    assert deployment_state(body).owner_uid is None


def test_service_state_keeps_only_the_port_fields_we_write() -> None:
    body = copy.deepcopy(builders.service(MD, None))
    body["spec"]["clusterIP"] = "10.0.0.7"
    body["spec"]["ports"][0]["nodePort"] = 31000
    assert service_state(body) == ServiceState(
        name="sentiment",
        owner_uid=MD_UID,
        ports=({"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},),
    )


def test_hpa_state() -> None:
    md = ModelDeployment.model_validate(
        {
            **MD.model_dump(by_alias=True, exclude_none=True),
            "spec": {
                **MD.model_dump(by_alias=True, exclude_none=True)["spec"],
                "autoscaling": {"minReplicas": 2, "maxReplicas": 6},
            },
        }
    )
    body = copy.deepcopy(builders.hpa(md))
    body["metadata"]["uid"] = "hpa-uid"
    body["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 300}}  # defaulted
    assert hpa_state(body) == HpaState(
        name="sentiment",
        uid="hpa-uid",
        owner_uid=MD_UID,
        target="sentiment-stable",
        min_replicas=2,
        max_replicas=6,
        cpu_utilization=80,
    )
    body["spec"]["metrics"].append({"type": "Pods", "pods": {}})
    assert hpa_state(body).cpu_utilization is None  # not the one target we write


ROUTE: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {
        "name": "sentiment",
        "namespace": "nlp",
        "generation": 6,
        "resourceVersion": "4242",
    },
    "spec": {
        "parentRefs": [
            {"name": "public"},
            {"name": "internal", "namespace": "gw", "sectionName": "http"},
        ],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}],
                "backendRefs": [
                    {"name": "sentiment-stable", "port": 8080, "weight": 90},
                    {"name": "sentiment-canary", "port": 8080, "weight": 10},
                ],
            }
        ],
    },
    "status": {
        "parents": [
            {
                "parentRef": {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": "public",
                },
                "controllerName": "example.net/gateway-controller",
                "conditions": [
                    {
                        "type": "Accepted",
                        "status": "True",
                        "reason": "Accepted",
                        "message": "",
                        "observedGeneration": 6,
                    },
                    {
                        "type": "ResolvedRefs",
                        "status": "True",
                        "reason": "ResolvedRefs",
                        "message": "",
                        "observedGeneration": 6,
                    },
                ],
            },
            {
                "parentRef": {"name": "internal", "namespace": "gw", "sectionName": "http"},
                "controllerName": "example.net/gateway-controller",
                "conditions": [
                    {
                        "type": "Accepted",
                        "status": "True",
                        "reason": "Accepted",
                        "message": "",
                        "observedGeneration": 5,
                    },
                    {
                        "type": "ResolvedRefs",
                        "status": "False",
                        "reason": "BackendNotFound",
                        "message": "service sentiment-canary not found",
                        "observedGeneration": 5,
                    },
                ],
            },
        ]
    },
}


def test_route_state() -> None:
    state = route_state(ROUTE)
    assert state == RouteState(
        name="sentiment",
        generation=6,
        resource_version="4242",
        rules=tuple(ROUTE["spec"]["rules"]),
        parents=(
            ParentState(
                ref="nlp/public",
                accepted=True,
                accepted_generation=6,
                resolved_refs=True,
                resolved_generation=6,
            ),
            ParentState(
                ref="gw/internal/http",
                accepted=True,
                accepted_generation=5,
                resolved_refs=False,
                resolved_generation=5,
                message="ResolvedRefs: BackendNotFound service sentiment-canary not found",
            ),
        ),
    )
    assert state.parents[0].current(6)
    assert not state.parents[0].current(7)  # a newer spec nobody has looked at
    assert not state.parents[1].current(5)  # refs not resolved


def test_route_state_copies_the_rules() -> None:
    body = copy.deepcopy(ROUTE)
    state = route_state(body)
    body["spec"]["rules"][0]["backendRefs"][0]["weight"] = 1
    assert state.rules[0]["backendRefs"][0]["weight"] == 90


def test_route_without_status() -> None:
    body = copy.deepcopy(ROUTE)
    del body["status"]
    assert route_state(body).parents == ()


def test_observe_places_the_deployments_by_variant() -> None:
    stable, canary = deployment_body(Variant.STABLE), deployment_body(Variant.CANARY)
    stranger = copy.deepcopy(stable)
    del stranger["metadata"]["labels"]["mlops.dev/variant"]
    measurement = Measurement(datetime(2026, 11, 22, tzinfo=UTC))
    observed = observe(
        Source("s3://m/v7"),
        deployments=[canary, stranger, stable],
        services=[builders.service(MD, None)],
        route=ROUTE,
        measurement=measurement,
    )
    assert observed.stable == deployment_state(stable)
    assert observed.canary == deployment_state(canary)
    assert observed.deployment(Variant.CANARY) == observed.canary
    assert observed.service("sentiment") is not None
    assert observed.service("sentiment-canary") is None
    assert observed.hpa is None
    assert observed.route == route_state(ROUTE)
    assert observed.measurement is measurement
