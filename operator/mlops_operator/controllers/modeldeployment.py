"""The ModelDeployment controller: its Deployments, Services and HPA, its model source, the
HTTPRoute it weights, and the Prometheus measurements its canary analysis asks for.

The pure core (:mod:`mlops_operator.core.serving`) decides everything; this module only
gathers what it reads. The TrainingJob or RetrainPolicy that ``spec.model`` names is read
from the caches, and their changes wake the ModelDeployment (the registry's reference
index), so a new model starts a rollout with no spec edit. The HTTPRoute is the user's, not
a child: it is read when the spec names one (the core re-checks every few seconds while it
waits on the route's status), never watched, never created or deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.modeldeployment import ModelDeployment, ModelDeploymentStatus
from mlops_operator.controllers.reconciler import Child, Controller, Unparsable, parsed
from mlops_operator.controllers.registry import controller, register
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.core import serving
from mlops_operator.core.invalid import not_ready, write_failed
from mlops_operator.core.plan import Plan
from mlops_operator.core.serving import observed as obs
from mlops_operator.kube.client import ApiError
from mlops_operator.kube.prometheus import PrometheusClient
from mlops_operator.kube.resources import DEPLOYMENTS, HPAS, HTTPROUTES, MODELDEPLOYMENTS, SERVICES
from mlops_operator.observability.metrics import MEASUREMENTS, ROLLOUTS
from mlops_operator.settings import Settings


def references(md: ModelDeployment) -> Iterable[tuple[str, str]]:
    """The TrainingJob or RetrainPolicy whose model this deployment follows."""
    model = md.spec.model
    if model.training_job_ref is not None:
        yield "TrainingJob", model.training_job_ref.name
    if model.retrain_policy_ref is not None:
        yield "RetrainPolicy", model.retrain_policy_ref.name


def cached(rt: Runtime, key: Key) -> Any:
    """The parsed object of ``key`` in one of our kinds' caches; None if absent or invalid."""
    ctl = controller(key.kind)
    entries = rt.alive(key, rt.index(ctl.index_id).get(key))
    # Two entries: one deleted while a watch was down, and its namesake; the newer is real.
    entries.sort(key=lambda e: e.created)
    found = parsed(ctl, entries[-1]) if entries else None
    return None if isinstance(found, Unparsable) else found


async def observe(
    rt: Runtime, key: Key, md: ModelDeployment, children: Mapping[str, tuple[Any, ...]]
) -> obs.Observed:
    model = md.spec.model
    trainingjob = policy = None
    if model.training_job_ref is not None:
        trainingjob = cached(rt, _ref(key, "TrainingJob", model.training_job_ref.name))
    if model.retrain_policy_ref is not None:
        policy = cached(rt, _ref(key, "RetrainPolicy", model.retrain_policy_ref.name))
    deployments: tuple[obs.DeploymentState, ...] = children["modeldeployment_deployments"]
    by_variant = {d.variant: d for d in deployments}
    hpas = children["modeldeployment_hpas"]
    now = datetime.now(UTC)
    return obs.Observed(
        source=serving.resolve(md, trainingjob=trainingjob, policy=policy),
        stable=by_variant.get("stable"),
        canary=by_variant.get("canary"),
        services=children["modeldeployment_services"],
        hpa=hpas[0] if hpas else None,
        route=await _route(rt, key, md),
        measurement=await _measurement(rt, key, md, now),
    )


async def _measurement(
    rt: Runtime, key: Key, md: ModelDeployment, now: datetime
) -> serving.Measurement | None:
    """The measurement due now, if one is: taken once per due time.

    A reconcile that decides again after a 409 (or whose write failed) finds the same
    measurement due; it reuses the readings instead of querying Prometheus twice.
    """
    due = serving.next_measurement(md)
    if due is None or now < due:
        return None
    revision = md.status.canary.revision if md.status.canary else None
    memory = rt.scratch.setdefault(key, {})
    taken = memory.get("measurement")
    if taken is not None and taken[0] == (due, revision):
        measurement: serving.Measurement = taken[1]
        return measurement
    measurement = await measure(rt, md, now)
    memory["measurement"] = ((due, revision), measurement)
    return measurement


def _ref(key: Key, kind: str, name: str) -> Key:
    return Key(kind, key.namespace, name)


async def _route(rt: Runtime, key: Key, md: ModelDeployment) -> obs.RouteState | None:
    canary = md.spec.rollout.canary if md.spec.rollout else None
    routing = canary.traffic_routing if canary else None
    if routing is None or routing.gateway_api is None:
        return None
    try:
        body = await rt.kube.get(HTTPROUTES, key.namespace, routing.gateway_api.http_route)
    except ApiError as exc:
        if exc.not_found:  # also when the Gateway API is not installed at all
            return None
        raise
    return obs.route_state(body)


async def measure(rt: Runtime, md: ModelDeployment, now: datetime) -> serving.Measurement:
    """One measurement: every metric's query once per variant, concurrently."""
    analysis = (
        md.spec.rollout.canary.analysis if md.spec.rollout and md.spec.rollout.canary else None
    )
    if analysis is None:
        return serving.Measurement(now)
    client = prometheus(rt)
    wanted = serving.queries(md)
    readings = await asyncio.gather(
        *(client.query(analysis.prometheus.address, q.promql) for q in wanted)
    )
    return serving.Measurement.of(now, zip(wanted, readings, strict=True))


def prometheus(rt: Runtime) -> PrometheusClient:
    """The process's one Prometheus client (one connection pool, bounded concurrency)."""
    if rt.prometheus is None:
        rt.prometheus = PrometheusClient()
    client: PrometheusClient = rt.prometheus
    return client


def record(key: Key, old: ModelDeploymentStatus, new: ModelDeploymentStatus) -> None:
    """Finished rollouts and analysis measurements, from what the status write added."""
    # The history keeps the last few entries only: compare entries, not lengths.
    seen = {(e.revision, e.outcome, e.time) for e in old.history or []}
    for entry in new.history or []:
        if (entry.revision, entry.outcome, entry.time) not in seen:
            ROLLOUTS.labels(entry.outcome.value).inc()
    analysis = new.canary.analysis if new.canary else None
    previous = old.canary.analysis if old.canary else None
    if analysis is None or analysis.last_measurement_time is None:
        return
    if previous is None or previous.last_measurement_time != analysis.last_measurement_time:
        result = analysis.last_result.value if analysis.last_result else "Unknown"
        MEASUREMENTS.labels(result).inc()


def decide(
    md: ModelDeployment, observed: obs.Observed, now: datetime, settings: Settings
) -> Plan[ModelDeploymentStatus]:
    defaults = serving.ServingDefaults(
        gpu_resource=settings.training.gpu_resource,
        gpu_toleration_key=settings.training.gpu_toleration_key,
    )
    return serving.reconcile(md, observed, now, defaults)


CONTROLLER = register(
    Controller(
        model=ModelDeployment,
        status_model=ModelDeploymentStatus,
        resource=MODELDEPLOYMENTS,
        observe=observe,
        decide=decide,
        invalid=not_ready,
        write_failed=write_failed,
        children=(
            Child(DEPLOYMENTS, obs.deployment_state, "modeldeployment_deployments"),
            Child(SERVICES, obs.service_state, "modeldeployment_services"),
            Child(HPAS, obs.hpa_state, "modeldeployment_hpas"),
        ),
        references=references,
        record=record,
    )
)
