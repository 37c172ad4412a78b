"""Watching a PromQL series over time, as pure functions.

Canary analysis (ModelDeployment) and drift detection (RetrainPolicy) both evaluate a
query again and again and decide from its values; they differ only in the rule:

- :mod:`.series` — one evaluation as a :class:`~.series.Reading` (a value, or why there is
  none), the range check of an analysis metric (:func:`~.series.judge`), the ``for``
  window of a drift trigger (:func:`~.series.breach_window`, :func:`~.series.breached`),
  and the placeholders of a query (:func:`~.series.render`).

The queries themselves run in :mod:`mlops_operator.kube.prometheus`, which returns
readings: this package never does I/O.
"""
