"""Our kinds' objects in the caches: compact JSON, parsed when read."""

from __future__ import annotations

import json
from typing import Any

from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.controllers import trainingjob
from mlops_operator.controllers.reconciler import LAST_APPLIED, Cached, Unparsable, parsed

CTL = trainingjob.CONTROLLER


def body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {
            "name": "llm",
            "namespace": "ml",
            "uid": "u-1",
            "resourceVersion": "42",
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "annotations": {LAST_APPLIED: json.dumps({"spec": spec}), "team": "nlp"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}] * 5,
        },
        "spec": {"image": "train:1", "gpusPerNode": 1, **spec},
        "status": {"phase": "Running", "attempts": 1},
    }


def test_the_cache_keeps_identity_phase_and_json_without_the_servers_bookkeeping() -> None:
    cached = Cached.of(body())
    assert (cached.uid, cached.resource_version, cached.created, cached.phase) == (
        "u-1",
        "42",
        "2026-12-01T10:00:00Z",
        "Running",
    )
    kept = json.loads(cached.raw)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"team": "nlp"}
    assert kept["spec"] == {"image": "train:1", "gpusPerNode": 1}
    assert len(cached.raw) < len(json.dumps(body())) / 2


def test_parsed_is_the_model_and_is_shared_while_the_version_is_the_same() -> None:
    first = parsed(CTL, Cached.of(body()))
    assert isinstance(first, TrainingJob)
    assert first.metadata.resource_version == "42"
    assert first.spec.gpus_per_node == 1
    assert first.status.attempts == 1
    assert parsed(CTL, Cached.of(body())) is first  # a requeue at one version parses once
    changed = body()
    changed["metadata"]["resourceVersion"] = "43"
    assert parsed(CTL, Cached.of(changed)) is not first


def test_an_object_the_models_refuse_is_unparsable_with_its_status_kept() -> None:
    bad = body(nodes="two")
    found = parsed(CTL, Cached.of(bad))
    assert isinstance(found, Unparsable)
    assert "spec.nodes" in str(found.error)
    assert found.status.attempts == 1
    assert found.metadata.uid == "u-1"


def test_an_object_without_status_has_no_phase() -> None:
    raw = body()
    del raw["status"]
    assert Cached.of(raw).phase is None
