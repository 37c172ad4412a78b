"""The committed CRDs are exactly what the generator makes from the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_operator.api import crdgen

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(crdgen.render_all()))
def test_committed_crd_matches_models(name: str) -> None:
    path = ROOT / "crds" / name
    assert path.exists(), f"{path} is missing: run `make crds`"
    assert path.read_text() == crdgen.render_all()[name], (
        f"{path} differs from the pydantic models: run `make crds`"
    )


def test_no_stale_crd_files() -> None:
    committed = {p.name for p in (ROOT / "crds").glob("*.yaml")}
    assert committed == set(crdgen.render_all()), "stale files in crds/: run `make crds`"


def test_chart_copy_matches() -> None:
    chart = ROOT / crdgen.CHART_CRD_DIR
    for name, text in crdgen.render_all().items():
        assert (chart / name).read_text() == text, f"{chart / name} is stale: run `make crds`"
    committed = {p.name for p in chart.glob("*.yaml")}
    assert committed == set(crdgen.render_all()), f"stale files in {chart}: run `make crds`"
