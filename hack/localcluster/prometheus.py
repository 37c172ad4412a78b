"""A real Prometheus server on loopback, with targets tests can add at runtime.

The operator's canary analysis and drift detection query Prometheus, so tests need a
real one, not a stub that answers whatever the test expects. Scrape targets come from a
``file_sd`` directory: adding a target is writing a JSON file, which Prometheus picks
up within a second, and :meth:`PrometheusServer.add_target` waits until the target has
actually been scraped so the test's first query already sees data.

A server started here can also be stopped and started again on the same port with the
same data (:meth:`PrometheusServer.stop`, :meth:`PrometheusServer.start`,
:meth:`PrometheusServer.stopped`), to test what clients do while Prometheus is away.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import health, lock
from localcluster.paths import find_binary
from localcluster.ports import LOOPBACK
from localcluster.processes import ProcessRecord, ProcessSpec, ProcessTable, log_tail, stop
from localcluster.waiting import wait_for

SCRAPE_INTERVAL = "1s"
FILE_SD_JOB = "file-sd"
PROCESS_NAME = "prometheus"


def config(targets_dir: Path) -> dict[str, Any]:
    """Prometheus config: 1s scrapes of Prometheus itself and of every file_sd target."""
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": []}]},
            {
                "job_name": FILE_SD_JOB,
                "file_sd_configs": [
                    {"files": [str(targets_dir / "*.json")], "refresh_interval": "1s"}
                ],
            },
        ],
    }


def process_spec(directory: Path, port: int) -> ProcessSpec:
    """The Prometheus process for a server whose files live in ``directory``."""
    targets_dir = directory / "targets"
    targets_dir.mkdir(parents=True, exist_ok=True)
    conf = config(targets_dir)
    conf["scrape_configs"][0]["static_configs"][0]["targets"] = [f"{LOOPBACK}:{port}"]
    config_file = directory / "prometheus.yml"
    # JSON is valid YAML; Prometheus reads it as its YAML config.
    config_file.write_text(json.dumps(conf, indent=2) + "\n")
    return ProcessSpec(
        PROCESS_NAME,
        [
            str(find_binary("prometheus")),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={directory / 'data'}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
        cwd=directory,
    )


def _target_file_name(address: str) -> str:
    digest = hashlib.sha256(address.encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() else "-" for c in address)
    return f"{safe}-{digest}.json"


@dataclass(frozen=True)
class PrometheusServer:
    """A handle on a running Prometheus: its URL and its file_sd directory.

    ``directory`` (config, data, targets) and ``process_dir`` (the state directory whose
    ``pids/`` holds its pidfile) are set when :func:`start` started it; only then can
    :meth:`stop` and :meth:`start` control it. ``lock_file``, when set, is held while
    stopping or starting (the local cluster's lock, so ``up``/``down`` never interleave).
    """

    url: str
    targets_dir: Path
    directory: Path | None = None
    process_dir: Path | None = None
    lock_file: Path | None = None

    @property
    def port(self) -> int:
        """The loopback port it listens on (kept across :meth:`stop`/:meth:`start`)."""
        port = urllib.parse.urlsplit(self.url).port
        if port is None:
            raise ValueError(f"no port in {self.url}")
        return port

    def _api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        body = health.get(f"{self.url}{path}{query}", timeout=10.0)
        if body is None:
            raise RuntimeError(f"Prometheus API call failed: {path}{query}")
        reply = json.loads(body)
        if reply.get("status") != "success":
            raise RuntimeError(f"Prometheus API error for {path}: {reply}")
        return reply["data"]

    def ready(self) -> bool:
        """Whether the server answers /-/ready."""
        return health.is_healthy(f"{self.url}/-/ready")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query; return ``data.result`` (vector/matrix entries).

        Each entry looks like ``{"metric": {...labels}, "value": [ts, "1.5"]}``.
        Scalars and strings are wrapped in a one-element list.
        """
        data = self._api("/api/v1/query", {"query": promql})
        result = data["result"]
        if data.get("resultType") in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def _target(self, address: str) -> dict[str, Any] | None:
        targets = self._api("/api/v1/targets", {"state": "active"})["activeTargets"]
        for target in targets:
            if target.get("scrapePool") == FILE_SD_JOB and (
                target.get("discoveredLabels", {}).get("__address__") == address
            ):
                return dict(target)
        return None

    def add_target(
        self, address: str, labels: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> None:
        """Scrape ``address`` ("host:port", path /metrics) from now on, with ``labels``.

        Returns once Prometheus has scraped it successfully at least once. Raises
        :class:`~localcluster.waiting.WaitTimeout` naming the last scrape error if not.
        """
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        path = self.targets_dir / _target_file_name(address)
        entry = [{"targets": [address], "labels": dict(labels or {})}]
        # Write-then-rename: Prometheus must never read a half-written file.
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry) + "\n")
        tmp.replace(path)

        last: dict[str, Any] = {}

        def scraped() -> bool:
            target = self._target(address)
            if target is None:
                return False
            last.clear()
            last.update(target)
            return bool(target.get("health") == "up")

        try:
            wait_for(scraped, timeout, f"Prometheus scraping {address}", interval=0.25)
        except TimeoutError as exc:
            raise type(exc)(f"{exc}; last target state: {last or 'not discovered'}") from None

    def remove_target(self, address: str) -> None:
        """Stop scraping ``address`` (Prometheus notices within a second)."""
        (self.targets_dir / _target_file_name(address)).unlink(missing_ok=True)

    # -- stop and start (a server this package started) --------------------------------

    def _control(self) -> tuple[Path, ProcessTable]:
        if self.directory is None or self.process_dir is None:
            raise RuntimeError(
                f"Prometheus at {self.url} was not started by localcluster; "
                "it cannot be stopped or started from here"
            )
        return self.directory, ProcessTable(self.process_dir)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return lock.exclusive(self.lock_file) if self.lock_file else contextlib.nullcontext()

    def _record(self) -> ProcessRecord | None:
        _, table = self._control()
        record = table.get(PROCESS_NAME)
        return record if record is not None and record.alive() else None

    def running(self) -> bool:
        """Whether its process is alive (it may still be starting up)."""
        return self._record() is not None

    def stop(self) -> None:
        """Stop the process (SIGTERM, so the data is flushed); the port closes at once.

        Queries fail until :meth:`start`. Every user of this server sees it gone: the
        local cluster's Prometheus is shared with any other session on that cluster.
        """
        with self._locked():
            record = self._record()
            if record is not None:
                stop([record])

    def start(self, timeout: float = 60.0) -> None:
        """Start it again on the same port, with the same data, config and targets, and
        wait until it is ready. A no-op while it runs."""
        directory, table = self._control()
        with self._locked():
            if self._record() is None:
                _launch(directory, table, self.port, timeout)

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Stopped for the ``with`` body, started again afterwards, even on error."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def _launch(directory: Path, table: ProcessTable, port: int, timeout: float) -> None:
    """Start the process and wait until /-/ready answers."""
    record = table.start(process_spec(directory, port))
    url = f"http://{LOOPBACK}:{port}/-/ready"

    def ready() -> bool:
        if not record.alive():
            raise RuntimeError(f"prometheus exited at start:\n{log_tail(record.log)}")
        return health.is_healthy(url)

    wait_for(ready, timeout, "Prometheus /-/ready")


def start(
    directory: Path,
    table: ProcessTable,
    port: int,
    timeout: float = 60.0,
    lock_file: Path | None = None,
) -> PrometheusServer:
    """Start Prometheus with its files in ``directory`` and wait until it is ready.

    ``table`` records the process; ``lock_file`` is taken by the returned server's
    :meth:`~PrometheusServer.stop` and :meth:`~PrometheusServer.start`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    _launch(directory, table, port, timeout)
    return PrometheusServer(
        url=f"http://{LOOPBACK}:{port}",
        targets_dir=directory / "targets",
        directory=directory,
        process_dir=table.pid_dir.parent,
        lock_file=lock_file,
    )
