"""The TrainingJob controller: its children (Jobs, the headless Service) and extra reads.

Pods are not watched: at scale they are most of the watch traffic, and each Job's status
already counts its pods. A reconcile reads an attempt's pods only when it is slow to start,
to say why (e.g. the scheduler's Unschedulable), and then only the Pending ones, a bounded
page of them, at most once per re-check interval.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api import keys
from mlops_operator.api.trainingjob import TrainingJob, TrainingJobStatus
from mlops_operator.controllers.reconciler import Child, Controller
from mlops_operator.controllers.registry import register
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core.plan import Plan
from mlops_operator.core.training import observed as obs
from mlops_operator.core.training.reconcile import PODS_RECHECK, invalid, pods_wanted
from mlops_operator.core.training.reconcile import reconcile as decide_training
from mlops_operator.kube.resources import JOBS, PODS, SERVICES, TRAININGJOBS
from mlops_operator.settings import Settings

#: A page of pending pods is enough to say why an attempt waits; a run of 9,999 nodes that
#: cannot be scheduled must not cost megabytes per reconcile.
PODS_PAGE = 20


def _service_view(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name", ""))


async def observe(
    rt: Runtime, key: Key, tj: TrainingJob, children: Mapping[str, tuple[Any, ...]]
) -> obs.Observed:
    jobs: tuple[obs.JobState, ...] = children["trainingjob_jobs"]
    attempt = pods_wanted(tj, jobs, datetime.now(UTC))
    pods = await _pods(rt, key, attempt) if attempt is not None else ()
    return obs.Observed(jobs=jobs, pods=pods, service=bool(children["trainingjob_services"]))


async def _pods(rt: Runtime, key: Key, attempt: int) -> tuple[obs.PodState, ...]:
    """The pending pods of one slow attempt: one bounded page, reused for a while."""
    memory = rt.scratch.setdefault(key, {})
    cached = memory.get("pods")
    if cached is not None and cached[0] == attempt and time.monotonic() - cached[1] < PODS_RECHECK:
        pods: tuple[obs.PodState, ...] = cached[2]
        return pods
    selector = f"{keys.TRAININGJOB_LABEL}={key.name},{keys.ATTEMPT_LABEL}={attempt}"
    listed = await rt.kube.request(
        "list",
        PODS,
        PODS.path(key.namespace),
        query=[
            ("labelSelector", selector),
            ("fieldSelector", "status.phase=Pending"),
            ("limit", str(PODS_PAGE)),
        ],
    )
    states = (obs.pod_state(item) for item in listed.get("items", []))
    pods = tuple(state for state in states if state is not None)
    memory["pods"] = (attempt, time.monotonic(), pods)
    return pods


def decide(
    tj: TrainingJob, observed: obs.Observed, now: datetime, settings: Settings
) -> Plan[TrainingJobStatus]:
    return decide_training(tj, observed, now, settings.training)


CONTROLLER = register(
    Controller(
        model=TrainingJob,
        status_model=TrainingJobStatus,
        resource=TRAININGJOBS,
        observe=observe,
        decide=decide,
        invalid=invalid,
        children=(
            Child(JOBS, obs.job_state, "trainingjob_jobs"),
            Child(SERVICES, _service_view, "trainingjob_services"),
        ),
        # Node counters (and the start time that comes with the first of them) wait up to
        # 3 s for a phase or condition change to ride along with: one write less per run.
        volatile=frozenset({"nodes", "startTime"}),
        hold=3.0,
    )
)
