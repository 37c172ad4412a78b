"""Fixtures of the end-to-end tests: the CRDs installed and the operator running."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e.operator_process import OperatorProcess
from e2e.retrainpolicies import RetrainPolicies
from e2e.trainingjobs import TrainingJobs
from localcluster.pytest_plugin import SESSION_PREFIX
from localcluster.waiting import wait_for


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


@pytest.fixture
def rps(k8s: client.ApiClient, namespace: str, operator: OperatorProcess) -> RetrainPolicies:
    """RetrainPolicies (their runs, Events and ModelDeployments) in the test's namespace,
    with the operator running."""
    return RetrainPolicies(k8s, namespace)


@pytest.fixture
def replicas(kubeconfig: str, crds: list[str], tmp_path: Path) -> Iterator[Any]:
    """Start operator replicas electing a leader on one Lease: ``start(name, namespace)``.

    Each serves only ``namespace`` (with the Lease in it), which must lie outside this
    session's prefix (see :func:`outside_namespace`), so the session's operator never
    acts there and need not stop: only the replicas act. Replicas still running at the
    end are killed.
    """
    started: list[OperatorProcess] = []

    def start(name: str, namespace: str) -> OperatorProcess:
        process = OperatorProcess(
            kubeconfig,
            tmp_path / f"{name}.log",
            "--namespace",
            namespace,
            "--leader-election",
            "mlops-e2e",
            "--lease-namespace",
            namespace,
        )
        process.start()
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()


@pytest.fixture
def outside_namespace(k8s: client.ApiClient) -> Iterator[str]:
    """A fresh namespace that no session's operator serves, deleted afterwards.

    ``<prefix>x-<hex>`` matches no session's ``t<4 hex>-*`` glob, this session's included:
    for operators a test starts itself (:func:`replicas`).
    """
    core = client.CoreV1Api(k8s)
    name = f"{SESSION_PREFIX}x-{secrets.token_hex(4)}"
    labels = {"app.kubernetes.io/created-by": "pytest"}
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        30,
        f"service account default in namespace {name}",
    )
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except client.ApiException as exc:
        if exc.status != 404:
            raise
