"""The local cluster as a whole: bring it up, report on it, tear it down.

State lives in one directory (default ``.local/cluster``): certificates, kubeconfig,
etcd data, logs, pidfiles and ``state.json`` (ports, Prometheus, who started it).
Nothing else on the machine is touched, so ``down`` is ``stop our processes`` plus
``rm -rf`` of that directory.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from localcluster import components, health, kwok, lock, nodes, paths
from localcluster import kueue as kq
from localcluster import prometheus as prom
from localcluster.certs import generate_pki, load_pki
from localcluster.components import Layout, Ports
from localcluster.kubeconfig import write_kubeconfig
from localcluster.ports import free_ports
from localcluster.processes import ProcessRecord, ProcessTable, log_tail, stop
from localcluster.waiting import wait_for

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Stop order: dependants first, etcd last, so nothing logs storms of connection errors
# (and the API server can finish in-flight writes).
_STOP_WAVES = (
    ("prometheus", "kueue", "kwok", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)


@dataclass(frozen=True)
class UpResult:
    """Outcome of :meth:`LocalCluster.up`."""

    kubeconfig: Path
    seconds: float
    already_running: bool
    prometheus_url: str | None


@dataclass(frozen=True)
class DownResult:
    """Outcome of :meth:`LocalCluster.down`."""

    stopped: list[str]
    seconds: float
    was_running: bool


@dataclass(frozen=True)
class ComponentStatus:
    """One recorded process."""

    name: str
    pid: int
    alive: bool
    log: str


@dataclass(frozen=True)
class Status:
    """What :meth:`LocalCluster.status` found."""

    running: bool
    components: list[ComponentStatus]
    kubeconfig: Path | None
    apiserver: str | None
    prometheus_url: str | None
    started_by: str | None


class ClusterStartError(RuntimeError):
    """A component did not come up; the message carries the tail of its log."""


class LocalCluster:
    """One local cluster, identified by its state directory."""

    def __init__(
        self, state_dir: Path = paths.STATE_DIR, lock_file: Path = paths.LOCK_FILE
    ) -> None:
        self.state_dir = state_dir
        self.lock_file = lock_file
        self.layout = Layout(state_dir)
        self.table = ProcessTable(state_dir)

    # -- state ------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """Path of the admin kubeconfig (exists while the cluster is up)."""
        return self.layout.kubeconfig

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "state.json"

    def _state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self._state_file)

    def _apiserver_ready(self) -> bool:
        state = self._state()
        if "apiserver" not in state:
            return False
        ctx = health.admin_tls_context(load_pki(self.layout.certs))
        return health.is_healthy(f"{state['apiserver']}/readyz", ctx)

    def status(self) -> Status:
        """Which recorded processes are alive, and whether the API server is ready."""
        records = self.table.records()
        comps = [ComponentStatus(r.name, r.pid, r.alive(), r.log) for r in records]
        alive = {c.name for c in comps if c.alive}
        state = self._state()
        running = set(CONTROL_PLANE) <= alive and self._apiserver_ready()
        prom_state = state.get("prometheus")
        return Status(
            running=running,
            components=comps,
            kubeconfig=self.kubeconfig if self.kubeconfig.exists() else None,
            apiserver=state.get("apiserver"),
            prometheus_url=prom_state["url"] if prom_state and "prometheus" in alive else None,
            started_by=state.get("started_by"),
        )

    def is_running(self) -> bool:
        """Whether the whole control plane is running and the API server is ready."""
        return self.status().running

    def api_client(self) -> client.ApiClient:
        """A fresh Kubernetes client for this cluster (the caller closes it)."""
        api: client.ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig))
        return api

    # -- up ---------------------------------------------------------------------------

    def up(
        self, with_prometheus: bool = False, started_by: str = "cli", timeout: float = 180.0
    ) -> UpResult:
        """Start the cluster, or return at once if it is already running.

        Leftovers of a cluster that died (stale pidfiles, dead processes) are cleaned up
        first. On failure every process started here is stopped again, and the logs are
        kept in the state directory for inspection.
        """
        with lock.exclusive(self.lock_file):
            return self._up_locked(with_prometheus, started_by, timeout)

    def _up_locked(self, with_prometheus: bool, started_by: str, timeout: float) -> UpResult:
        start = time.monotonic()
        if self.is_running():
            self._refresh_kwok_locked(timeout)
            server = self._ensure_prometheus_locked() if with_prometheus else self.prometheus()
            return UpResult(
                self.kubeconfig,
                time.monotonic() - start,
                already_running=True,
                prometheus_url=server.url if server else None,
            )
        self._remove_locked()
        try:
            self._start_locked(started_by, timeout)
            server = self._ensure_prometheus_locked() if with_prometheus else None
        except BaseException:
            stop(self.table.records(), grace=2.0)
            raise
        return UpResult(
            self.kubeconfig,
            time.monotonic() - start,
            already_running=False,
            prometheus_url=server.url if server else None,
        )

    def _wait_healthy(self, record: ProcessRecord, url: str, ctx: Any, timeout: float) -> None:
        def healthy() -> bool:
            if not record.alive():
                raise ClusterStartError(
                    f"{record.name} exited during start-up; last log lines "
                    f"({record.log}):\n{log_tail(record.log)}"
                )
            return health.is_healthy(url, ctx)

        try:
            wait_for(healthy, timeout, f"{record.name} healthy at {url}", interval=0.1)
        except TimeoutError as exc:
            raise ClusterStartError(f"{exc}\nlast log lines:\n{log_tail(record.log)}") from None

    def _start_locked(self, started_by: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(1.0, deadline - time.monotonic())

        self.state_dir.mkdir(parents=True, exist_ok=True)
        ports = Ports.from_list(free_ports(Ports.count()))
        pki = generate_pki(self.layout.certs)
        server = components.apiserver_url(ports)
        write_kubeconfig(self.kubeconfig, server, pki)
        self._save_state(
            {
                "apiserver": server,
                "ports": ports.__dict__,
                "started_by": started_by,
                "started_at": time.time(),
            }
        )

        admin = health.admin_tls_context(pki)
        insecure = health.insecure_tls_context()
        etcd = self.table.start(components.etcd(self.layout, ports))
        self._wait_healthy(etcd, f"http://127.0.0.1:{ports.etcd_client}/health", None, left())
        apiserver = self.table.start(components.apiserver(self.layout, ports, pki))
        self._wait_healthy(apiserver, f"{server}/readyz", admin, left())

        # The rest only needs a ready API server: start it all at once.
        kcm = self.table.start(components.controller_manager(self.layout, ports, pki))
        sched = self.table.start(components.scheduler(self.layout, ports))
        kwok = self.table.start(components.kwok_controller(self.layout, ports))
        api = self.api_client()
        try:
            node_names = nodes.create_nodes(api, nodes.default_nodes())
            url = "https://127.0.0.1:{}/healthz"
            self._wait_healthy(kcm, url.format(ports.controller_manager), insecure, left())
            self._wait_healthy(sched, url.format(ports.scheduler), insecure, left())
            self._wait_healthy(kwok, f"http://127.0.0.1:{ports.kwok}/healthz", None, left())
            # Controllers working, not just serving: the service-account controller
            # creates `default` in every namespace (pods cannot be created without it).
            core = client.CoreV1Api(api)
            wait_for(
                lambda: (
                    core.list_namespaced_service_account(
                        "default", field_selector="metadata.name=default"
                    ).items
                ),
                left(),
                "controller-manager creating the default service account",
            )
            nodes.wait_nodes_ready(api, node_names, left())
        finally:
            api.close()

    def _refresh_kwok_locked(self, timeout: float) -> None:
        """Restart KWOK if its stages changed since the cluster started.

        A cluster outlives the checkout it was started from (``make cluster-up``, then
        a pull that adds a stage); tests relying on the new stage would otherwise fail
        against the old KWOK. Restarting it is harmless: it re-lists pods and nodes.
        """
        try:
            current = self.layout.kwok_config.read_text()
        except OSError:
            current = None
        if current == kwok.stages_text():
            return
        record = self.table.get("kwok")
        if record is not None:
            stop([record])
        ports = Ports(**self._state()["ports"])
        started = self.table.start(components.kwok_controller(self.layout, ports))
        self._wait_healthy(started, f"http://127.0.0.1:{ports.kwok}/healthz", None, timeout)

    # -- prometheus -------------------------------------------------------------------

    @property
    def _prometheus_dir(self) -> Path:
        return self.state_dir / "prometheus"

    def _prometheus_handle(self, url: str) -> prom.PrometheusServer:
        return prom.PrometheusServer(
            url=url,
            targets_dir=self._prometheus_dir / "targets",
            directory=self._prometheus_dir,
            process_dir=self.state_dir,
            lock_file=self.lock_file,
        )

    def prometheus(self) -> prom.PrometheusServer | None:
        """The cluster's Prometheus, if one is running.

        The handle can :meth:`~localcluster.prometheus.PrometheusServer.stop` and
        :meth:`~localcluster.prometheus.PrometheusServer.start` it (same port, same data).
        """
        state = self._state()
        record = self.table.get(prom.PROCESS_NAME)
        if "prometheus" not in state or record is None or not record.alive():
            return None
        return self._prometheus_handle(state["prometheus"]["url"])

    def ensure_prometheus(self) -> prom.PrometheusServer:
        """Start the cluster's Prometheus unless it runs already; `down` stops it.

        One that was stopped (or died) comes back on its old port with its old data, so
        URLs handed out before stay valid.
        """
        with lock.exclusive(self.lock_file):
            return self._ensure_prometheus_locked()

    def _ensure_prometheus_locked(self) -> prom.PrometheusServer:
        existing = self.prometheus()
        if existing is not None and not self._prometheus_outdated():
            return existing
        if existing is not None:
            # Started from another binary than the one pinned now (Debian's 2.x before the
            # toolchain built Prometheus 3, or an older pin): restarted below on the same
            # port with the same data (Prometheus 3 reads 2.x data).
            stop([r for r in [self.table.get(prom.PROCESS_NAME)] if r is not None])
        self.state_dir.mkdir(parents=True, exist_ok=True)
        saved = self._state().get("prometheus")
        if saved:
            # Not old.start(): that takes the lock, which this process already holds.
            old = self._prometheus_handle(saved["url"])
            try:
                return prom.start(
                    self._prometheus_dir, self.table, old.port, lock_file=self.lock_file
                )
            except RuntimeError:
                pass  # its port was taken meanwhile: a new port below
        (port,) = free_ports(1)
        server = prom.start(self._prometheus_dir, self.table, port, lock_file=self.lock_file)
        state = self._state()
        state["prometheus"] = {"url": server.url, "targets_dir": str(server.targets_dir)}
        self._save_state(state)
        return server

    def _prometheus_outdated(self) -> bool:
        """Whether the running Prometheus is not the binary :func:`find_binary` picks now."""
        record = self.table.get(prom.PROCESS_NAME)
        try:
            wanted = paths.find_binary("prometheus").resolve()
        except paths.MissingBinaryError:
            return False
        return record is not None and Path(record.argv[0]).resolve() != wanted

    # -- kueue ------------------------------------------------------------------------

    def kueue(self) -> kq.Kueue | None:
        """The cluster's Kueue, if one is running."""
        state = self._state().get("kueue")
        record = self.table.get(kq.PROCESS_NAME)
        if not state or record is None or not record.alive():
            return None
        return kq.Kueue(version=state["version"], health_url=state["health"], log=Path(record.log))

    def ensure_kueue(self, timeout: float = 120.0) -> kq.Kueue:
        """Start Kueue (its CRDs applied first) unless it runs already; `down` stops it.

        Started on demand only: most sessions never need it, and it watches every Job.
        """
        with lock.exclusive(self.lock_file):
            existing = self.kueue()
            if existing is not None:
                return existing
            api = self.api_client()
            try:
                started = kq.start(
                    self.state_dir / "kueue", self.table, api, self.kubeconfig, timeout
                )
            finally:
                api.close()
            state = self._state()
            state["kueue"] = {"version": started.version, "health": started.health_url}
            self._save_state(state)
            return started

    # -- users (pytest sessions sharing a cluster) ---------------------------------------
    #
    # Several pytest sessions may share one cluster (two engineers' test runs, or a run
    # plus `make demo`). Each registers as a user; the cluster is torn down when the last
    # user leaves, and only if a test session (not `make cluster-up`) started it.

    @property
    def _users_dir(self) -> Path:
        return self.state_dir / "users"

    def acquire(self, timeout: float = 180.0) -> tuple[UpResult, str]:
        """Bring the cluster up if needed and register this process as a user.

        Both happen under the lock, so a concurrent :meth:`release` cannot tear the
        cluster down between the two. Returns the up result and a token for
        :meth:`release`.
        """
        with lock.exclusive(self.lock_file):
            result = self._up_locked(False, "pytest", timeout)
            return result, self._register_locked()

    def _register_locked(self) -> str:
        token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._users_dir.mkdir(parents=True, exist_ok=True)
        (self._users_dir / token).write_text(str(os.getpid()))
        return token

    def _live_users_locked(self) -> int:
        live = 0
        for entry in self._users_dir.glob("*") if self._users_dir.is_dir() else []:
            try:
                pid = int(entry.read_text())
            except (OSError, ValueError):
                continue
            if Path(f"/proc/{pid}").exists():
                live += 1
            else:
                entry.unlink(missing_ok=True)
        return live

    def release(self, token: str) -> bool:
        """Unregister a user; tear the cluster down if a test session started it and no
        live user remains. Returns whether it was torn down."""
        with lock.exclusive(self.lock_file):
            (self._users_dir / token).unlink(missing_ok=True)
            if self._state().get("started_by") != "pytest" or self._live_users_locked():
                return False
            self._remove_locked()
            return True

    # -- down -------------------------------------------------------------------------

    def down(self) -> DownResult:
        """Stop every process this cluster started and remove its state directory."""
        start = time.monotonic()
        with lock.exclusive(self.lock_file):
            was_running = self.state_dir.exists()
            stopped = self._remove_locked()
        return DownResult(stopped, time.monotonic() - start, was_running)

    def _remove_locked(self) -> list[str]:
        records = {r.name: r for r in self.table.records()}
        stopped: list[str] = []
        for wave in _STOP_WAVES:
            stopped += stop([records.pop(n) for n in wave if n in records])
        stopped += stop(list(records.values()))
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        return stopped
