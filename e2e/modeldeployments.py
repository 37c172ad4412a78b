"""Reading and writing ModelDeployments (and their Deployments, pods, Events) in e2e tests.

Besides the ModelDeployment itself, tests here need three things from the cluster that the
operator does not make:

- Prometheus values the test controls: :class:`ErrorRatio` publishes
  ``model_error_ratio{namespace, name, variant}`` on the session's exporter, and
  :func:`analysis` points a canary's analysis at exactly that series.
- Canary pods that are slow or never become Ready. A ModelDeployment's spec has no pod
  template (no pod annotations), so KWOK's per-pod annotations cannot come from it;
  :class:`PodAnnotations` adds them at admission, with a MutatingAdmissionPolicy bound to
  one namespace and one variant, the way a sidecar injector adds its own. The operator and
  the Deployments are untouched; nothing writes a pod's status.
- A gateway controller for Gateway API routing: none runs in the local cluster.
  :class:`GatewayStandIn` writes an HTTPRoute's ``status.parents`` as a gateway
  controller would (Accepted and ResolvedRefs True at the route's generation). That is the
  status of a *route*, written in the role of its gateway controller, never the status of a
  Deployment or pod.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from e2e.objects import Objects
from localcluster.exporter import Exporter, series
from localcluster.waiting import wait_for
from mlops_operator import GROUP, VERSION
from mlops_operator.api.keys import MODELDEPLOYMENT_LABEL, VARIANT_LABEL

PLURAL = "modeldeployments"
IMAGE = "registry.example/serve:1"
METRIC = "model_error_ratio"
#: The analysis query: the canary's (or stable's) error ratio as the test publishes it.
QUERY = 'max(model_error_ratio{namespace="{{namespace}}", name="{{name}}", variant="{{variant}}"})'
MAX_ERROR_RATIO = 0.05

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_VERSION = "v1"
ROUTES = "httproutes"
#: The controllerName the stand-in gateway reports under.
GATEWAY_CONTROLLER = "e2e.mlops.dev/gateway-stand-in"


def analysis(
    prometheus_url: str, *, interval: str = "1s", failure_limit: int = 0
) -> dict[str, Any]:
    """``spec.rollout.canary.analysis``: the error ratio, at most :data:`MAX_ERROR_RATIO`."""
    return {
        "interval": interval,
        "failureLimit": failure_limit,
        "prometheus": {"address": prometheus_url},
        "metrics": [
            {"name": "error-ratio", "query": QUERY, "thresholdRange": {"max": MAX_ERROR_RATIO}}
        ],
    }


def manifest(
    name: str,
    model: str | dict[str, Any],
    *,
    replicas: int = 2,
    steps: list[dict[str, Any]] | None = None,
    analysis: dict[str, Any] | None = None,
    deadline: int | None = None,
    http_route: str | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A ModelDeployment; ``model`` is a URI or a ``spec.model`` dict (``trainingJobRef``).

    With ``steps`` it rolls out by canary (``analysis``, ``deadline`` = its
    progressDeadlineSeconds, ``http_route`` = Gateway API routing); without, at once.
    """
    body: dict[str, Any] = {
        "model": {"uri": model} if isinstance(model, str) else model,
        "server": {"image": IMAGE, "readinessPath": "/ready"},
        "replicas": replicas,
        **spec,
    }
    if steps is not None:
        canary: dict[str, Any] = {"steps": steps}
        if analysis is not None:
            canary["analysis"] = analysis
        if deadline is not None:
            canary["progressDeadlineSeconds"] = deadline
        if http_route is not None:
            canary["trafficRouting"] = {"gatewayAPI": {"httpRoute": http_route}}
        body["rollout"] = {"canary": canary}
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": metadata,
        "spec": body,
    }


def model_of(deployment: Any) -> str | None:
    """The ``MODEL_URI`` of a Deployment's server container."""
    env = deployment.spec.template.spec.containers[0].env or []
    return next((e.value for e in env if e.name == "MODEL_URI"), None)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp of status (``...Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class ModelDeployments(Objects):
    """ModelDeployments of one namespace, and what they own."""

    plural = PLURAL
    kind = "ModelDeployment"

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        super().__init__(api, namespace)
        self.apps = client.AppsV1Api(api)

    # -- the ModelDeployment ----------------------------------------------------------

    def set_model(self, name: str, uri: str) -> None:
        """A new model by spec edit (``spec.model.uri``)."""
        self.patch(name, {"spec": {"model": {"uri": uri}}})

    def wait_stable(self, name: str, model: str, timeout: float = 30) -> dict[str, Any]:
        """Wait until ``model`` is the stable one, fully rolled out, and no canary runs."""
        return self.wait(
            name,
            lambda s: (
                (s.get("stable") or {}).get("model") == model
                and "canary" not in s
                and s.get("phase") == "Healthy"
            ),
            f"Healthy, serving {model} as stable",
            timeout,
        )

    def wait_canary(
        self, name: str, model: str, step: int | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        """Wait until the canary runs ``model`` (at ``step``, if given); return the status."""
        return self.wait(
            name,
            lambda s: (
                (c := s.get("canary") or {}).get("model") == model
                and not c.get("promoting")
                and (step is None or c.get("stepIndex") == step)
            ),
            f"canary {model}" + ("" if step is None else f" at step {step}"),
            timeout,
        )

    # -- its children -----------------------------------------------------------------

    def deployment(self, name: str, variant: str) -> Any:
        """The variant's Deployment (``<name>-<variant>``), or None."""
        try:
            return self.apps.read_namespaced_deployment(f"{name}-{variant}", self.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pods(self, name: str, variant: str | None = None) -> list[Any]:
        """Pods of the ModelDeployment (of one variant), not being deleted, by name."""
        selector = f"{MODELDEPLOYMENT_LABEL}={name}"
        if variant is not None:
            selector += f",{VARIANT_LABEL}={variant}"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        alive = [p for p in pods if p.metadata.deletion_timestamp is None]
        return sorted(alive, key=lambda p: p.metadata.name)

    def pod_names(self, name: str, variant: str | None = None) -> list[str]:
        return [p.metadata.name for p in self.pods(name, variant)]


class ErrorRatio:
    """``model_error_ratio`` of one ModelDeployment, per variant, on the test's exporter."""

    def __init__(self, exporter: Exporter, namespace: str, name: str) -> None:
        self.exporter = exporter
        self.namespace = namespace
        self.name = name

    def labels(self, variant: str) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name, "variant": variant}

    def set(self, variant: str, value: float) -> None:
        """Publish ``value`` and wait until Prometheus returns it."""
        labels = self.labels(variant)
        self.exporter.set(METRIC, value, labels)
        self.exporter.wait_scraped(series(METRIC, labels), value)

    def clear(self, variant: str) -> None:
        """Stop publishing; wait until Prometheus has no data for it."""
        labels = self.labels(variant)
        self.exporter.clear(METRIC, labels)
        self.exporter.wait_scraped(series(METRIC, labels), None)


class Recorder:
    """Samples a ModelDeployment's status and canary Deployment every 0.1 s, in a thread.

    Lets a test assert what happened *during* a rollout (the weights it went through, that
    it never promoted while holding) rather than only where it ended.
    """

    def __init__(self, mds: ModelDeployments, name: str) -> None:
        self.mds = mds
        self.name = name
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{name}", daemon=True)

    def _sample(self) -> dict[str, Any]:
        status = self.mds.status(self.name)
        canary = self.mds.deployment(self.name, "canary")
        c = status.get("canary") or {}
        return {
            "time": time.time(),
            "phase": status.get("phase"),
            "stable": (status.get("stable") or {}).get("model"),
            "canary": c.get("model"),
            "step": c.get("stepIndex"),
            "weight": c.get("weight"),
            "promoting": bool(c.get("promoting")),
            "started": c.get("stepStartedAt"),
            "inconclusive": (c.get("analysis") or {}).get("inconclusive"),
            "successes": (c.get("analysis") or {}).get("successes"),
            "failures": (c.get("analysis") or {}).get("failures"),
            "canary_replicas": canary.spec.replicas if canary is not None else None,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            # A transient API error loses one sample: the next one will do.
            with contextlib.suppress(Exception):
                self.samples.append(self._sample())
            self._stop.wait(0.1)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        # One last look, so that the samples end where the test's own wait ended.
        with contextlib.suppress(Exception):
            self.samples.append(self._sample())

    def values(self, key: str) -> list[Any]:
        """The values ``key`` went through, in order (each run of equal values once)."""
        seen: list[Any] = []
        for sample in self.samples:
            if not seen or sample[key] != seen[-1]:
                seen.append(sample[key])
        return seen


@contextmanager
def pod_annotations(
    api: client.ApiClient, namespace: str, variant: str, annotations: dict[str, str]
) -> Iterator[None]:
    """Pods of ``variant`` created in ``namespace`` get ``annotations`` at admission.

    A MutatingAdmissionPolicy and its binding (cluster-scoped, named after the namespace,
    bound to that namespace and that variant only), deleted afterwards. Used to steer KWOK
    (never Ready, Ready after a delay), since a ModelDeployment has no pod template.
    """
    name = f"{namespace}-{variant}"[:253]
    adm = client.AdmissionregistrationV1Api(api)
    added = ", ".join(f'"{k}": "{v}"' for k, v in annotations.items())
    ops = " + ".join(
        f'[JSONPatch{{op: "add", path: "/metadata/annotations/{_pointer(k)}", value: "{v}"}}]'
        for k, v in annotations.items()
    )
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "mutations": [
                {
                    "patchType": "JSONPatch",
                    "jsonPatch": {
                        "expression": (
                            f"has(object.metadata.annotations) ? {ops} : "
                            f'[JSONPatch{{op: "add", path: "/metadata/annotations", '
                            f"value: {{{added}}}}}]"
                        )
                    },
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "objectSelector": {"matchLabels": {VARIANT_LABEL: variant}},
            },
        },
    }
    adm.create_mutating_admission_policy(policy)
    adm.create_mutating_admission_policy_binding(binding)
    try:
        _await_policy(api, namespace, variant, annotations)
        yield
    finally:
        adm.delete_mutating_admission_policy_binding(name)
        adm.delete_mutating_admission_policy(name)


def _pointer(key: str) -> str:
    """A JSON Pointer token (RFC 6901) for an annotation key."""
    return key.replace("~", "~0").replace("/", "~1")


def _await_policy(
    api: client.ApiClient, namespace: str, variant: str, annotations: dict[str, str]
) -> None:
    """Admission policies take effect asynchronously: dry-run a pod until it is mutated."""
    core = client.CoreV1Api(api)
    probe = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "policy-probe-", "labels": {VARIANT_LABEL: variant}},
        "spec": {"containers": [{"name": "c", "image": IMAGE}]},
    }

    def mutated() -> bool:
        pod = core.create_namespaced_pod(namespace, probe, dry_run="All")
        got = pod.metadata.annotations or {}
        return all(got.get(k) == v for k, v in annotations.items())

    wait_for(mutated, 30, f"the admission policy annotating {variant} pods in {namespace}")


def http_route(name: str, md: str, port: int = 8080) -> dict[str, Any]:
    """A user's HTTPRoute whose one rule's backends are the two variants' Services."""
    return {
        "apiVersion": f"{GATEWAY_GROUP}/{GATEWAY_VERSION}",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["model.example"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": f"{md}-stable", "port": port, "weight": 100},
                        {"name": f"{md}-canary", "port": port, "weight": 0},
                    ],
                }
            ],
        },
    }


class Routes:
    """HTTPRoutes of one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GATEWAY_GROUP, GATEWAY_VERSION, self.namespace, ROUTES, body
        )
        return created

    def get(self, name: str) -> dict[str, Any]:
        route: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GATEWAY_GROUP, GATEWAY_VERSION, self.namespace, ROUTES, name
        )
        return route

    def weights(self, name: str, md: str) -> tuple[int, int]:
        """``(stable, canary)`` backend weights of the route's rule."""
        refs = {
            r["name"]: r.get("weight", 1) for r in self.get(name)["spec"]["rules"][0]["backendRefs"]
        }
        return refs[f"{md}-stable"], refs[f"{md}-canary"]

    def accept(self, name: str) -> int:
        """Write ``status.parents`` as the route's gateway controller would: every parent
        accepted the route and resolved its refs, at its current generation."""
        route = self.get(name)
        generation = route["metadata"]["generation"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parents = [
            {
                "parentRef": {"group": GATEWAY_GROUP, "kind": "Gateway", **ref},
                "controllerName": GATEWAY_CONTROLLER,
                "conditions": [
                    {
                        "type": type_,
                        "status": "True",
                        "reason": type_,
                        "message": "",
                        "observedGeneration": generation,
                        "lastTransitionTime": now,
                    }
                    for type_ in ("Accepted", "ResolvedRefs")
                ],
            }
            for ref in route["spec"]["parentRefs"]
        ]
        self.custom.patch_namespaced_custom_object_status(
            GATEWAY_GROUP,
            GATEWAY_VERSION,
            self.namespace,
            ROUTES,
            name,
            {
                "metadata": {"resourceVersion": route["metadata"]["resourceVersion"]},
                "status": {"parents": parents},
            },
        )
        return int(generation)


class GatewayStandIn:
    """Plays the gateway controller of one HTTPRoute, in a thread: whenever the route's
    generation is newer than what ``status.parents`` reports on, it accepts it again.

    No gateway controller runs in the local cluster; a real one does exactly this (with
    the data plane behind it). It writes only the route's status.
    """

    def __init__(self, routes: Routes, name: str) -> None:
        self.routes = routes
        self.name = name
        self.accepted: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"gateway-{name}", daemon=True)

    def _reported(self, route: dict[str, Any]) -> int | None:
        parents = (route.get("status") or {}).get("parents") or []
        gens = [c.get("observedGeneration") for p in parents for c in p.get("conditions", [])]
        return min(gens) if gens and None not in gens else None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                route = self.routes.get(self.name)
                if self._reported(route) != route["metadata"]["generation"]:
                    self.accepted.append(self.routes.accept(self.name))
            except client.ApiException:  # a conflict with the operator's write: next round
                pass
            self._stop.wait(0.1)

    def __enter__(self) -> GatewayStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
