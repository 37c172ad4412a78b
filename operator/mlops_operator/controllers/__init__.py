"""The kopf layer: thin handlers that read the caches, call the core, and write.

Importing this package registers every controller with kopf's default registry.

- :mod:`.runtime` — what the handlers share: the API client, work queues, expectations and
  our own status writes.
- :mod:`.reconciler` — the one read → decide → write machinery, driven by a per-kind
  :class:`~.reconciler.Controller` description.
- :mod:`.registry` — the controllers, turned into kopf indexes, watch handlers and informers.
- :mod:`.execute` — carries out a :class:`~mlops_operator.core.plan.Plan`.
- :mod:`.operator` — start-up, leadership, login and kopf's settings.
- :mod:`.trainingjob`, :mod:`.modeldeployment`, :mod:`.retrainpolicy` — the three
  controllers: what each reads besides its cached children, on top of its pure core.
"""

from mlops_operator.controllers import modeldeployment, operator, retrainpolicy, trainingjob

__all__ = ["modeldeployment", "operator", "retrainpolicy", "trainingjob"]
