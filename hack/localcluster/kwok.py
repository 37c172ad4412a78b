"""KWOK, the fake kubelet: its stage configuration and the annotations tests use.

The stages themselves live in the package data file ``kwok.yaml`` (documented there).
Tests steer a pod's fake lifecycle with the annotations below, e.g. to make a training
pod take 30s or fail with exit code 137.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: Node objects with this annotation are managed by KWOK (``--manage-nodes-with-...``).
NODE_ANNOTATION = "kwok.x-k8s.io/node"
NODE_ANNOTATION_VALUE = "fake"
MANAGE_SELECTOR = f"{NODE_ANNOTATION}={NODE_ANNOTATION_VALUE}"

#: Go duration ("2s", "500ms") before a Running pod becomes Ready/Running (default 0).
READY_DELAY_ANNOTATION = "pod-ready.stage.kwok.x-k8s.io/delay"
#: Value "true": the pod goes Running but never Ready (a readiness probe that never
#: passes), so a Deployment's rollout with such pods never progresses.
NEVER_READY_ANNOTATION = "pod-never-ready.stage.kwok.x-k8s.io"
#: Go duration before a Running pod owned by a Job (or a Kubeflow PyTorchJob) succeeds
#: (default 1s).
COMPLETE_DELAY_ANNOTATION = "pod-complete.stage.kwok.x-k8s.io/delay"
#: Text a Job-owned pod's first container reports on success as
#: ``state.terminated.message``: what it would have written to /dev/termination-log.
TERMINATION_MESSAGE_ANNOTATION = "pod-complete.stage.kwok.x-k8s.io/termination-message"
#: Container exit code; its presence makes the pod fail instead of completing.
FAIL_EXIT_CODE_ANNOTATION = "pod-fail.stage.kwok.x-k8s.io/exit-code"
#: Go duration before an annotated pod fails (default 1s).
FAIL_DELAY_ANNOTATION = "pod-fail.stage.kwok.x-k8s.io/delay"

#: Pod IPs are handed out from here; nothing routes to them.
POD_CIDR = "10.244.0.0/16"
#: Every fake node reports this InternalIP, so nothing ever tries to reach elsewhere.
NODE_IP = "127.0.0.1"
NODE_LEASE_SECONDS = 40


def stages_text() -> str:
    """The KWOK configuration (KwokConfiguration + Stages) shipped with the package."""
    return resources.files("localcluster").joinpath("kwok.yaml").read_text()


def write_config(path: Path) -> Path:
    """Copy the stage configuration into the state dir, so a running kwok's config
    stays put even if the package changes underneath it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stages_text())
    return path
