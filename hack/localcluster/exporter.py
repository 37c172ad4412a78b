"""A metrics endpoint whose values the caller sets at run time, for Prometheus to scrape.

Canary analysis and drift detection read Prometheus. To test them (and to drive the
demo) something must publish exactly the values a scenario needs: "the canary's error
ratio is 0.2 now", "there is no data for the stable variant any more". :class:`Exporter`
is that something: a tiny HTTP server on loopback serving ``/metrics`` in the Prometheus
text format, holding gauges the caller sets and clears::

    exporter = Exporter().start()
    exporter.register(prometheus)              # the local Prometheus scrapes it every 1s
    labels = {"namespace": "x", "name": "y", "variant": "canary"}
    exporter.set("model_error_ratio", 0.01, labels)
    wait_scraped(prometheus, series("model_error_ratio", labels), 0.01)
    exporter.clear("model_error_ratio", labels)  # the series is gone: no data
    wait_scraped(prometheus, series("model_error_ratio", labels), None)

A series that leaves the endpoint gets a staleness marker at the next scrape, so an
instant query returns nothing from then on: that is how "no data" looks to a client.
Setting ``math.nan`` publishes a NaN sample instead, the other inconclusive case.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from localcluster.ports import LOOPBACK
from localcluster.prometheus import PrometheusServer
from localcluster.waiting import wait_for

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_Labels = tuple[tuple[str, str], ...]


def _key(labels: Mapping[str, str] | None) -> _Labels:
    return tuple(sorted((labels or {}).items()))


def _escape(value: str) -> str:
    """A label value escaped for the text format (and for PromQL string literals)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _selector(labels: _Labels) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in labels)


def format_value(value: float) -> str:
    """A sample value as the text format spells it; ``repr`` round-trips exactly."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def series(name: str, labels: Mapping[str, str] | None = None) -> str:
    """The PromQL selector of one series: ``name{a="1",b="2"}`` (labels sorted)."""
    return f"{name}{{{_selector(_key(labels))}}}"


class Exporter:
    """Gauges served on ``http://127.0.0.1:<port>/metrics``; thread-safe.

    ``port=0`` (the default) lets the kernel pick a free port when the server starts, so
    there is no window in which another process could take it.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._gauges: dict[str, dict[_Labels, float]] = {}
        self._help: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._prometheus: PrometheusServer | None = None

    # -- serving ----------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the running server, as Prometheus targets are written."""
        if self._server is None:
            raise RuntimeError("the exporter is not started")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> Self:
        """Listen and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """One request a second per scrape: not worth a log line each."""

        server = ThreadingHTTPServer((self._host, self._port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="exporter", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return self

    def close(self) -> None:
        """Stop being scraped (if registered) and stop serving."""
        self.unregister()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Prometheus -------------------------------------------------------------------

    def register(
        self,
        prometheus: PrometheusServer,
        labels: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Have ``prometheus`` scrape this endpoint (with target ``labels``) from now on.

        Returns once it has been scraped successfully (see
        :meth:`PrometheusServer.add_target`). The series then carry ``instance`` (this
        address) and ``job="file-sd"`` besides their own labels.
        """
        prometheus.add_target(self.address, labels, timeout=timeout)
        self._prometheus = prometheus

    def unregister(self) -> None:
        """Stop being scraped; the series go stale at once (no data)."""
        if self._prometheus is not None and self._server is not None:
            self._prometheus.remove_target(self.address)
        self._prometheus = None

    @property
    def prometheus(self) -> PrometheusServer:
        """The Prometheus this exporter is registered with."""
        if self._prometheus is None:
            raise RuntimeError("the exporter is not registered with a Prometheus")
        return self._prometheus

    def wait_scraped(self, promql: str, value: float | None, timeout: float = 30.0) -> None:
        """:func:`wait_scraped` on the Prometheus this exporter is registered with."""
        wait_scraped(self.prometheus, promql, value, timeout)

    # -- values -----------------------------------------------------------------------

    def set(
        self,
        name: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        help: str | None = None,
    ) -> None:
        """Publish gauge ``name{labels}`` with ``value`` (NaN and ±Inf allowed)."""
        with self._lock:
            self._gauges.setdefault(name, {})[_key(labels)] = float(value)
            if help is not None:
                self._help[name] = help

    def clear(self, name: str | None = None, labels: Mapping[str, str] | None = None) -> None:
        """Stop publishing: one series (``name`` and ``labels``), every series of
        ``name`` (``labels`` None), or everything (both None)."""
        with self._lock:
            if name is None:
                self._gauges.clear()
            elif labels is None:
                self._gauges.pop(name, None)
            else:
                by_labels = self._gauges.get(name, {})
                by_labels.pop(_key(labels), None)
                if not by_labels:
                    self._gauges.pop(name, None)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value published for ``name{labels}``, or None if not published."""
        with self._lock:
            return self._gauges.get(name, {}).get(_key(labels))

    def render(self) -> str:
        """The ``/metrics`` body: each gauge with its HELP and TYPE, then its samples."""
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._gauges):
                text = self._help.get(name, f"{name}, set by the test or the demo")
                text = text.replace("\\", "\\\\").replace("\n", "\\n")
                lines.append(f"# HELP {name} {text}")
                lines.append(f"# TYPE {name} gauge")
                for labels, value in sorted(self._gauges[name].items()):
                    selector = f"{{{_selector(labels)}}}" if labels else ""
                    lines.append(f"{name}{selector} {format_value(value)}")
        return "\n".join(lines) + "\n" if lines else ""


def _matches(sample: str, value: float) -> bool:
    got = float(sample)
    if math.isnan(value):
        return math.isnan(got)
    return got == value or math.isclose(got, value, rel_tol=1e-12, abs_tol=0.0)


def wait_scraped(
    prometheus: PrometheusServer, promql: str, value: float | None, timeout: float = 30.0
) -> None:
    """Wait until instant query ``promql`` returns ``value``.

    With a number, every series of the result must have that value (NaN matches NaN)
    and there must be at least one; with None, the result must be empty (the series
    was cleared or its target removed). Raises
    :class:`~localcluster.waiting.WaitTimeout` showing the last result.
    """
    last: list[list[dict[str, Any]]] = [[]]

    def seen() -> bool:
        result = prometheus.query(promql)
        last[0] = result
        if value is None:
            return not result
        return bool(result) and all(_matches(r["value"][1], value) for r in result)

    want = "no data" if value is None else format_value(value)
    try:
        wait_for(seen, timeout, f"Prometheus returning {want} for {promql}", interval=0.2)
    except TimeoutError as exc:
        raise type(exc)(f"{exc}; last result: {last[0]}") from None
