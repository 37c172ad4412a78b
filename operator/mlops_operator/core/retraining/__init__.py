"""RetrainPolicy: the pure core of retraining, from the policy, its runs, the drift value and
now to a :class:`~mlops_operator.core.plan.Plan` (no kopf, no I/O).

- :mod:`.observed` — :class:`~.observed.RunState`, the compact view of a run (one of the
  policy's TrainingJobs) built by :func:`~.observed.run_state`, and
  :class:`~.observed.Observed`, what one reconcile reads besides the policy.
- :mod:`.triggers` — when to run the drift query (:func:`~.triggers.evaluation_due`,
  :func:`~.triggers.next_evaluation`), and the drift, schedule and manual triggers.
- :mod:`.schedule` — cron in an IANA time zone, DST, missed times.
- :mod:`.naming` — run names derived from their trigger (one run per trigger).
- :mod:`.builders` — the TrainingJob manifest of a run.
- :mod:`.reconcile` — :func:`~.reconcile.reconcile` and :func:`~.reconcile.invalid`.
"""
