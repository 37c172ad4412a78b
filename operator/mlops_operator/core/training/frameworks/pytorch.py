"""PyTorch: what ``torchrun`` (and plain ``torch.distributed``) read from the environment.

torchrun takes its arguments from ``PET_*`` variables, so the container can run plain
``torchrun train.py``. ``RANK`` and ``WORLD_SIZE`` are set for programs that call
``init_process_group`` without torchrun, one process per node; torchrun overrides both
for each process it spawns. ``WORLD_SIZE`` counts processes (nodes x procs per node).
"""

from __future__ import annotations

from typing import Any

from mlops_operator.core.training.frameworks.topology import Topology, node_rank, value


def env(topology: Topology) -> list[dict[str, Any]]:
    return [
        value("MASTER_ADDR", topology.master_addr),
        value("MASTER_PORT", topology.master_port),
        value("WORLD_SIZE", topology.world_size),
        node_rank("RANK"),
        node_rank("NODE_RANK"),
        value("PET_NNODES", topology.nodes),
        value("PET_NPROC_PER_NODE", topology.procs_per_node),
        node_rank("PET_NODE_RANK"),
        value("PET_MASTER_ADDR", topology.master_addr),
        value("PET_MASTER_PORT", topology.master_port),
    ]
