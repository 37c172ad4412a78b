"""Gauges counted from the caches when Prometheus scrapes, not kept up to date by hand.

``mlops_operator_trainingjobs{phase}`` counts the TrainingJobs the operator sees, by phase.
Reading the cache at scrape time costs one pass over it per scrape and can never drift from
what the cache holds, unlike a gauge moved on every transition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mlops_operator.controllers.runtime import Runtime
from mlops_operator.observability.metrics import PREFIX


class Census(Collector):
    """Counts cached objects by phase for every registered kind."""

    def __init__(self, runtime: Runtime, indexes: dict[str, str]) -> None:
        self._runtime = runtime
        self._indexes = indexes  # metric name -> kopf index id

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for metric, index in self._indexes.items():
            phases = self._count(index)
            if phases is None:
                continue  # the cache kept changing under us: leave this one out of this scrape
            family = GaugeMetricFamily(
                f"{PREFIX}_{metric}",
                f"{metric.capitalize()} the operator sees, by phase.",
                labels=["phase"],
            )
            for phase, count in sorted(phases.items()):
                family.add_metric([phase], count)
            yield family

    def _count(self, index: str) -> Counter[str] | None:
        """Phases in one index. Scrapes run in the metrics server's thread while the event
        loop changes the cache, so a pass can meet a dict changing size: try again."""
        for _ in range(5):
            phases: Counter[str] = Counter()
            try:
                for store in list(self._runtime.index(index).values()):
                    for obj in list(store):
                        phases[obj.phase or "Unknown"] += 1
            except RuntimeError:
                continue
            return phases
        return None
