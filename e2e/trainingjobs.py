"""Reading and writing TrainingJobs (and their Jobs and pods) in e2e tests."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from e2e.objects import Objects
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


class TrainingJobs(Objects):
    """TrainingJobs of one namespace, and what they own."""

    plural = PLURAL
    kind = "TrainingJob"

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        super().__init__(api, namespace)
        self.batch = client.BatchV1Api(api)

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.patch(name, {"spec": spec})

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
