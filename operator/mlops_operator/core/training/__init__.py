"""TrainingJob, as pure functions.

- :mod:`.frameworks` — what each ML framework needs in the pods' environment (plugins).
- :mod:`.builders` — the desired children: the rendezvous Service and one Job per attempt.
- :mod:`.observed` — compact, typed views of the children the operator watches.
- :mod:`.reconcile` — spec + observed children + now -> a :class:`~mlops_operator.core.plan.Plan`.
"""
