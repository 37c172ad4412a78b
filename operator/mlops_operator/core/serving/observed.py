"""Compact, typed views of what a ModelDeployment's reconcile reads from the cluster.

Built from raw API dicts by pure functions, tested by equality. Each view holds only what
the reconcile reads, so the kopf layer can keep one per child in memory cheaply:

- :class:`DeploymentState` — a variant's Deployment: which model and revision its pod
  template serves (read back from the template itself, so a crash between two writes
  cannot make status and cluster disagree unseen) and how far its rollout is;
- :class:`ServiceState`, :class:`HpaState` — enough to see that they exist and are current;
- :class:`RouteState` — the Gateway API HTTPRoute we weight: its rules as given (a weight
  patch rewrites the whole list) and, per parent Gateway, whether it accepted the route and
  resolved its backends at the route's current generation;
- :class:`Observed` — all of it, plus the resolved model :class:`~.source.Source` and the
  analysis :class:`~.analysis.Measurement` the kopf layer just took, if one was due.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_operator.api.keys import REVISION_LABEL, TEMPLATE_HASH_ANNOTATION, VARIANT_LABEL, Variant
from mlops_operator.core.serving.analysis import Measurement
from mlops_operator.core.serving.builders import MODEL_URI_ENV, SERVER
from mlops_operator.core.serving.source import Source

__all__ = [
    "DeploymentState",
    "HpaState",
    "Observed",
    "ParentState",
    "RouteState",
    "ServiceState",
    "deployment_state",
    "hpa_state",
    "observe",
    "route_state",
    "service_state",
]


@dataclass(frozen=True)
class DeploymentState:
    """One variant's Deployment, as the Deployment controller reports it."""

    name: str
    uid: str
    owner_uid: str | None
    """uid of the controller ownerReference (ours when it is the ModelDeployment's)."""
    variant: str | None
    revision: int | None
    """The ``mlops.dev/revision`` label of the pod template."""
    model: str | None
    """``MODEL_URI`` of the pod template's server container."""
    template_hash: str | None
    replicas: int
    """``spec.replicas`` (the API's default 1 when absent)."""
    generation: int = 0
    observed_generation: int = 0
    current: int = 0
    """``status.replicas``: pods of any template, not terminating."""
    updated: int = 0
    ready: int = 0
    available: int = 0

    @property
    def observed(self) -> bool:
        """Whether the Deployment controller has seen the latest spec."""
        return self.observed_generation >= self.generation

    def rolled_out(self, replicas: int) -> bool:
        """Whether exactly ``replicas`` pods of the current template run and are ready,
        and no pod of an older template is left."""
        return (
            self.replicas == replicas
            and self.observed
            and self.updated == replicas
            and self.current == replicas
            and self.ready >= replicas
        )


@dataclass(frozen=True)
class ServiceState:
    """A Service of ours: its owner and its ports."""

    name: str
    owner_uid: str | None
    ports: tuple[Mapping[str, Any], ...] = ()
    """Each port's ``name``, ``port``, ``targetPort``, ``protocol``, as the server holds them."""


@dataclass(frozen=True)
class HpaState:
    """The HPA of the stable Deployment: what it scales, between which bounds, on what."""

    name: str
    uid: str
    owner_uid: str | None
    target: str | None
    min_replicas: int | None
    max_replicas: int | None
    cpu_utilization: int | None
    """The average CPU utilization target, if its metrics are exactly that one target."""


@dataclass(frozen=True)
class ParentState:
    """What one parent (a Gateway, or a listener of one) says about an HTTPRoute."""

    ref: str
    """``namespace/name`` of the parent, with ``/section`` when the ref names a listener."""
    accepted: bool = False
    accepted_generation: int | None = None
    resolved_refs: bool = False
    resolved_generation: int | None = None
    message: str = ""
    """The message of the first of the two conditions that is not True, if any."""

    def current(self, generation: int) -> bool:
        """Accepted and ResolvedRefs True, both about the route's ``generation``."""
        return (
            self.accepted
            and self.resolved_refs
            and self.accepted_generation == generation
            and self.resolved_generation == generation
        )


@dataclass(frozen=True)
class RouteState:
    """A Gateway API HTTPRoute whose backend weights the canary sets."""

    name: str
    generation: int
    resource_version: str
    rules: tuple[Mapping[str, Any], ...]
    """``spec.rules`` exactly as read: a merge patch replaces the list whole."""
    parents: tuple[ParentState, ...] = ()


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile of a ModelDeployment knows about the world."""

    source: Source
    stable: DeploymentState | None = None
    canary: DeploymentState | None = None
    services: tuple[ServiceState, ...] = ()
    hpa: HpaState | None = None
    route: RouteState | None = None
    """The HTTPRoute named by ``gatewayAPI.httpRoute``; None when absent (or not asked for)."""
    measurement: Measurement | None = None
    """The analysis measurement taken for this reconcile (see ``analysis.measurement_due``)."""

    def deployment(self, variant: Variant) -> DeploymentState | None:
        return self.stable if variant is Variant.STABLE else self.canary

    def service(self, name: str) -> ServiceState | None:
        return next((s for s in self.services if s.name == name), None)


def observe(
    source: Source,
    *,
    deployments: Iterable[Mapping[str, Any]] = (),
    services: Iterable[Mapping[str, Any]] = (),
    hpa: Mapping[str, Any] | None = None,
    route: Mapping[str, Any] | None = None,
    measurement: Measurement | None = None,
) -> Observed:
    """An :class:`Observed` from raw objects: the ModelDeployment's Deployments (placed by
    their ``mlops.dev/variant`` label; others are ignored), its Services, its HPA and the
    HTTPRoute, as the API server returns them."""
    states = [deployment_state(d) for d in deployments]
    by_variant = {s.variant: s for s in states}
    return Observed(
        source=source,
        stable=by_variant.get(Variant.STABLE.value),
        canary=by_variant.get(Variant.CANARY.value),
        services=tuple(service_state(s) for s in services),
        hpa=hpa_state(hpa) if hpa is not None else None,
        route=route_state(route) if route is not None else None,
        measurement=measurement,
    )


def deployment_state(body: Mapping[str, Any]) -> DeploymentState:
    """A Deployment of ours as a :class:`DeploymentState`."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    server = next((c for c in containers if c.get("name") == SERVER), None)
    model = None
    for env in (server or {}).get("env") or []:
        if env.get("name") == MODEL_URI_ENV and "value" in env:
            model = str(env["value"])
    replicas = spec.get("replicas")
    return DeploymentState(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        owner_uid=_controller_uid(meta),
        variant=(meta.get("labels") or {}).get(VARIANT_LABEL),
        revision=_int(labels.get(REVISION_LABEL)),
        model=model,
        template_hash=(meta.get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION),
        replicas=1 if replicas is None else int(replicas),
        generation=int(meta.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        current=int(status.get("replicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
    )


_PORT_KEYS = ("name", "port", "targetPort", "protocol")


def service_state(body: Mapping[str, Any]) -> ServiceState:
    """A Service as a :class:`ServiceState`."""
    meta = body.get("metadata") or {}
    ports = (body.get("spec") or {}).get("ports") or []
    return ServiceState(
        name=str(meta.get("name", "")),
        owner_uid=_controller_uid(meta),
        ports=tuple({k: p[k] for k in _PORT_KEYS if k in p} for p in ports),
    )


def hpa_state(body: Mapping[str, Any]) -> HpaState:
    """An autoscaling/v2 HorizontalPodAutoscaler as an :class:`HpaState`."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    metrics = spec.get("metrics") or []
    cpu = None
    if len(metrics) == 1 and metrics[0].get("type") == "Resource":
        resource = metrics[0].get("resource") or {}
        target = resource.get("target") or {}
        if resource.get("name") == "cpu" and target.get("type") == "Utilization":
            cpu = _int(target.get("averageUtilization"))
    return HpaState(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        owner_uid=_controller_uid(meta),
        target=(spec.get("scaleTargetRef") or {}).get("name"),
        min_replicas=_int(spec.get("minReplicas")),
        max_replicas=_int(spec.get("maxReplicas")),
        cpu_utilization=cpu,
    )


def route_state(body: Mapping[str, Any]) -> RouteState:
    """A gateway.networking.k8s.io/v1 HTTPRoute as a :class:`RouteState`."""
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    parents = []
    for parent in (body.get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        name = f"{ref.get('namespace') or namespace}/{ref.get('name', '')}"
        if ref.get("sectionName"):
            name += f"/{ref['sectionName']}"
        conditions = {c.get("type"): c for c in parent.get("conditions") or []}
        accepted = conditions.get("Accepted") or {}
        resolved = conditions.get("ResolvedRefs") or {}
        message = next(
            (
                f"{c.get('type')}: {c.get('reason', '')} {c.get('message', '')}".strip()
                for c in (accepted, resolved)
                if c and c.get("status") != "True"
            ),
            "",
        )
        parents.append(
            ParentState(
                ref=name,
                accepted=accepted.get("status") == "True",
                accepted_generation=_int(accepted.get("observedGeneration")),
                resolved_refs=resolved.get("status") == "True",
                resolved_generation=_int(resolved.get("observedGeneration")),
                message=message,
            )
        )
    return RouteState(
        name=str(meta.get("name", "")),
        generation=int(meta.get("generation") or 0),
        resource_version=str(meta.get("resourceVersion", "")),
        rules=tuple(copy.deepcopy(list((body.get("spec") or {}).get("rules") or []))),
        parents=tuple(parents),
    )


def _controller_uid(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            uid = ref.get("uid")
            return str(uid) if uid is not None else None
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
