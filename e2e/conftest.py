"""Fixtures of the end-to-end tests: the CRDs installed and the operator running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e.operator_process import OperatorProcess
from e2e.trainingjobs import TrainingJobs
from localcluster.pytest_plugin import SESSION_PREFIX


@pytest.fixture(scope="session")
def operator(
    kubeconfig: str, crds: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator for the whole session, serving this session's namespaces only.

    At the end it must stop cleanly on SIGTERM, as it would in a rolling update.
    """
    log = Path(tmp_path_factory.mktemp("operator")) / "operator.log"
    process = OperatorProcess(kubeconfig, log, "--namespace", f"{SESSION_PREFIX}-*")
    process.start()
    yield process
    assert process.stop() == 0, f"the operator did not exit cleanly; see {log}"


@pytest.fixture
def tjs(k8s: client.ApiClient, namespace: str, operator: OperatorProcess) -> TrainingJobs:
    """TrainingJobs in the test's namespace, with the operator running."""
    return TrainingJobs(k8s, namespace)
