"""Benchmarks of the operator against a real (local) control plane.

``make bench`` (``python -m bench``) runs three: ``training`` (below), ``serving`` (200
ModelDeployments rolling out by canary at once, :mod:`bench.serving`) and ``retraining``
(500 RetrainPolicies watching drift, :mod:`bench.retraining`); each can run on its own.

The training benchmark measures what the TrainingJob controller costs on top of the
cluster itself. The cluster's own controllers, scheduler and API server set a
floor that no operator can beat: a plain script that creates the very Services and Jobs
the operator would create, as fast as it can. The operator is then held to a ratio of that
floor, measured on the same cluster, with the same pods and the same client library, so
the numbers mean something on any machine (a 2-core laptop and a 64-core server give
different seconds, not different ratios).

Modules:

- :mod:`bench.cluster`      a dedicated local cluster (own state dir and lock), GPU nodes, CRDs
- :mod:`bench.kube`         a small JSON-in/JSON-out async client, like the operator's own
- :mod:`bench.workload`     the TrainingJobs, and the operator's children for the floor
- :mod:`bench.track`        list+watch progress trackers: when each object reached what
- :mod:`bench.floor`        the floor run
- :mod:`bench.operator_run` the operator run (subprocess, RSS, request metrics)
- :mod:`bench.cpu`          CPU used by each process of the cluster, the operator and the rest
- :mod:`bench.pipeline`     a pod's way to running, by the component owning each step
- :mod:`bench.source`       measure the working tree's operator, or a commit's
- :mod:`bench.report`       targets, the JSON report and ``bench/reports/LATEST.md`` (one
                            section per benchmark)
- :mod:`bench.serving`      the serving benchmark: canary steps, queries, writes, memory
- :mod:`bench.retraining`   the retraining benchmark: quiet costs, reaction to a breach
- :mod:`bench.diagnose`     where slow reconciles wait: API server latency, event-loop lag,
                            busy workers
"""
