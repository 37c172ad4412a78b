"""A tiny stand-in for the objects a ModelDeployment's reconcile reads and writes.

Not a mock of the Kubernetes API: it holds raw objects as the API server would return
them, applies a Plan's creates, JSON merge patches and deletes to them the way the API
server does (a spec change bumps ``metadata.generation``; a patch carrying a stale
``resourceVersion`` conflicts), and plays the Deployment controller and the Gateway only
when a test says so (:meth:`Cluster.settle`, :meth:`Cluster.accept_route`). The reconcile
then reads these objects through the same ``observe`` functions the operator uses.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_operator.api.modeldeployment import ModelDeployment, ModelDeploymentStatus
from mlops_operator.core.plan import Plan
from mlops_operator.core.serving.analysis import Measurement
from mlops_operator.core.serving.defaults import ServingDefaults
from mlops_operator.core.serving.observed import Observed, observe
from mlops_operator.core.serving.reconcile import reconcile
from mlops_operator.core.serving.source import Source

D = ServingDefaults()
_uids = itertools.count(1)


class Conflict(Exception):
    """A patch carried a resourceVersion that is no longer current."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge key by key, null removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class Cluster:
    """Raw objects by (kind, name), and every write the plans made, in order."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    """``(verb, kind, name)`` of each create, patch and delete applied."""
    patches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """``(kind, name, patch)`` of each patch applied."""

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.objects[(kind, name)]

    def has(self, kind: str, name: str) -> bool:
        return (kind, name) in self.objects

    def put(self, body: dict[str, Any]) -> None:
        """An object made by someone else (an HTTPRoute, a stray Deployment)."""
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(_uids)}")
        meta.setdefault("generation", 1)
        meta.setdefault("resourceVersion", str(next(_uids)))
        self.objects[(body["kind"], meta["name"])] = body

    def apply(self, plan: Plan[ModelDeploymentStatus]) -> None:
        """Carry out the plan's writes in the kopf layer's order."""
        for create in plan.creates:
            key = (create.kind, create.name)
            self.writes.append(("create", *key))
            if key not in self.objects:  # AlreadyExists counts as done
                self.put(create.manifest)
        for p in plan.patches:
            key = (p.kind, p.name)
            self.writes.append(("patch", *key))
            self.patches.append((p.kind, p.name, copy.deepcopy(p.patch)))
            old = self.objects[key]
            version = (p.patch.get("metadata") or {}).get("resourceVersion")
            if version is not None and version != old["metadata"]["resourceVersion"]:
                raise Conflict(f"{key}: resourceVersion {version} is stale")
            new = merge_patch(old, p.patch)
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            new["metadata"]["resourceVersion"] = str(next(_uids))
            self.objects[key] = new
        for d in plan.deletes:
            self.writes.append(("delete", d.kind, d.name))
            self.objects.pop((d.kind, d.name), None)

    # --- the controllers a real cluster runs -------------------------------------------

    def settle(self, name: str, ready: int | None = None, *, updated: int | None = None) -> None:
        """Play the Deployment controller for one Deployment: the current template rolled
        out, ``ready`` pods ready (all by default). ``updated`` < replicas leaves the
        rollout half done, with old pods still counted."""
        body = self.get("Deployment", name)
        replicas = body["spec"].get("replicas", 1)
        up = replicas if updated is None else updated
        current = replicas if up == replicas else replicas + 1  # a surge pod of the old set
        body["status"] = {
            "observedGeneration": body["metadata"]["generation"],
            "replicas": current,
            "updatedReplicas": up,
            "readyReplicas": min(replicas if ready is None else ready, current),
            "availableReplicas": min(replicas if ready is None else ready, current),
        }

    def settle_all(self) -> None:
        for kind, name in list(self.objects):
            if kind == "Deployment":
                self.settle(name)

    def accept_route(self, name: str, *, gateways: int = 1, resolved: bool = True) -> None:
        """Play the Gateway controllers: each parent accepts the route's current
        generation, and resolves its refs if ``resolved``."""
        body = self.get("HTTPRoute", name)
        gen = body["metadata"]["generation"]
        body["status"] = {
            "parents": [
                {
                    "parentRef": {"name": f"gw-{i}"},
                    "controllerName": "example.com/gateway",
                    "conditions": [
                        _cond("Accepted", True, gen),
                        _cond("ResolvedRefs", resolved, gen, "BackendNotFound"),
                    ],
                }
                for i in range(gateways)
            ]
        }

    # --- reading it back -----------------------------------------------------------------

    def observed(
        self,
        source: Source,
        measurement: Measurement | None = None,
        *,
        route: str | None = None,
    ) -> Observed:
        """What the kopf layer would hand the reconcile."""
        return observe(
            source,
            deployments=[b for (k, _), b in self.objects.items() if k == "Deployment"],
            services=[b for (k, _), b in self.objects.items() if k == "Service"],
            hpa=next(
                (b for (k, _), b in self.objects.items() if k == "HorizontalPodAutoscaler"),
                None,
            ),
            route=self.objects.get(("HTTPRoute", route)) if route else None,
            measurement=measurement,
        )

    def model(self, name: str) -> str:
        """The MODEL_URI of a Deployment's template."""
        body = self.get("Deployment", name)
        env = body["spec"]["template"]["spec"]["containers"][0]["env"]
        return next(e["value"] for e in env if e["name"] == "MODEL_URI")


def _cond(type_: str, ok: bool, gen: int, reason: str = "Accepted") -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": type_ if ok else reason,
        "message": "" if ok else "backend not found",
        "observedGeneration": gen,
        "lastTransitionTime": "2026-11-22T04:00:00Z",
    }


def with_status(md: ModelDeployment, status: ModelDeploymentStatus | None) -> ModelDeployment:
    """``md`` as the API server would return it after the status write (a JSON round trip)."""
    body = md.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["status"] = (
        status.model_dump(mode="json", by_alias=True, exclude_none=True) if status else {}
    )
    return ModelDeployment.model_validate(body)


@dataclass
class Driver:
    """Reconcile, carry out, feed the status back: one controller loop, by hand."""

    md: ModelDeployment
    cluster: Cluster = field(default_factory=Cluster)
    source: Source | None = None
    route: str | None = None
    plans: list[Plan[ModelDeploymentStatus]] = field(default_factory=list)

    def reconcile(
        self, now: datetime, measurement: Measurement | None = None
    ) -> Plan[ModelDeploymentStatus]:
        source = self.source or Source(self.md.spec.model.uri)
        plan = reconcile(
            self.md, self.cluster.observed(source, measurement, route=self.route), now, D
        )
        self.plans.append(plan)
        self.cluster.apply(plan)
        self.md = with_status(self.md, plan.status)
        return plan

    def edit(self, **spec: Any) -> None:
        """A spec edit (bumps generation), keeping the status."""
        body = self.md.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["spec"].update(spec)
        body["metadata"]["generation"] += 1
        self.md = ModelDeployment.model_validate(body)

    def annotate(self, key: str, value: str) -> None:
        body = self.md.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["metadata"].setdefault("annotations", {})[key] = value
        self.md = ModelDeployment.model_validate(body)

    @property
    def status(self) -> ModelDeploymentStatus:
        return self.md.status

    def events(self) -> list[tuple[str, str]]:
        """``(reason, message)`` of every Event so far."""
        return [(e.reason, e.message) for p in self.plans for e in p.events]

    def reasons(self) -> list[str]:
        return [e.reason for p in self.plans for e in p.events]
