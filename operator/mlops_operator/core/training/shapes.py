"""The JSON types of the pass-through data a run's pods are built from, checked before use.

Admission knows ``spec.podTemplate.spec`` and ``spec.resources`` only as "an object"
(``x-kubernetes-preserve-unknown-fields``), and an env var only by its name, so
``podTemplate: {spec: {containers: ["oops"]}}`` reaches the operator. The builders merge the
user's fragment into their own pod, and the merge needs to know what is a map, what is a
list of objects and what is a string: a wrong type would crash it, or silently replace our
GPU toleration or environment with the user's value. So every well-known field of a PodSpec
and of a Container is checked for its JSON type here, and the maps and lists the merge
combines are checked item by item; a mismatch raises
:class:`~mlops_operator.api.parse.InvalidSpec` naming the field, e.g.
``spec.podTemplate.spec.containers[0]: must be an object``.

What lies deeper (an affinity's terms, a probe's handler) is passed through untouched: the
apiserver checks it when the operator creates the Job, and its refusal names the field too.
A null value counts as absent, as in any Kubernetes object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlops_operator.api.parse import InvalidSpec
from mlops_operator.api.trainingjob import TrainingJob

__all__ = ["CONTAINER", "ENV_VAR", "POD_SPEC", "RESOURCES", "Shape", "check", "errors_of"]

Errors = list[tuple[str, str]]
Shape = Callable[[Any, str, Errors], None]
"""Checks a value found at a field path, appending ``(path, message)`` for what is wrong."""


def _type(ok: Callable[[Any], bool], message: str) -> Shape:
    def check(value: Any, path: str, errors: Errors) -> None:
        if not ok(value):
            errors.append((path, message))

    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


STRING = _type(lambda v: isinstance(v, str), "must be a string")
BOOLEAN = _type(lambda v: isinstance(v, bool), "must be a boolean")
INTEGER = _type(lambda v: isinstance(v, int) and not isinstance(v, bool), "must be an integer")
QUANTITY = _type(
    lambda v: isinstance(v, str) or _is_number(v), "must be a quantity (a string or a number)"
)
OBJECT = _type(lambda v: isinstance(v, Mapping), "must be an object")


def obj(fields: Mapping[str, Shape]) -> Shape:
    """An object whose known ``fields`` have these shapes; other fields pass through."""

    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, Mapping):
            errors.append((path, "must be an object"))
            return
        for key, shape in fields.items():
            if value.get(key) is not None:
                shape(value[key], f"{path}.{key}", errors)

    return check


def list_of(item: Shape) -> Shape:
    """A list whose every item has the shape ``item``."""

    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, list):
            errors.append((path, "must be a list"))
            return
        for index, entry in enumerate(value):
            item(entry, f"{path}[{index}]", errors)

    return check


def map_of(item: Shape) -> Shape:
    """A map (an object with any keys) whose every value has the shape ``item``."""

    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, Mapping):
            errors.append((path, "must be an object"))
            return
        for key, entry in value.items():
            item(entry, f"{path}[{key}]", errors)

    return check


OBJECTS = list_of(OBJECT)

RESOURCES = obj(
    {
        "requests": map_of(QUANTITY),
        "limits": map_of(QUANTITY),
        "claims": list_of(obj({"name": STRING, "request": STRING})),
    }
)
"""core/v1 ResourceRequirements."""

ENV_VAR = obj({"name": STRING, "value": STRING, "valueFrom": OBJECT})
"""core/v1 EnvVar."""

CONTAINER = obj(
    {
        "name": STRING,
        "image": STRING,
        "command": list_of(STRING),
        "args": list_of(STRING),
        "workingDir": STRING,
        "ports": OBJECTS,
        "envFrom": OBJECTS,
        "env": list_of(ENV_VAR),
        "resources": RESOURCES,
        "resizePolicy": OBJECTS,
        "restartPolicy": STRING,
        "volumeMounts": OBJECTS,
        "volumeDevices": OBJECTS,
        "livenessProbe": OBJECT,
        "readinessProbe": OBJECT,
        "startupProbe": OBJECT,
        "lifecycle": OBJECT,
        "terminationMessagePath": STRING,
        "terminationMessagePolicy": STRING,
        "imagePullPolicy": STRING,
        "securityContext": OBJECT,
        "stdin": BOOLEAN,
        "stdinOnce": BOOLEAN,
        "tty": BOOLEAN,
    }
)
"""core/v1 Container (and what an init container shares with it)."""

POD_SPEC = obj(
    {
        "volumes": OBJECTS,
        "initContainers": list_of(CONTAINER),
        "containers": list_of(CONTAINER),
        "ephemeralContainers": OBJECTS,
        "restartPolicy": STRING,
        "terminationGracePeriodSeconds": INTEGER,
        "activeDeadlineSeconds": INTEGER,
        "dnsPolicy": STRING,
        "nodeSelector": map_of(STRING),
        "serviceAccountName": STRING,
        "serviceAccount": STRING,
        "automountServiceAccountToken": BOOLEAN,
        "nodeName": STRING,
        "hostNetwork": BOOLEAN,
        "hostPID": BOOLEAN,
        "hostIPC": BOOLEAN,
        "shareProcessNamespace": BOOLEAN,
        "securityContext": OBJECT,
        "imagePullSecrets": OBJECTS,
        "hostname": STRING,
        "subdomain": STRING,
        "affinity": OBJECT,
        "schedulerName": STRING,
        "tolerations": OBJECTS,
        "hostAliases": OBJECTS,
        "priorityClassName": STRING,
        "priority": INTEGER,
        "dnsConfig": OBJECT,
        "readinessGates": OBJECTS,
        "runtimeClassName": STRING,
        "enableServiceLinks": BOOLEAN,
        "preemptionPolicy": STRING,
        "overhead": map_of(QUANTITY),
        "topologySpreadConstraints": OBJECTS,
        "setHostnameAsFQDN": BOOLEAN,
        "os": OBJECT,
        "hostUsers": BOOLEAN,
        "schedulingGates": OBJECTS,
        "resourceClaims": OBJECTS,
        "resources": RESOURCES,
    }
)
"""core/v1 PodSpec: what ``spec.podTemplate.spec`` may hold."""


def errors_of(tj: TrainingJob) -> Errors:
    """Every wrongly typed field of the run's pass-through data, as ``(path, message)``."""
    spec = tj.spec
    errors: Errors = []
    for index, var in enumerate(spec.env or ()):
        ENV_VAR(var, f"spec.env[{index}]", errors)
    if spec.resources is not None:
        RESOURCES(spec.resources, "spec.resources", errors)
    if spec.pod_template is not None and spec.pod_template.spec is not None:
        POD_SPEC(spec.pod_template.spec, "spec.podTemplate.spec", errors)
    return errors


def check(tj: TrainingJob) -> None:
    """Raise :class:`InvalidSpec` naming every wrongly typed field, if there is one."""
    errors = errors_of(tj)
    if errors:
        raise InvalidSpec(errors)
