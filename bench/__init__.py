"""Benchmarks of the operator against a real (local) control plane.

``make bench`` (``python -m bench``) runs four: ``cache`` (10,000 suspended TrainingJobs:
the operator's memory, :mod:`bench.cache`), ``training`` (below), ``serving`` (200
ModelDeployments rolling out by canary at once, :mod:`bench.serving`) and ``retraining``
(500 RetrainPolicies watching drift, :mod:`bench.retraining`); each can run on its own.

The training benchmark measures what the TrainingJob controller costs on top of the
cluster itself, and against Kubeflow's training operator. The cluster's own controllers,
scheduler and API server set a floor that no operator can beat: a plain script that
creates the very children the operator would create, as fast as it can. Kubeflow's
training operator, on the same cluster with the same pods, is what users compare with.
The operator is held to ratios of both, measured in the same run (repeated, the arms'
order rotated), so the numbers mean something on any machine (a 2-core laptop and a
64-core server give different seconds, not different ratios).

Modules:

- :mod:`bench.cluster`      a dedicated local cluster (own state dir and lock), GPU nodes, CRDs
- :mod:`bench.kube`         a small JSON-in/JSON-out async client, like the operator's own
- :mod:`bench.workload`     the TrainingJobs, and the operator's children for the floor
- :mod:`bench.track`        list+watch progress trackers: when each object reached what
- :mod:`bench.training`     the training benchmark: arms, repetitions, cleanup between arms
- :mod:`bench.floor`        the floor arm
- :mod:`bench.peer`         the Kubeflow training operator arm (PyTorchJobs)
- :mod:`bench.operator_run` the operator arm (subprocess, RSS, request metrics)
- :mod:`bench.process`      a controller subprocess measured from outside (CPU, VmHWM)
- :mod:`bench.summary`      arm order, medians with min-max over repetitions, targets
- :mod:`bench.cache`        the cache test: 10,000 suspended TrainingJobs
- :mod:`bench.profile`      py-spy flame graphs and collapsed stacks, summarised
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
