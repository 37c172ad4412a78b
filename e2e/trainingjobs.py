"""Reading and writing TrainingJobs (and their Jobs and pods) in e2e tests."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from localcluster.waiting import wait_for
from mlops_operator import GROUP, VERSION
from mlops_operator.api.keys import TRAININGJOB_LABEL

PLURAL = "trainingjobs"
#: KWOK's stages read these pod annotations (hack/localcluster/kwok.yaml).
COMPLETE_DELAY = "pod-complete.stage.kwok.x-k8s.io/delay"
FAIL_EXIT_CODE = "pod-fail.stage.kwok.x-k8s.io/exit-code"
FAIL_DELAY = "pod-fail.stage.kwok.x-k8s.io/delay"


def manifest(
    name: str, *, annotations: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    """A TrainingJob; ``annotations`` go on its pods (to steer KWOK)."""
    body: dict[str, Any] = {"image": "registry.example/train:1", **spec}
    if annotations:
        body.setdefault("podTemplate", {}).setdefault("metadata", {})["annotations"] = annotations
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": body,
    }


class TrainingJobs:
    """TrainingJobs of one namespace, and what they own."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return created

    def get(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return obj

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, {"spec": spec}
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(name).get("status") or {}
        return status

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        return next(
            (c for c in self.status(name).get("conditions", []) if c["type"] == type_), None
        )

    def wait_phase(self, name: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until ``status.phase`` is one of ``phases``; return the status."""
        return wait_for(
            lambda: (s := self.status(name)).get("phase") in phases and s,
            timeout,
            f"TrainingJob {self.namespace}/{name} in phase {'/'.join(phases)}",
        )

    def jobs(self, name: str) -> list[Any]:
        jobs = self.batch.list_namespaced_job(
            self.namespace, label_selector=f"{TRAININGJOB_LABEL}={name}"
        ).items
        return sorted(jobs, key=lambda j: j.metadata.name)

    def pods(self, name: str) -> list[Any]:
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{TRAININGJOB_LABEL}={name}"
        ).items
        return sorted(pods, key=lambda p: p.metadata.name)

    def events(self, name: str) -> list[Any]:
        events = self.core.list_namespaced_event(
            self.namespace,
            field_selector=f"involvedObject.kind=TrainingJob,involvedObject.name={name}",
        ).items
        return sorted(events, key=lambda e: e.metadata.creation_timestamp)

    def reasons(self, name: str) -> list[str]:
        return [e.reason for e in self.events(name)]
