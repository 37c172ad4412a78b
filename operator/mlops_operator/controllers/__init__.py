"""The kopf layer: thin handlers that read the caches, call the core, and write.

Importing this package registers every handler with kopf's default registry.

- :mod:`.runtime` — what the handlers share: the API client, work queues, caches' overlays.
- :mod:`.execute` — carries out a :class:`~mlops_operator.core.plan.Plan`.
- :mod:`.operator` — start-up, login and kopf's settings.
- :mod:`.trainingjob` — the TrainingJob controller.
"""

from mlops_operator.controllers import operator, trainingjob

__all__ = ["operator", "trainingjob"]
