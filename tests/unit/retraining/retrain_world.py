"""A RetrainPolicy and its TrainingJobs as the operator sees them, for scenario tests.

:class:`World` holds the raw objects (as the API server would), runs the pure reconcile
on them, and carries out the Plan like the controller does: creates become TrainingJobs
(with a uid and a creation time), deletes remove them, the status goes through JSON (so
times are cut to seconds, as the server stores them). Tests then say what the user would
see.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.retrainpolicy import RetrainPolicy, RetrainPolicyStatus, parse_retrainpolicy
from mlops_operator.core.plan import Event, Plan
from mlops_operator.core.retraining.observed import Observed, run_state
from mlops_operator.core.retraining.reconcile import reconcile
from mlops_operator.core.watching.series import Problem, Reading

UID = "0b8e4c1d-5a6f-4e2b-9c3d-7f1a2b3c4d5e"
T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
QUERY = "max(drift_score{model='churn'})"
MODEL = "s3://models/churn/latest"
DRIFT: dict[str, Any] = {
    "prometheus": {"address": "http://prometheus.monitoring:9090"},
    "query": QUERY,
    "threshold": 0.3,
    "for": "15m",
    "interval": "1m",
}


def policy_body(**spec: Any) -> dict[str, Any]:
    """A RetrainPolicy ``churn`` created at :data:`T0`; ``spec`` overrides its spec."""
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {
            "name": "churn",
            "namespace": "ml",
            "uid": UID,
            "generation": 1,
            "resourceVersion": "100",
            "creationTimestamp": "2026-11-22T04:00:00Z",
        },
        "spec": {
            "trainingJobTemplate": {
                "spec": {
                    "image": "ghcr.io/acme/churn-train:1.4",
                    "output": {"modelUri": MODEL},
                }
            },
            "triggers": {"drift": copy.deepcopy(DRIFT)},
            "cooldown": "0s",
            **spec,
        },
    }


def value(v: float) -> Reading:
    return Reading.value_of(v)


NO_DATA = Reading.missing(Problem.NO_DATA, "the query returned an empty result")
UNREACHABLE = Reading.missing(Problem.UNREACHABLE, "connection refused")


@dataclass
class World:
    body: dict[str, Any]
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    plans: list[Plan[RetrainPolicyStatus]] = field(default_factory=list)

    @property
    def policy(self) -> RetrainPolicy:
        return parse_retrainpolicy(self.body)

    @property
    def status(self) -> RetrainPolicyStatus:
        return self.policy.status

    def observed(self, reading: Reading | None = None) -> Observed:
        return Observed(runs=tuple(run_state(b) for b in self.runs.values()), reading=reading)

    def decide(self, now: datetime, reading: Reading | None = None) -> Plan[RetrainPolicyStatus]:
        """The Plan of one reconcile, not carried out."""
        return reconcile(self.policy, self.observed(reading), now)

    def step(
        self, now: datetime, reading: Reading | None = None, *, write_status: bool = True
    ) -> Plan[RetrainPolicyStatus]:
        """One reconcile, carried out (``write_status=False``: a crash before the status)."""
        plan = self.decide(now, reading)
        self.plans.append(plan)
        for create in plan.creates:
            manifest = copy.deepcopy(create.manifest)
            manifest["metadata"]["uid"] = str(uuid.uuid4())
            manifest["metadata"]["creationTimestamp"] = _rfc3339(now)
            self.runs.setdefault(create.name, manifest)
        for delete in plan.deletes:
            run = self.runs.get(delete.name)
            if run is not None and run["metadata"]["uid"] == delete.uid:
                run["metadata"]["deletionTimestamp"] = _rfc3339(now)
        if write_status and plan.status is not None:
            self.body["status"] = plan.status.model_dump(
                by_alias=True, exclude_none=True, mode="json"
            )
        self.events.extend(plan.events)
        return plan

    def quiet(self, now: datetime, reading: Reading | None = None) -> Plan[RetrainPolicyStatus]:
        """Assert that a reconcile now changes nothing: no write, no Event."""
        plan = self.decide(now, reading)
        assert plan.status == self.status, _diff(plan.status, self.status)
        assert (plan.creates, plan.deletes, plan.patches, plan.events) == ([], [], [], [])
        return plan

    # --- what other controllers and users do -------------------------------------------------

    def gone(self, name: str) -> None:
        """The garbage collector (or a user) removed a run."""
        del self.runs[name]

    def collect(self) -> list[str]:
        """The runs being deleted are gone now; their names."""
        names = [n for n, b in self.runs.items() if b["metadata"].get("deletionTimestamp")]
        for name in names:
            del self.runs[name]
        return names

    def finish(
        self,
        name: str,
        at: datetime,
        *,
        succeeded: bool = True,
        metrics: dict[str, Any] | None = None,
        model: str | None = MODEL,
    ) -> None:
        """The TrainingJob controller reports the run's end."""
        kind = "Succeeded" if succeeded else "Failed"
        status: dict[str, Any] = {
            "phase": kind,
            "conditions": [
                {
                    "type": kind,
                    "status": "True",
                    "reason": "Completed" if succeeded else "BackoffLimitExceeded",
                    "message": "attempt 1 completed"
                    if succeeded
                    else "attempt 1 failed: node 0 exited with code 1",
                    "lastTransitionTime": _rfc3339(at),
                }
            ],
            "completionTime": _rfc3339(at),
        }
        if succeeded and model:
            status["model"] = {"uri": model}
        if metrics is not None:
            status["metrics"] = metrics
        self.runs[name]["status"] = status

    def annotate(self, key: str, value: str | None) -> None:
        annotations = self.body["metadata"].setdefault("annotations", {})
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value

    def edit(self, **spec: Any) -> None:
        self.body["spec"].update(spec)
        self.body["metadata"]["generation"] += 1

    def reasons(self) -> list[str]:
        """The reasons of the Events so far, in order."""
        return [e.reason for e in self.events]

    def condition(self, type_: str) -> tuple[str, str, str] | None:
        for c in self.status.conditions:
            if c.type == type_:
                return (c.status, c.reason, c.message)
        return None


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _diff(a: RetrainPolicyStatus | None, b: RetrainPolicyStatus) -> str:
    left = a.model_dump(mode="json", exclude_none=True) if a else {}
    right = b.model_dump(mode="json", exclude_none=True)
    return "\n".join(
        f"{k}: {left.get(k)!r} != {right.get(k)!r}"
        for k in sorted(set(left) | set(right))
        if left.get(k) != right.get(k)
    )
