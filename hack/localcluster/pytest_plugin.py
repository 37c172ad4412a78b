"""Pytest fixtures that give tests a real Kubernetes cluster (and a real Prometheus).

Registered from the repository's root ``conftest.py``. All fixtures are lazy: a test
session that requests none of them (e.g. ``pytest tests/unit``) never starts anything.

- ``kubeconfig`` (session) -> str: path of a kubeconfig. ``$KUBECONFIG`` if set (that
  cluster is used as is); otherwise the local cluster, started if needed and torn down
  at the end if this session started it (and no other session still uses it).
- ``k8s`` (session) -> kubernetes.client.ApiClient for that kubeconfig.
- ``namespace`` (function) -> str: a fresh namespace named after the test, deleted
  afterwards without waiting for the deletion to finish.
- ``crds`` (session) -> list[str]: server-side applies crds/*.yaml, waits until each
  CRD is Established, returns their names.
- ``prometheus`` (session) -> PrometheusServer: ``.url``, ``.add_target(address,
  labels)`` (returns once scraped), ``.remove_target(address)``, ``.query(promql) ->
  list``, and ``.stop()`` / ``.start()`` / ``with .stopped():`` (same port, same data;
  the local cluster's Prometheus is shared with other sessions on that cluster).
- ``exporter`` (function) -> Exporter, already scraped by ``prometheus`` (1s interval):
  ``.set(name, value, labels)``, ``.clear(name, labels)``, ``.wait_scraped(promql,
  value)`` (value None: no data); its target is removed at the end of the test.
- ``gateway_api`` (session) -> list[str]: the Gateway API CRDs (sigs.k8s.io/gateway-api,
  standard channel, pinned in hack/toolchain/gateway-api) applied server-side and
  Established. On an external cluster only missing objects are applied, and the
  admission policy "safe-upgrades" is not installed there.
- ``gpu_nodes`` (session) -> list[str]: nodes with allocatable nvidia.com/gpu; skips
  the test if there are none.
- ``kueue`` (session) -> localcluster.kueue.Kueue: Kueue (sigs.k8s.io/kueue, pinned in
  hack/toolchain/kueue) running against the cluster, its CRDs Established. Locally it
  is started with the cluster on first use (stopped by its ``down``); on an external
  cluster ($KUBECONFIG) that cluster's Kueue is used, and the test skips without one.

Every test using one of them is marked ``cluster`` (so ``-m "not cluster"`` selects the
rest), and a test under tests/unit that uses one fails: unit tests stay cluster-free.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from localcluster import gatewayapi, kube, nodes, paths
from localcluster import kueue as kq
from localcluster import prometheus as prom
from localcluster.cluster import LocalCluster
from localcluster.exporter import Exporter
from localcluster.ports import free_ports
from localcluster.processes import ProcessTable, stop
from localcluster.waiting import wait_for

CLUSTER_FIXTURES = frozenset(
    {
        "kubeconfig",
        "k8s",
        "namespace",
        "crds",
        "prometheus",
        "exporter",
        "gateway_api",
        "gpu_nodes",
        "kueue",
    }
)
CRD_DIR = paths.REPO_ROOT / "crds"
_MAX_NAMESPACE = 63


#: Every namespace this pytest session creates starts with this. Sessions that share one
#: cluster (a developer's and CI's, or helpers working in parallel) each run their own
#: operator, and each operator serves only its session's namespaces (``--namespace
#: <prefix>-*``, a kopf glob), so no two operators ever act on the same object.
SESSION_PREFIX = "t" + secrets.token_hex(2)


def namespace_name(test_name: str) -> str:
    """A unique, valid namespace name (RFC 1123 label, <= 63 chars) from a test name.

    ``test_train[gpu-2]`` becomes e.g. ``t1a2b-test-train-gpu-2-3f9a1c``: readable in
    ``kubectl get ns`` while debugging, unique across reruns and parallel sessions, and
    prefixed with :data:`SESSION_PREFIX`.
    """
    suffix = secrets.token_hex(3)
    base = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    room = _MAX_NAMESPACE - len(suffix) - len(SESSION_PREFIX) - 2
    base = base[:room].strip("-") or "test"
    return f"{SESSION_PREFIX}-{base}-{suffix}"


def _is_unit_test(item: pytest.Item) -> bool:
    parts = item.path.parts
    return any(a == "tests" and b == "unit" for a, b in itertools.pairwise(parts))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a cluster fixture with ``cluster``."""
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail unit tests that would start a cluster, before the fixture starts it."""
    used = CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ()))
    if used and _is_unit_test(item):
        pytest.fail(
            f"{item.nodeid} is a unit test but uses cluster fixtures {sorted(used)}; "
            "move it to tests/integration",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[str]:
    """Path of the kubeconfig of the cluster the session tests against."""
    external = os.environ.get("KUBECONFIG")
    if external:
        yield external
        return
    cluster = LocalCluster()
    result, token = cluster.acquire()
    try:
        yield str(result.kubeconfig)
    finally:
        cluster.release(token)


@pytest.fixture(scope="session")
def k8s(kubeconfig: str) -> Iterator[client.ApiClient]:
    """A synchronous Kubernetes API client for the session's cluster."""
    # A KUBECONFIG listing several files ("a:b") is merged by the client itself when
    # given no file, as kubectl does.
    config_file = None if os.pathsep in kubeconfig else kubeconfig
    api = config.new_client_from_config(config_file=config_file)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, k8s: client.ApiClient) -> Iterator[str]:
    """A fresh namespace for one test, deleted (in the background) afterwards.

    Waits for the namespace's ``default`` service account, which the controller manager
    creates asynchronously: until it exists the API server rejects every pod.
    """
    core = client.CoreV1Api(k8s)
    name = namespace_name(request.node.name)
    labels = {"app.kubernetes.io/created-by": "pytest"}
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        30.0,
        f"service account default in namespace {name}",
    )
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="session")
def crds(k8s: client.ApiClient) -> list[str]:
    """Apply the repository's CRDs (server-side, manager mlops-tests) and await them."""
    return kube.apply_crds(k8s, CRD_DIR)


@pytest.fixture(scope="session")
def prometheus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[prom.PrometheusServer]:
    """A running Prometheus that scrapes whatever tests add with ``add_target``.

    Locally it is the local cluster's own (started with it, stopped by its ``down``);
    against an external cluster ($KUBECONFIG) a loopback one is started for the session.
    """
    if not os.environ.get("KUBECONFIG"):
        request.getfixturevalue("kubeconfig")
        yield LocalCluster().ensure_prometheus()
        return
    directory: Path = tmp_path_factory.mktemp("prometheus")
    table = ProcessTable(directory)
    (port,) = free_ports(1)
    try:
        yield prom.start(directory, table, port)
    finally:
        stop(table.records())


@pytest.fixture
def exporter(prometheus: prom.PrometheusServer) -> Iterator[Exporter]:
    """A metrics endpoint the test sets values on, scraped by ``prometheus``.

    Series carry the labels the test gives plus ``instance`` and ``job``; label them
    with something unique to the test (e.g. its namespace): other sessions may share
    the cluster's Prometheus.
    """
    with Exporter() as endpoint:
        endpoint.register(prometheus)
        yield endpoint


@pytest.fixture(scope="session")
def gateway_api(k8s: client.ApiClient) -> list[str]:
    """The Gateway API CRDs, applied and Established; returns their names.

    On the local cluster they are applied as pinned (idempotent). On an external
    cluster ($KUBECONFIG) only what is missing is applied, and not the "safe-upgrades"
    admission policy: a cluster-wide policy over someone else's Gateway API install.
    """
    external = bool(os.environ.get("KUBECONFIG"))
    names = gatewayapi.install(k8s, only_missing=external, with_policy=not external)
    if "v1" not in gatewayapi.served_versions(k8s):
        pytest.skip(f"the cluster's {gatewayapi.HTTPROUTE_CRD} does not serve v1")
    return names


@pytest.fixture(scope="session")
def gpu_nodes(k8s: client.ApiClient) -> list[str]:
    """Names of the nodes with allocatable nvidia.com/gpu; skips if there are none."""
    names = nodes.gpu_node_names(k8s)
    if not names:
        pytest.skip(
            "the cluster has no node with allocatable nvidia.com/gpu (e.g. kind); "
            "run against the local cluster (unset KUBECONFIG) or a GPU cluster"
        )
    return names


@pytest.fixture(scope="session")
def kueue(request: pytest.FixtureRequest, k8s: client.ApiClient) -> kq.Kueue:
    """Kueue admitting the cluster's queued Jobs; skips on an external cluster without it.

    On the local cluster it is started on first use and shared with other sessions on
    that cluster: tests keep to their own ClusterQueues and namespaces.
    """
    if not os.environ.get("KUBECONFIG"):
        request.getfixturevalue("kubeconfig")
        return LocalCluster().ensure_kueue()
    if not kq.served(k8s):
        pytest.skip(f"the cluster does not serve Kueue's {kq.API_VERSION} (no Kueue installed)")
    return kq.Kueue(version="external")
