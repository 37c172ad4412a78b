"""PrometheusClient against a fake Prometheus: a real aiohttp server on 127.0.0.1.

The fake answers each query with a canned HTTP response, so every shape Prometheus (or a
proxy in front of it) can send is covered without a Prometheus: results of each type,
errors, warnings, HTML pages, slow and oversized answers. The real Prometheus is in
tests/integration/test_prometheus_queries.py.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from mlops_operator.core.watching.series import Problem, Reading
from mlops_operator.kube import prometheus
from mlops_operator.kube.prometheus import PrometheusClient


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0
    chunked: bool = False


@dataclass
class FakePrometheus:
    """Answers GET <prefix>/api/v1/query with whatever the test registered for the query."""

    answers: dict[str, Canned] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    address: str = ""

    def answer(self, query: str, status: int = 200, body: Any = None, **kwargs: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[query] = Canned(status, raw, **kwargs)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"path": request.path, **request.query})
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        canned = self.answers.get(request.query.get("query", ""))
        if canned is None:
            return web.json_response(success(vector(1)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(canned.delay)
        finally:
            self.in_flight -= 1
        if canned.chunked:
            response = web.StreamResponse(status=canned.status)
            response.content_type = canned.content_type
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(canned.body), 100):
                await response.write(canned.body[start : start + 100])
            await response.write_eof()
            return response
        return web.Response(
            status=canned.status, body=canned.body, content_type=canned.content_type
        )


def success(data: dict[str, Any], warnings: list[str] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"status": "success", "data": data}
    if warnings is not None:
        reply["warnings"] = warnings
    return reply


def vector(*values: float | str, metric: dict[str, str] | None = None) -> dict[str, Any]:
    result = [
        {"metric": dict(metric or {}, instance=f"10.0.0.{i}"), "value": [1700000000.5, str(v)]}
        for i, v in enumerate(values)
    ]
    return {"resultType": "vector", "result": result}


def error(error_type: str, message: str) -> dict[str, Any]:
    return {"status": "error", "errorType": error_type, "error": message}


@pytest.fixture
async def fake() -> AsyncIterator[FakePrometheus]:
    server = FakePrometheus()
    app = web.Application()
    app.router.add_get("/api/v1/query", server.handle)
    app.router.add_get("/prom/api/v1/query", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.address = f"http://{host}:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[PrometheusClient]:
    async with PrometheusClient(timeout=2.0) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


PROMETHEUS_400 = error("bad_data", '1:8: parse error: unexpected "}" in label matching')
PROMETHEUS_422 = error("execution", "found duplicate series for the match group")
PROMETHEUS_503 = error("timeout", "query timed out in expression evaluation")
SERIES_5 = vector(1, 2, 3, 4, 5, metric={"__name__": "up", "job": "model"})


@pytest.mark.parametrize(
    ("status", "body", "value", "problem", "message"),
    [
        # One number: a one-series vector or a scalar. NaN is no data, infinities are values.
        (200, success(vector(0.25)), 0.25, None, ""),
        (200, success(vector("-3e-2")), -0.03, None, ""),
        (200, success(vector("+Inf")), math.inf, None, ""),
        (200, success(vector("-Inf")), -math.inf, None, ""),
        (200, success(vector("NaN")), None, Problem.NO_DATA, "NaN"),
        (200, success({"resultType": "scalar", "result": [1700000000, "7"]}), 7.0, None, ""),
        (
            200,
            success({"resultType": "scalar", "result": [1700000000, "NaN"]}),
            None,
            Problem.NO_DATA,
            "",
        ),
        # Nothing: the series does not exist (yet).
        (200, success(vector()), None, Problem.NO_DATA, "empty result"),
        # Not one number.
        (
            200,
            success(vector(1, 2, metric={"__name__": "up", "job": "model"})),
            None,
            Problem.QUERY_ERROR,
            'returned 2 series (up{instance="10.0.0.0",job="model"}, '
            'up{instance="10.0.0.1",job="model"}); it must return one: aggregate them,'
            " e.g. with sum()",
        ),
        (
            200,
            success(SERIES_5),
            None,
            Problem.QUERY_ERROR,
            'up{instance="10.0.0.2",job="model"}, ...',
        ),
        (
            200,
            success({"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"]]}]}),
            None,
            Problem.QUERY_ERROR,
            "range vector",
        ),
        (
            200,
            success({"resultType": "string", "result": [1, "x"]}),
            None,
            Problem.QUERY_ERROR,
            "returned a string",
        ),
        (
            200,
            success({"resultType": "vector", "result": [{"metric": {}, "histogram": [1, {}]}]}),
            None,
            Problem.QUERY_ERROR,
            "native histogram",
        ),
        (
            200,
            success({"resultType": "vector", "result": [{"metric": {}, "value": ["x"]}]}),
            None,
            Problem.QUERY_ERROR,
            "malformed sample",
        ),
        (
            200,
            success({"resultType": "vector", "result": [{"metric": {}, "value": [1, "abc"]}]}),
            None,
            Problem.QUERY_ERROR,
            "malformed sample",
        ),
        (200, {"status": "success"}, None, Problem.QUERY_ERROR, "no data"),
        # Prometheus refused the query: its own words reach the user.
        (400, PROMETHEUS_400, None, Problem.QUERY_ERROR, "bad_data: 1:8: parse error"),
        (422, PROMETHEUS_422, None, Problem.QUERY_ERROR, "execution: found duplicate series"),
        (200, error("bad_data", "invalid parameter"), None, Problem.QUERY_ERROR, "bad_data"),
        (400, {"status": "error"}, None, Problem.QUERY_ERROR, "without an error message"),
        # Not Prometheus' API: a web page, a wrong path prefix, a JSON that is no answer.
        (
            200,
            b"<html><body>Grafana</body></html>",
            None,
            Problem.QUERY_ERROR,
            "not a Prometheus API",
        ),
        (404, b"404 page not found", None, Problem.QUERY_ERROR, "HTTP 404, not a Prometheus"),
        (401, b"", None, Problem.QUERY_ERROR, "HTTP 401, not a Prometheus API answer: empty"),
        (200, {"data": {}}, None, Problem.QUERY_ERROR, "not a Prometheus API answer"),
        (200, [1, 2], None, Problem.QUERY_ERROR, "not a Prometheus API answer"),
        # Down, overloaded or timed out: it may answer next time.
        (503, PROMETHEUS_503, None, Problem.UNREACHABLE, "HTTP 503: timeout: query timed out"),
        (500, b"<html>Internal Server Error</html>", None, Problem.UNREACHABLE, "HTTP 500"),
        (502, b"Bad Gateway", None, Problem.UNREACHABLE, "HTTP 502: a body of 11 bytes"),
        (429, b"Too Many Requests", None, Problem.UNREACHABLE, "HTTP 429"),
        (408, b"", None, Problem.UNREACHABLE, "HTTP 408: empty body"),
    ],
)
async def test_answer_shapes(
    fake: FakePrometheus,
    client: PrometheusClient,
    status: int,
    body: Any,
    value: float | None,
    problem: Problem | None,
    message: str,
) -> None:
    fake.answer(
        "q",
        status,
        body,
        content_type="text/plain" if isinstance(body, bytes) else "application/json",
    )
    reading = await client.query(fake.address, "q")
    assert (reading.value, reading.problem) == (value, problem)
    assert message in reading.message


async def test_long_error_text_is_cut(fake: FakePrometheus, client: PrometheusClient) -> None:
    fake.answer("q", 400, error("bad_data", "x" * 5000))
    reading = await client.query(fake.address, "q")
    assert reading.problem is Problem.QUERY_ERROR
    assert len(reading.message) == 1024
    assert reading.message.endswith("...")


async def test_request(fake: FakePrometheus) -> None:
    """The query is sent as is, with Prometheus' own timeout, and an optional time."""
    promql = 'sum(rate(http_requests_total{code=~"5..",svc="a+b"}[5m])) / 2 & 1'
    async with PrometheusClient(timeout=2.5) as client:
        await client.query(fake.address, promql)
        await client.query(
            fake.address, promql, time=datetime(2026, 11, 22, 4, 0, 0, 250000, tzinfo=UTC)
        )
        # A naive time is UTC.
        await client.query(fake.address, promql, time=datetime(2026, 11, 22, 4, 0))
    assert fake.requests == [
        {"path": "/api/v1/query", "query": promql, "timeout": "2.5"},
        {"path": "/api/v1/query", "query": promql, "timeout": "2.5", "time": "1795320000.250"},
        {"path": "/api/v1/query", "query": promql, "timeout": "2.5", "time": "1795320000.000"},
    ]


@pytest.mark.parametrize("suffix", ["", "/", "/prom", "/prom/", "/prom//"])
async def test_address_forms(fake: FakePrometheus, client: PrometheusClient, suffix: str) -> None:
    reading = await client.query(fake.address + suffix, "up")
    assert reading == Reading(1.0)
    assert fake.requests[0]["path"] == ("/prom" if "prom" in suffix else "") + "/api/v1/query"


async def test_connection_refused(client: PrometheusClient) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    reading = await client.query(address, "up")
    assert reading.problem is Problem.UNREACHABLE
    assert reading.message.startswith(f"{address}: Cannot connect to host")


async def test_unknown_host(client: PrometheusClient) -> None:
    reading = await client.query("http://prometheus.invalid:9090", "up")
    assert reading.problem is Problem.UNREACHABLE
    assert "prometheus.invalid" in reading.message


async def test_timeout(fake: FakePrometheus) -> None:
    fake.answer("slow", 200, success(vector(1)), delay=1.0)
    async with PrometheusClient(timeout=0.2) as client:
        reading = await client.query(fake.address, "slow")
    assert reading == Reading.missing(
        Problem.UNREACHABLE, f"no answer from {fake.address} within 0.2s"
    )


@pytest.mark.parametrize(
    "address",
    [
        "prometheus:9090",
        "/api",
        "ftp://prometheus",
        "http://[::1",
        "http://x:port",
        "http://x:99999",
        "http://a..b:9090",
        "http://" + "a" * 300,
    ],
)
async def test_invalid_address(client: PrometheusClient, address: str) -> None:
    reading = await client.query(address, "up")
    assert reading.problem is Problem.QUERY_ERROR
    assert reading.message.startswith(f"invalid Prometheus address {address!r}")


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_answer_is_not_read(fake: FakePrometheus, chunked: bool) -> None:
    """A query that forgot to aggregate must not make the operator buffer megabytes."""
    fake.answer("big", 200, success(vector(*range(100))), chunked=chunked)
    async with PrometheusClient(max_body=1000) as client:
        reading = await client.query(fake.address, "big")
        assert reading.problem is Problem.QUERY_ERROR
        assert "larger than 1000 bytes" in reading.message
        # The connection it abandoned does not break the next query.
        assert await client.query(fake.address, "up") == Reading(1.0)


async def test_warnings_are_logged(
    fake: FakePrometheus, client: PrometheusClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[tuple[str, dict[str, Any]]] = []

    class Log:
        def warning(self, event: str, **kw: Any) -> None:
            logged.append((event, kw))

    monkeypatch.setattr(prometheus, "log", Log())
    warning = 'PromQL warning: metric might not be a counter: "errors"'
    fake.answer("w", 200, success(vector(0.5), warnings=[warning]))
    fake.answer("e", 422, {**PROMETHEUS_422, "warnings": [warning]})
    assert await client.query(fake.address, "w") == Reading(0.5)
    assert (await client.query(fake.address, "e")).problem is Problem.QUERY_ERROR
    await client.query(fake.address, "up")  # no warnings, nothing logged
    expected = {"address": fake.address, "warnings": [warning]}
    assert logged == [
        ("prometheus query warnings", {**expected, "query": "w"}),
        ("prometheus query warnings", {**expected, "query": "e"}),
    ]


async def test_concurrency_is_bounded(fake: FakePrometheus) -> None:
    fake.answer("slow", 200, success(vector(1)), delay=0.1)
    async with PrometheusClient(max_concurrent=3) as client:
        readings = await asyncio.gather(*(client.query(fake.address, "slow") for _ in range(10)))
    assert readings == [Reading(1.0)] * 10
    # Bounded, yet concurrent up to the bound.
    assert fake.max_in_flight == 3


def session_of(client: PrometheusClient) -> aiohttp.ClientSession | None:
    return client._session


def test_client_is_made_outside_an_event_loop() -> None:
    """Built at start-up before the loop runs: the session waits for the first query."""
    client = PrometheusClient()
    assert session_of(client) is None


async def test_one_session_reused_then_closed(fake: FakePrometheus) -> None:
    client = PrometheusClient()
    for _ in range(5):
        await client.query(fake.address, "up")
    session = session_of(client)
    assert session is not None
    # Keep-alive over one shared session: five queries, one connection.
    assert len(fake.peers) == 1
    await client.close()
    assert session.closed
    assert session_of(client) is None
    await client.close()  # idempotent
    # A query after close opens a new session, and with it a new connection.
    assert await client.query(fake.address, "up") == Reading(1.0)
    assert session_of(client) not in (None, session)
    assert len(fake.peers) == 2
    await client.close()


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_every_query_is_counted(fake: FakePrometheus, client: PrometheusClient) -> None:
    fake.answer("empty", 200, success(vector()))
    fake.answer("bad", 400, PROMETHEUS_400)
    results = ["value", "NoData", "PrometheusUnreachable", "QueryError"]
    metric = "mlops_operator_prometheus_queries_total"
    before = {r: sample(metric, {"result": r}) for r in results}
    timed = sample("mlops_operator_prometheus_query_time_seconds_count")
    await client.query(fake.address, "up")
    await client.query(fake.address, "up")
    await client.query(fake.address, "empty")
    await client.query(f"http://127.0.0.1:{free_port()}", "up")
    await client.query(fake.address, "bad")
    await client.query("nonsense", "up")
    after = {r: sample(metric, {"result": r}) - before[r] for r in results}
    assert after == {"value": 2, "NoData": 1, "PrometheusUnreachable": 1, "QueryError": 2}
    assert sample("mlops_operator_prometheus_query_time_seconds_count") - timed == 6


@pytest.mark.parametrize(
    "kwargs", [{"timeout": 0}, {"timeout": -1}, {"max_concurrent": 0}, {"max_body": 0}]
)
def test_settings_must_be_positive(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="positive"):
        PrometheusClient(**kwargs)
