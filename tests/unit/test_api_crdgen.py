"""The generated CRDs are structural, carry the contract's names, and agree with pydantic."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_operator.api import crdgen
from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.api.resource import CustomResource
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import IMMUTABLE_FIELDS, TrainingJob

ROOT = Path(__file__).resolve().parents[2]
KINDS = {k.crd.kind: k for k in crdgen.KINDS}


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def schema_of(kind: type[CustomResource]) -> dict[str, Any]:
    return crdgen.openapi_schema(kind)


@pytest.mark.parametrize("kind", crdgen.KINDS, ids=lambda k: k.crd.kind)
def test_schema_is_structural(kind: type[CustomResource]) -> None:
    for path, node in nodes(schema_of(kind)):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        forbidden = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "const", "nullable"}
        assert not forbidden & node.keys(), (path, forbidden & node.keys())
        assert node.get("additionalProperties") is not True, path
        if "default" in node:
            assert node["default"] is not None, path


@pytest.mark.parametrize(
    ("kind", "short", "plural", "columns"),
    [
        (
            TrainingJob,
            "tj",
            "trainingjobs",
            {
                "Phase": ".status.phase",
                "Nodes": ".spec.nodes",
                "GPUs": ".spec.gpusPerNode",
                "Attempts": ".status.attempts",
                "Model": ".status.model.uri",
                "Age": ".metadata.creationTimestamp",
            },
        ),
        (
            ModelDeployment,
            "md",
            "modeldeployments",
            {
                "Phase": ".status.phase",
                "Model": ".status.stable.model",
                "Canary": ".status.canary.model",
                "Weight": ".status.canary.weight",
                "Ready": '.status.conditions[?(@.type=="Ready")].status',
                "Age": ".metadata.creationTimestamp",
            },
        ),
        (
            RetrainPolicy,
            "rp",
            "retrainpolicies",
            {
                "Phase": ".status.phase",
                "Value": ".status.lastValue",
                "Threshold": ".spec.triggers.drift.threshold",
                "Active": ".status.activeTrainingJob",
                "Latest model": ".status.latestModel.uri",
                "Age": ".metadata.creationTimestamp",
            },
        ),
    ],
)
def test_names_and_printer_columns(
    kind: type[CustomResource], short: str, plural: str, columns: dict[str, str]
) -> None:
    crd = crdgen.crd(kind)
    assert crd["metadata"]["name"] == f"{plural}.mlops.dev"
    spec = crd["spec"]
    assert spec["group"] == "mlops.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == [short]
    assert spec["names"]["categories"] == ["mlops"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    got = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert got == columns
    assert list(got) == list(columns)  # in the contract's order


@pytest.mark.parametrize("kind", crdgen.KINDS, ids=lambda k: k.crd.kind)
def test_conditions_are_a_map_keyed_by_type(kind: type[CustomResource]) -> None:
    conditions = schema_of(kind)["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) == {"type", "status", "reason", "lastTransitionTime"}
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert "observedGeneration" in item["properties"]


def test_trainingjob_immutability_rules_only_on_a_trainingjob() -> None:
    spec = schema_of(TrainingJob)["properties"]["spec"]
    messages = [r["message"] for r in spec["x-kubernetes-validations"]]
    assert messages == [f"spec.{f} is immutable" for f in IMMUTABLE_FIELDS]
    mutable = {"suspend", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"}
    assert set(spec["properties"]) == set(IMMUTABLE_FIELDS) | mutable
    template = schema_of(RetrainPolicy)["properties"]["spec"]["properties"]["trainingJobTemplate"]
    embedded = template["properties"]["spec"]
    assert "x-kubernetes-validations" not in embedded
    assert embedded["properties"] == spec["properties"]


def test_every_rule_names_a_field() -> None:
    for kind in crdgen.KINDS:
        for path, node in nodes(schema_of(kind)):
            for rule in node.get("x-kubernetes-validations", []):
                last = path.rsplit(".", 1)[-1].rstrip("[]")
                assert last in rule["message"] or "spec." in rule["message"], (path, rule)


def test_pass_through_types_preserve_unknown_fields() -> None:
    spec = schema_of(TrainingJob)["properties"]["spec"]["properties"]
    assert spec["resources"] == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": spec["resources"]["description"],
    }
    assert spec["podTemplate"]["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"]
    env = spec["env"]["items"]
    assert env["required"] == ["name"]
    assert env["x-kubernetes-preserve-unknown-fields"] is True


def test_render_is_deterministic_and_loads() -> None:
    first = crdgen.render_all()
    assert first == crdgen.render_all()
    for text in first.values():
        assert text.startswith("# Generated by `make crds`")
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"


def test_write_makes_the_files_and_the_chart_copy(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    crdgen.main([str(tmp_path / "crds"), "--chart-dir", str(chart)])
    for name, text in crdgen.render_all().items():
        assert (tmp_path / "crds" / name).read_text() == text
        assert (chart / "files" / "crds" / name).read_text() == text


def test_no_chart_no_copy(tmp_path: Path) -> None:
    crdgen.write(tmp_path / "crds", tmp_path / "missing-chart")
    assert not (tmp_path / "missing-chart").exists()


def test_unsupported_union_is_refused() -> None:
    with pytest.raises(crdgen.SchemaError, match="anyOf"):
        crdgen.structural({"anyOf": [{"type": "string"}, {"type": "integer"}]})
    with pytest.raises(crdgen.SchemaError, match="not allowed"):
        crdgen.structural({"type": "string", "discriminator": {}})


# --- schema defaults == pydantic defaults ------------------------------------------------


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What the apiserver's structural defaulting does: set missing defaults, top down."""
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
    elif isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def examples() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        out.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return out


MINIMAL: list[dict[str, Any]] = [
    {"kind": "TrainingJob", "spec": {"image": "x"}},
    {"kind": "ModelDeployment", "spec": {"model": {"uri": "s3://m"}, "server": {"image": "x"}}},
    {
        "kind": "ModelDeployment",
        "spec": {
            "model": {"uri": "s3://m"},
            "server": {"image": "x"},
            "autoscaling": {"maxReplicas": 3},
            "rollout": {
                "canary": {
                    "steps": [{"analysis": {}}],
                    "analysis": {
                        "prometheus": {"address": "http://p"},
                        "metrics": [{"name": "a", "query": "q", "thresholdRange": {"max": 1}}],
                    },
                }
            },
        },
    },
    {
        "kind": "RetrainPolicy",
        "spec": {
            "trainingJobTemplate": {"spec": {"image": "x"}},
            "triggers": {
                "drift": {"prometheus": {"address": "http://p"}, "query": "q", "threshold": 1},
                "schedule": {"cron": "0 0 * * *"},
            },
        },
    },
]


@pytest.mark.parametrize(
    "body", MINIMAL + examples(), ids=lambda b: f"{b['kind']}-{b.get('metadata', {}).get('name')}"
)
def test_schema_defaults_match_pydantic_defaults(body: dict[str, Any]) -> None:
    kind = KINDS[body["kind"]]
    spec_schema = schema_of(kind)["properties"]["spec"]
    by_apiserver = apply_defaults(spec_schema, copy.deepcopy(body["spec"]))
    by_pydantic = kind.model_validate(body).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    assert by_apiserver == by_pydantic["spec"]


def test_every_kind_has_an_example() -> None:
    assert {b["kind"] for b in examples()} == set(KINDS)
    for body in examples():
        assert "namespace" not in body["metadata"]
