"""mlops-operator: training runs, canary serving and drift-driven retraining on Kubernetes.

Layers, from the bottom up (enforced by import-linter, see ``pyproject.toml``):

- :mod:`mlops_operator.api` — pydantic models of the three custom resources; the single
  source of truth for the CRDs.
- :mod:`mlops_operator.core` — pure functions: spec and observed children in, desired
  children and status out. No I/O, no kopf, no Kubernetes client.
- :mod:`mlops_operator.kube` — the thin I/O layer: an async API client, caches of observed
  objects, Events.
- :mod:`mlops_operator.controllers` — kopf handlers: read, call the core, write.
- :mod:`mlops_operator.cli` — the ``mlops-operator`` command.
"""

GROUP = "mlops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
