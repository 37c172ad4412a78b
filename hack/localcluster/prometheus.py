"""A real Prometheus server on loopback, with targets tests can add at runtime.

The operator's canary analysis and drift detection query Prometheus, so tests need a
real one, not a stub that answers whatever the test expects. Scrape targets come from a
``file_sd`` directory: adding a target is writing a JSON file, which Prometheus picks
up within a second, and :meth:`PrometheusServer.add_target` waits until the target has
actually been scraped so the test's first query already sees data.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import health
from localcluster.paths import find_binary
from localcluster.ports import LOOPBACK
from localcluster.processes import ProcessSpec, ProcessTable, log_tail
from localcluster.waiting import wait_for

SCRAPE_INTERVAL = "1s"
FILE_SD_JOB = "file-sd"


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
        "prometheus",
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
    """A handle on a running Prometheus: its URL and its file_sd directory."""

    url: str
    targets_dir: Path

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


def start(
    directory: Path, table: ProcessTable, port: int, timeout: float = 60.0
) -> PrometheusServer:
    """Start Prometheus with its files in ``directory`` and wait until it is ready."""
    directory.mkdir(parents=True, exist_ok=True)
    record = table.start(process_spec(directory, port))
    server = PrometheusServer(url=f"http://{LOOPBACK}:{port}", targets_dir=directory / "targets")

    def ready() -> bool:
        if not record.alive():
            raise RuntimeError(f"prometheus exited at start:\n{log_tail(record.log)}")
        return server.ready()

    wait_for(ready, timeout, "Prometheus /-/ready")
    return server
