"""What every pod the operator makes carries, whichever kind made it.

Training pods and model-server pods meet the Pod Security "restricted" profile by default,
ask for GPUs the same way, and tolerate the same GPU taint. The kinds' cores may not import
one another (import-linter), so what they share lives here.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "RESTRICTED_CONTAINER_SECURITY",
    "RESTRICTED_POD_SECURITY",
    "gpu_toleration",
    "resources",
]

#: What passes the Pod Security "restricted" profile; a user's template may override it.
RESTRICTED_POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def resources(user: dict[str, Any] | None, gpus: int, gpu_resource: str) -> dict[str, Any]:
    """The user's ResourceRequirements (a copy; nulls count as absent) plus the GPU limit."""
    out = {k: copy.deepcopy(v) for k, v in (user or {}).items() if v is not None}
    if gpus:
        limits = out.get("limits")
        out["limits"] = {**(limits if isinstance(limits, dict) else {}), gpu_resource: gpus}
    return out


def gpu_toleration(key: str) -> dict[str, str]:
    """Tolerate the taint GPU nodes usually carry, so that only GPU work lands there."""
    return {"key": key, "operator": "Exists", "effect": "NoSchedule"}
