"""The benchmark runs the operator with its runtime dependencies only."""

from __future__ import annotations

from bench import runtime


def test_the_runtime_dependencies_are_the_projects_without_the_dev_extras() -> None:
    deps = runtime.dependencies()
    names = {d.split(">")[0].split("<")[0].split("=")[0].strip() for d in deps}
    assert {"kopf", "kubernetes-asyncio", "pydantic", "structlog"} <= names
    # The synchronous client (a dev extra) would add ~20 MiB to the measured RSS: kopf
    # imports it whenever it is installed.
    assert "kubernetes" not in names
    assert "pytest" not in names


def test_the_operator_source_is_the_tree_the_benchmark_imports() -> None:
    source = runtime.source()
    assert (source / "mlops_operator" / "__main__.py").exists()
