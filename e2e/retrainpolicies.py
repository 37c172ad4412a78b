"""Reading and writing RetrainPolicies (and the runs they create) in e2e tests.

A test steers a policy the way a user and the world do: the drift value through an
:class:`~localcluster.exporter.Exporter` scraped by the real Prometheus, a manual retrain
or promotion through an annotation, the run's outcome through KWOK pod annotations
(completion delay, termination message). It reads what a user reads: the policy's status
and Events, and the TrainingJobs labelled with the policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kubernetes import client

from e2e.objects import Objects, condition, found
from e2e.trainingjobs import COMPLETE_DELAY
from localcluster.exporter import Exporter
from localcluster.kwok import TERMINATION_MESSAGE_ANNOTATION
from localcluster.waiting import wait_for
from mlops_operator import GROUP, VERSION
from mlops_operator.api.keys import RETRAINPOLICY_LABEL

PLURAL = "retrainpolicies"
MD_PLURAL = "modeldeployments"
TJ_PLURAL = "trainingjobs"
#: The gauge tests set as the drift value (labels: namespace, policy).
DRIFT_METRIC = "model_drift"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def parse_time(stamp: str) -> datetime:
    """An RFC 3339 time as status writes it (``2026-11-22T04:00:00Z``)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def time_id(t: datetime | str) -> str:
    """The id a run's name takes from a time: epoch seconds as 7 base-36 digits.

    Written out here rather than imported, so that a test checks the operator's names
    against the documented rule (``<policy>-<d|s|m>-<id>``), not against itself.
    """
    n = int((parse_time(t) if isinstance(t, str) else t).timestamp())
    digits = ""
    while n:
        n, d = divmod(n, 36)
        digits = _BASE36[d] + digits
    return digits.rjust(7, "0")


def run_spec(
    *,
    metrics: Mapping[str, float] | None = None,
    delay: str = "1s",
    model_uri: str | None = "s3://models/churn",
    **spec: Any,
) -> dict[str, Any]:
    """A TrainingJob spec for a policy's template: one CPU pod that KWOK completes after
    ``delay``, writing ``{"metrics": metrics}`` to its termination message."""
    annotations = {COMPLETE_DELAY: delay}
    if metrics is not None:
        annotations[TERMINATION_MESSAGE_ANNOTATION] = json.dumps({"metrics": dict(metrics)})
    body: dict[str, Any] = {
        "image": "registry.example/train:1",
        "podTemplate": {"metadata": {"annotations": annotations}},
        **spec,
    }
    if model_uri is not None:
        body["output"] = {"modelUri": model_uri}
    return body


def drift_query(namespace: str) -> str:
    """The PromQL a policy in ``namespace`` reads: the test's own gauge, nobody else's."""
    return f'max({DRIFT_METRIC}{{namespace="{namespace}"}})'


def drift_trigger(
    prometheus_url: str,
    namespace: str,
    *,
    threshold: float = 0.3,
    for_: str = "4s",
    interval: str = "1s",
) -> dict[str, Any]:
    """``spec.triggers.drift`` on :func:`drift_query`."""
    return {
        "prometheus": {"address": prometheus_url},
        "query": drift_query(namespace),
        "threshold": threshold,
        "for": for_,
        "interval": interval,
    }


def manifest(
    name: str,
    *,
    triggers: dict[str, Any],
    template: dict[str, Any] | None = None,
    template_metadata: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A RetrainPolicy; ``template`` is its runs' TrainingJob spec (default :func:`run_spec`)."""
    job: dict[str, Any] = {"spec": template if template is not None else run_spec()}
    if template_metadata:
        job["metadata"] = template_metadata
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RetrainPolicy",
        "metadata": metadata,
        "spec": {"triggers": triggers, "trainingJobTemplate": job, **spec},
    }


class Drift:
    """The drift value one policy reads, set through the exporter and awaited in Prometheus."""

    def __init__(self, exporter: Exporter, namespace: str, policy: str) -> None:
        self.exporter = exporter
        self.namespace = namespace
        self.labels = {"namespace": namespace, "policy": policy}

    def set(self, value: float) -> None:
        """Publish ``value`` and return once Prometheus answers the policy's query with it."""
        self.exporter.set(DRIFT_METRIC, value, self.labels)
        self.exporter.wait_scraped(drift_query(self.namespace), value)

    def clear(self) -> None:
        """Stop publishing; return once the policy's query has no data."""
        self.exporter.clear(DRIFT_METRIC, self.labels)
        self.exporter.wait_scraped(drift_query(self.namespace), None)


class RetrainPolicies(Objects):
    """RetrainPolicies of one namespace, their runs and their Events."""

    plural = PLURAL
    kind = "RetrainPolicy"

    # --- the policy -------------------------------------------------------------------------

    def annotations(self, name: str) -> dict[str, str]:
        return dict(self.get(name)["metadata"].get("annotations") or {})

    def wait_condition(
        self,
        name: str,
        type_: str,
        status: str,
        reason: str | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        """Wait for condition ``type_`` with ``status`` (and ``reason``); return the condition."""

        def matches(s: dict[str, Any]) -> bool:
            c = find(s, type_)
            return bool(c and c["status"] == status and reason in (None, c["reason"]))

        found = find(
            self.wait(name, matches, f"condition {type_}={status} {reason or ''}", timeout),
            type_,
        )
        assert found is not None
        return found

    # --- its runs ---------------------------------------------------------------------------

    def runs(self, name: str) -> list[dict[str, Any]]:
        """The TrainingJobs labelled with the policy, oldest first."""
        listed = self.custom.list_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            TJ_PLURAL,
            label_selector=f"{RETRAINPOLICY_LABEL}={name}",
        )
        items: list[dict[str, Any]] = listed["items"]
        return sorted(
            items, key=lambda t: (t["metadata"]["creationTimestamp"], t["metadata"]["name"])
        )

    def run_names(self, name: str) -> list[str]:
        return [t["metadata"]["name"] for t in self.runs(name)]

    def wait_runs(self, name: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until the policy has exactly ``count`` runs; return them."""
        return wait_for(
            lambda: runs if len(runs := self.runs(name)) == count else None,
            timeout,
            f"RetrainPolicy {self.namespace}/{name} to have {count} run(s)",
        )

    def run(self, name: str) -> dict[str, Any]:
        """One TrainingJob by name."""
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, TJ_PLURAL, name
        )
        return obj

    def run_exists(self, name: str) -> bool:
        return found(lambda: self.run(name))

    def wait_run_phase(self, run: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until TrainingJob ``run`` is in one of ``phases``; return its status."""
        return wait_for(
            lambda: (s := self.run(run).get("status") or {}).get("phase") in phases and s,
            timeout,
            f"TrainingJob {self.namespace}/{run} in phase {'/'.join(phases)}",
            ignore=(client.ApiException,),
        )

    # --- Events -----------------------------------------------------------------------------

    def describe(self, name: str) -> str:
        """The policy's phase, conditions and Events, as ``kubectl describe`` shows them:
        the message of a failed assertion (a NoData Event, say, tells that Prometheus was
        away)."""
        status = self.status(name)
        lines = [f"RetrainPolicy {self.namespace}/{name}: phase {status.get('phase')}"]
        lines += [
            f"  {c['type']}={c['status']} {c['reason']}: {c.get('message', '')}"
            for c in status.get("conditions", [])
        ]
        lines += [f"  event {e.type} {e.reason}: {e.message}" for e in self.events(name)]
        return "\n".join(lines)

    # --- ModelDeployments -------------------------------------------------------------------

    def create_md(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, MD_PLURAL, body
        )
        return created

    def md(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, MD_PLURAL, name
        )
        return obj

    def wait_md(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], object],
        message: str,
        timeout: float = 60,
    ) -> dict[str, Any]:
        """Wait until ``predicate(status)`` of ModelDeployment ``name`` is truthy."""
        last: list[dict[str, Any]] = [{}]

        def check() -> dict[str, Any] | None:
            last[0] = self.md(name).get("status") or {}
            return last[0] if predicate(last[0]) else None

        try:
            return wait_for(check, timeout, f"ModelDeployment {self.namespace}/{name}: {message}")
        except TimeoutError as exc:
            raise type(exc)(f"{exc}; last status: {json.dumps(last[0], indent=1)}") from None


find = condition


def triggered_by(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run's ``status.triggeredBy`` (empty if not recorded)."""
    found: dict[str, Any] = (run.get("status") or {}).get("triggeredBy") or {}
    return found
