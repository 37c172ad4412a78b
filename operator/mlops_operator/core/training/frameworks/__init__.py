"""Per-framework plugins: the environment that tells each pod its place in the run.

A plugin is a function from the run's :class:`Topology` to a list of EnvVars. Adding a
framework means adding a module and one line in :data:`PLUGINS`; the builders stay as
they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops_operator.api.trainingjob import Framework
from mlops_operator.core.training.frameworks import generic, pytorch
from mlops_operator.core.training.frameworks.topology import Topology

EnvVar = dict[str, Any]
Plugin = Callable[[Topology], list[EnvVar]]

PLUGINS: dict[Framework, Plugin] = {
    Framework.GENERIC: generic.env,
    Framework.PYTORCH: pytorch.env,
}


def env(framework: Framework, topology: Topology) -> list[EnvVar]:
    """The framework's environment for every pod of one attempt."""
    return PLUGINS[framework](topology)


__all__ = ["PLUGINS", "Topology", "env"]
