"""Bad pass-through data that admission lets in: InvalidSpec naming the field, never a crash.

Admission sees ``spec.podTemplate.spec`` and ``spec.resources`` as opaque objects, so any
JSON can reach the builders. Every well-known field set to a value of another JSON type
must give :class:`InvalidSpec` with that field's path; random mutations of a full template
must give a manifest or InvalidSpec, never another exception.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.api.parse import InvalidSpec
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.training import builders
from mlops_operator.core.training.observed import Observed
from mlops_operator.core.training.reconcile import reconcile
from mlops_operator.settings import TrainingDefaults

D = TrainingDefaults()
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def make(**spec: Any) -> TrainingJob:
    return TrainingJob.model_validate(
        {
            "metadata": {"name": "mini", "namespace": "default", "uid": "u-1", "generation": 1},
            "spec": {"image": "busybox:1.36", "gpusPerNode": 1, **spec},
        }
    )


def build(**spec: Any) -> dict[str, Any]:
    return builders.job(make(**spec), 1, D, suspend=False, active_deadline_seconds=None)


def refusal(**spec: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidSpec) as exc:
        build(**spec)
    return exc.value.errors


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


#: One value of every JSON type; each is wrong for a field of any other type.
SAMPLES: list[Any] = ["oops", 7, 0.5, True, ["oops"], {"oops": 1}]

#: Fields of a PodSpec with a value of the right type (written from the Kubernetes API
#: reference, independently of the checker).
POD_FIELDS: dict[str, Any] = {
    "volumes": [{"name": "v", "emptyDir": {}}],
    "initContainers": [{"name": "init", "image": "busybox"}],
    "containers": [{"name": "trainer"}],
    "ephemeralContainers": [{"name": "debug"}],
    "restartPolicy": "Never",
    "terminationGracePeriodSeconds": 30,
    "activeDeadlineSeconds": 100,
    "dnsPolicy": "ClusterFirst",
    "nodeSelector": {"zone": "a"},
    "serviceAccountName": "trainer",
    "serviceAccount": "trainer",
    "automountServiceAccountToken": False,
    "nodeName": "node-1",
    "hostNetwork": False,
    "hostPID": False,
    "hostIPC": False,
    "shareProcessNamespace": True,
    "securityContext": {"runAsUser": 1000},
    "imagePullSecrets": [{"name": "regcred"}],
    "hostname": "h",
    "subdomain": "s",
    "affinity": {"nodeAffinity": {}},
    "schedulerName": "default-scheduler",
    "tolerations": [{"key": "spot", "operator": "Exists"}],
    "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
    "priorityClassName": "high",
    "priority": 1000,
    "dnsConfig": {"nameservers": ["1.1.1.1"]},
    "readinessGates": [{"conditionType": "x"}],
    "runtimeClassName": "nvidia",
    "enableServiceLinks": False,
    "preemptionPolicy": "Never",
    "overhead": {"cpu": "100m"},
    "topologySpreadConstraints": [{"maxSkew": 1}],
    "setHostnameAsFQDN": False,
    "os": {"name": "linux"},
    "hostUsers": False,
    "schedulingGates": [{"name": "wait"}],
    "resourceClaims": [{"name": "gpu"}],
    "resources": {"limits": {"cpu": "8"}},
}

CONTAINER_FIELDS: dict[str, Any] = {
    "name": "trainer",
    "image": "busybox",
    "command": ["python"],
    "args": ["train.py"],
    "workingDir": "/app",
    "ports": [{"containerPort": 80}],
    "envFrom": [{"configMapRef": {"name": "c"}}],
    "env": [{"name": "A", "value": "1"}],
    "resources": {"limits": {"memory": "1Gi"}},
    "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
    "restartPolicy": "Always",
    "volumeMounts": [{"name": "v", "mountPath": "/v"}],
    "volumeDevices": [{"name": "d", "devicePath": "/dev/d"}],
    "livenessProbe": {"exec": {"command": ["true"]}},
    "readinessProbe": {"exec": {"command": ["true"]}},
    "startupProbe": {"exec": {"command": ["true"]}},
    "lifecycle": {"preStop": {"sleep": {"seconds": 1}}},
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "imagePullPolicy": "Always",
    "securityContext": {"runAsUser": 1},
    "stdin": False,
    "stdinOnce": False,
    "tty": False,
}

RESOURCE_FIELDS: dict[str, Any] = {
    "requests": {"cpu": "1"},
    "limits": {"memory": "1Gi"},
    "claims": [{"name": "gpu"}],
}


def wrong(fields: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every (field, value) pair where the value has another JSON type than the field."""
    return [
        (field, value)
        for field, good in fields.items()
        for value in SAMPLES
        if json_type(value) != json_type(good)
        and not (json_type(good) == "number" and json_type(value) == "integer")
    ]


def test_the_right_values_build() -> None:
    job = build(
        podTemplate={"spec": {**POD_FIELDS, "containers": [CONTAINER_FIELDS]}},
        resources=RESOURCE_FIELDS,
    )
    assert job["spec"]["template"]["spec"]["tolerations"][1] == {
        "key": "spot",
        "operator": "Exists",
    }


@pytest.mark.parametrize(("field", "value"), wrong(POD_FIELDS))
def test_a_pod_spec_field_of_the_wrong_type_is_invalid(field: str, value: Any) -> None:
    errors = refusal(podTemplate={"spec": {field: value}})
    assert [path for path, _ in errors] == [f"spec.podTemplate.spec.{field}"]


@pytest.mark.parametrize("containers", ["initContainers", "containers"])
@pytest.mark.parametrize(("field", "value"), wrong(CONTAINER_FIELDS))
def test_a_container_field_of_the_wrong_type_is_invalid(
    containers: str, field: str, value: Any
) -> None:
    errors = refusal(podTemplate={"spec": {containers: [{"name": "trainer", field: value}]}})
    assert [path for path, _ in errors] == [f"spec.podTemplate.spec.{containers}[0].{field}"]


@pytest.mark.parametrize(("field", "value"), wrong(RESOURCE_FIELDS))
def test_a_resources_field_of_the_wrong_type_is_invalid(field: str, value: Any) -> None:
    assert [p for p, _ in refusal(resources={field: value})] == [f"spec.resources.{field}"]
    container = {"name": "sidecar", "image": "x", "resources": {field: value}}
    errors = refusal(podTemplate={"spec": {"containers": [container]}})
    assert [p for p, _ in errors] == [f"spec.podTemplate.spec.containers[0].resources.{field}"]


def test_the_example_of_the_issue_names_the_container() -> None:
    assert refusal(podTemplate={"spec": {"containers": ["oops"]}}) == [
        ("spec.podTemplate.spec.containers[0]", "must be an object")
    ]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"resources": {"limits": "8Gi"}}, "spec.resources.limits", "must be an object"),
        (
            {"resources": {"limits": {"memory": ["8Gi"]}}},
            "spec.resources.limits[memory]",
            "must be a quantity (a string or a number)",
        ),
        (
            {"resources": {"requests": {"cpu": True}}},
            "spec.resources.requests[cpu]",
            "must be a quantity (a string or a number)",
        ),
        ({"resources": {"claims": ["gpu"]}}, "spec.resources.claims[0]", "must be an object"),
        ({"env": [{"name": "A", "value": 5}]}, "spec.env[0].value", "must be a string"),
        ({"env": [{"name": "A", "valueFrom": "x"}]}, "spec.env[0].valueFrom", "must be an object"),
        (
            {"podTemplate": {"spec": {"tolerations": ["spot"]}}},
            "spec.podTemplate.spec.tolerations[0]",
            "must be an object",
        ),
        (
            {"podTemplate": {"spec": {"volumes": {"name": "data"}}}},
            "spec.podTemplate.spec.volumes",
            "must be a list",
        ),
        (
            {"podTemplate": {"spec": {"nodeSelector": {"zone": 1}}}},
            "spec.podTemplate.spec.nodeSelector[zone]",
            "must be a string",
        ),
        (
            {"podTemplate": {"spec": {"containers": [{"name": 1}]}}},
            "spec.podTemplate.spec.containers[0].name",
            "must be a string",
        ),
        (
            {"podTemplate": {"spec": {"containers": [{"env": [{"name": "A", "value": 1}]}]}}},
            "spec.podTemplate.spec.containers[0].env[0].value",
            "must be a string",
        ),
        (
            {"podTemplate": {"spec": {"containers": [{"env": ["A=1"]}]}}},
            "spec.podTemplate.spec.containers[0].env[0]",
            "must be an object",
        ),
        (
            {"podTemplate": {"spec": {"containers": [{"command": ["python", None]}]}}},
            "spec.podTemplate.spec.containers[0].command[1]",
            "must be a string",
        ),
        (
            {"podTemplate": {"spec": {"terminationGracePeriodSeconds": 1.5}}},
            "spec.podTemplate.spec.terminationGracePeriodSeconds",
            "must be an integer",
        ),
    ],
)
def test_malformed_pass_through_data_is_invalid_naming_the_field(
    spec: dict[str, Any], path: str, message: str
) -> None:
    assert refusal(**spec) == [(path, message)]


def test_every_malformed_field_is_named_at_once() -> None:
    errors = refusal(
        resources={"limits": "x"},
        podTemplate={"spec": {"containers": ["a", {"name": "b", "ports": "80"}], "volumes": 1}},
    )
    assert [p for p, _ in errors] == [
        "spec.resources.limits",
        "spec.podTemplate.spec.volumes",
        "spec.podTemplate.spec.containers[0]",
        "spec.podTemplate.spec.containers[1].ports",
    ]


def test_the_reconcile_lets_invalid_spec_propagate() -> None:
    tj = make(podTemplate={"spec": {"containers": ["oops"]}})
    with pytest.raises(InvalidSpec) as exc:
        reconcile(tj, Observed(service=True), NOW, D)
    assert str(exc.value) == "spec.podTemplate.spec.containers[0]: must be an object"


def test_nulls_count_as_absent_and_keep_ours() -> None:
    job = build(
        resources={"limits": None, "requests": {"cpu": "1"}},
        podTemplate={
            "spec": {
                "tolerations": None,
                "securityContext": {"runAsUser": None, "fsGroup": 2000},
                "containers": [{"name": None, "env": None, "image": None, "args": ["--x"]}],
            }
        },
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "fsGroup": 2000,
    }
    (trainer,) = pod["containers"]  # an unnamed entry merges into the main container
    assert trainer["image"] == "busybox:1.36"
    assert trainer["args"] == ["--x"]
    assert trainer["env"][0] == {"name": "TRAININGJOB_NAME", "value": "mini"}
    assert trainer["resources"] == {"requests": {"cpu": "1"}, "limits": {"nvidia.com/gpu": 1}}


def test_resource_claims_are_passed_through() -> None:
    # Behaviour change: resources entries that are not maps used to be dropped silently.
    job = build(resources={"claims": [{"name": "gpu"}], "limits": {"memory": "1Gi"}})
    trainer = job["spec"]["template"]["spec"]["containers"][0]
    assert trainer["resources"] == {
        "claims": [{"name": "gpu"}],
        "limits": {"memory": "1Gi", "nvidia.com/gpu": 1},
    }


# --- fuzz --------------------------------------------------------------------------------

FULL: dict[str, Any] = {
    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {}}}],
    "resources": {"requests": {"cpu": "4"}, "limits": {"memory": "8Gi"}},
    "podTemplate": {
        "metadata": {"labels": {"team": "a"}},
        "spec": {
            **POD_FIELDS,
            "containers": [CONTAINER_FIELDS, {**CONTAINER_FIELDS, "name": "sidecar"}],
        },
    },
}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (keys and list indexes)."""
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, sub in value.items():
            out += paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += paths(sub, (*prefix, index))
    return out


def random_value(rng: random.Random) -> Any:
    return rng.choice([*SAMPLES, None, [], {}, [None], [7], {"a": None}, [{"a": [1]}], -1, ""])


@pytest.mark.parametrize("seed", range(20))
def test_random_mutations_give_a_manifest_or_invalid_spec(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        spec = copy.deepcopy(FULL)
        for _ in range(rng.randint(1, 3)):
            where = rng.choice(paths(spec))
            if where[:2] == ("podTemplate", "metadata") or where in {("env",), ("podTemplate",)}:
                continue  # typed by the model: refused when the object is parsed
            if where[0] == "env" and where[-1] == "name":
                continue  # the model requires an env var's name
            parent = spec
            for part in where[:-1]:
                parent = parent[part]
            parent[where[-1]] = random_value(rng)
        try:
            tj = make(**spec)
        except ValueError:
            continue  # the model refuses it: the operator's Unparsable path, not the builders'
        errors: list[tuple[str, str]] = []
        try:
            json.dumps(builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None))
        except InvalidSpec as exc:
            errors = exc.errors
            assert errors, "an InvalidSpec names at least one field"
        assert all(path.startswith("spec.") for path, _ in errors)
