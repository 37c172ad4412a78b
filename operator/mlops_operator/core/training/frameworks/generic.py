"""Any program: it learns its node rank and the number of nodes, nothing more."""

from __future__ import annotations

from typing import Any

from mlops_operator.core.training.frameworks.topology import Topology, node_rank, value


def env(topology: Topology) -> list[dict[str, Any]]:
    return [node_rank("NODE_RANK"), value("NUM_NODES", topology.nodes)]
