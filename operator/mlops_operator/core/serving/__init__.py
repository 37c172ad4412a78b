"""The pure core of the ModelDeployment controller: spec + observed children + now -> a Plan.

No I/O. One reconcile, as the kopf layer runs it:

1. read what the ModelDeployment ``md`` points at and owns:

   - the referenced TrainingJob (``spec.model.trainingJobRef``) or RetrainPolicy
     (``spec.model.retrainPolicyRef``), parsed, or None when it does not exist, then
     ``source = source.resolve(md, trainingjob, policy)``;
   - its Deployments ``<md>-stable`` / ``<md>-canary``, its Services ``<md>``,
     ``<md>-stable``, ``<md>-canary``, its HPA ``<md>`` (all labelled
     ``mlops.dev/modeldeployment=<md>``), and with ``gatewayAPI`` the HTTPRoute it names;

2. if ``analysis.measurement_due(md, now)``: run every ``analysis.queries(md)`` against
   ``spec.rollout.canary.analysis.prometheus.address`` and keep
   ``analysis.Measurement.of(now, [(query, reading), ...])``;

3. ``observed = observed.observe(source, deployments=..., services=..., hpa=..., route=...,
   measurement=...)`` and ``plan = reconcile.reconcile(md, observed, now, defaults)``;

4. carry the plan out: creates, then patches in order (JSON merge patches; kinds
   ``Deployment``, ``Service``, ``HorizontalPodAutoscaler`` and ``HTTPRoute``
   (gateway.networking.k8s.io/v1, whose patch carries ``metadata.resourceVersion``: a 409
   means the user edited it, retry on the next reconcile), deletes, the status, the Events;
   then requeue after ``plan.requeue_after`` if set.

Modules: :mod:`.builders` (manifests), :mod:`.split` (canary pods for a weight),
:mod:`.observed` (views of the children), :mod:`.source` (which model), :mod:`.analysis`
(queries, schedule, verdicts), :mod:`.routing` (HTTPRoute weights), :mod:`.canary` (the step
machine), :mod:`.reconcile` (everything together).
"""

from mlops_operator.core.serving.analysis import (
    Measurement,
    Query,
    measurement_due,
    next_measurement,
    queries,
)
from mlops_operator.core.serving.defaults import ServingDefaults
from mlops_operator.core.serving.observed import Observed, observe
from mlops_operator.core.serving.reconcile import reconcile
from mlops_operator.core.serving.source import Source, resolve

__all__ = [
    "Measurement",
    "Observed",
    "Query",
    "ServingDefaults",
    "Source",
    "measurement_due",
    "next_measurement",
    "observe",
    "queries",
    "reconcile",
    "resolve",
]
