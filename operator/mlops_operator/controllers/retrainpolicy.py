"""The RetrainPolicy controller: its TrainingJobs, and the drift query when one is due.

The pure core (:mod:`mlops_operator.core.retraining`) decides everything. This module reads
the policy's runs from the cache and, only when the core says an evaluation is due, runs the
drift query. When the query last ran is kept in memory, not in status: a policy where
nothing changes writes nothing, however often it is evaluated. After a restart (or a change
of leader) each policy waits for its own jittered slot in its interval, counted from then.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_operator.api.retrainpolicy import RetrainPolicy, RetrainPolicyStatus
from mlops_operator.controllers.modeldeployment import prometheus
from mlops_operator.controllers.reconciler import Child, Controller
from mlops_operator.controllers.registry import register
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core.invalid import write_failed
from mlops_operator.core.plan import Plan
from mlops_operator.core.retraining import observed as obs
from mlops_operator.core.retraining.reconcile import invalid
from mlops_operator.core.retraining.reconcile import reconcile as decide_retraining
from mlops_operator.core.retraining.triggers import evaluation_due
from mlops_operator.kube.resources import RETRAINPOLICIES, TRAININGJOBS
from mlops_operator.observability.metrics import DRIFT_VALUE, RETRAINS
from mlops_operator.settings import Settings

EVALUATED = "evaluated"


async def observe(
    rt: Runtime, key: Key, policy: RetrainPolicy, children: Mapping[str, tuple[Any, ...]]
) -> obs.Observed:
    now = datetime.now(UTC)
    memory = rt.scratch.setdefault(key, {})
    last = memory.get(EVALUATED) or _leading_since(rt)
    reading = None
    drift = policy.spec.triggers.drift
    if drift is not None and evaluation_due(policy, last, now):
        reading = await prometheus(rt).query(drift.prometheus.address, drift.query)
        memory[EVALUATED] = now
        value = reading.value if reading.value is not None else math.nan
        DRIFT_VALUE.labels(key.namespace, key.name).set(value)
    return obs.Observed(runs=children["retrainpolicy_runs"], reading=reading)


def _leading_since(rt: Runtime) -> datetime:
    """When this process started acting, as a wall-clock time."""
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - rt.since)


def record(key: Key, old: RetrainPolicyStatus, new: RetrainPolicyStatus) -> None:
    """A run started: the status records a new last trigger."""
    trigger = new.last_trigger
    if trigger is not None and (old.last_trigger is None or old.last_trigger != trigger):
        RETRAINS.labels(trigger.reason.value).inc()


def decide(
    policy: RetrainPolicy, observed: obs.Observed, now: datetime, settings: Settings
) -> Plan[RetrainPolicyStatus]:
    return decide_retraining(policy, observed, now)


CONTROLLER = register(
    Controller(
        model=RetrainPolicy,
        status_model=RetrainPolicyStatus,
        resource=RETRAINPOLICIES,
        observe=observe,
        decide=decide,
        invalid=invalid,
        write_failed=write_failed,
        children=(Child(TRAININGJOBS, obs.run_state, "retrainpolicy_runs", settle=0.0),),
        record=record,
    )
)
