"""Where one pod stands in a run: the facts every framework plugin derives its env from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Indexed Jobs annotate each pod with its completion index; the Downward API reads it.
COMPLETION_INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


@dataclass(frozen=True)
class Topology:
    """The shape of one attempt of a run."""

    nodes: int
    procs_per_node: int
    master_addr: str  # pod 0's stable DNS name under the headless Service
    master_port: int

    @property
    def world_size(self) -> int:
        """Total processes across all nodes."""
        return self.nodes * self.procs_per_node


def value(name: str, val: object) -> dict[str, Any]:
    """A literal EnvVar."""
    return {"name": name, "value": str(val)}


def node_rank(name: str) -> dict[str, Any]:
    """An EnvVar holding this pod's node rank (its completion index)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX_FIELD}}}
