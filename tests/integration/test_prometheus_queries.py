"""PrometheusClient against the real local Prometheus.

The unit tests fix the client's reading of each answer shape; these check that the real
server sends those shapes: its parse errors, its empty vectors, its NaN and +Inf, its
scalars, its answer to our ``time`` and ``timeout`` parameters, and a series scraped from
a target the test serves itself.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from localcluster.ports import free_ports
from localcluster.prometheus import PrometheusServer
from mlops_operator.core.watching.series import Problem, Reading
from mlops_operator.kube.prometheus import PrometheusClient

TIMEOUT = 30.0


@pytest.fixture
async def client() -> AsyncIterator[PrometheusClient]:
    async with PrometheusClient() as c:
        yield c


@pytest.mark.parametrize(
    ("promql", "expected"),
    [
        ("vector(1)", Reading(1.0)),
        ("scalar(vector(3))", Reading(3.0)),
        ("sum(vector(1) + vector(2))", Reading(3.0)),
        ("1 / 0", Reading(math.inf)),
        ("-1 / 0", Reading(-math.inf)),
        ("vector(1) > 2", Reading.missing(Problem.NO_DATA, "empty result")),
        ("0 / 0", Reading.missing(Problem.NO_DATA, "the query returned NaN")),
    ],
)
async def test_values(
    prometheus: PrometheusServer, client: PrometheusClient, promql: str, expected: Reading
) -> None:
    assert await client.query(prometheus.url, promql) == expected


@pytest.mark.parametrize(
    ("promql", "message"),
    [
        # Prometheus' own words, with its errorType.
        ("sum(rate(x[5m])", "bad_data: "),
        ("sum(rate(x[5m])", "unclosed left parenthesis"),
        ("vector(1) +", "bad_data: "),
        ("up[1m]", "range vector"),
        ('"a string"', "returned a string"),
        ("vector(1) or label_replace(vector(2), 'x', 'y', '', '')", "returned 2 series"),
    ],
)
async def test_query_errors(
    prometheus: PrometheusServer, client: PrometheusClient, promql: str, message: str
) -> None:
    reading = await client.query(prometheus.url, promql)
    assert reading.problem is Problem.QUERY_ERROR
    assert message in reading.message


async def test_time_is_sent(prometheus: PrometheusServer, client: PrometheusClient) -> None:
    at = datetime(2026, 11, 22, 4, 0, 30, tzinfo=UTC)
    reading = await client.query(prometheus.url + "/", "vector(time())", time=at)
    assert reading == Reading(at.timestamp())


async def test_nothing_listening(client: PrometheusClient) -> None:
    (port,) = free_ports(1)
    reading = await client.query(f"http://127.0.0.1:{port}", "vector(1)")
    assert reading.problem is Problem.UNREACHABLE
    assert "Cannot connect" in reading.message


@pytest.fixture
def target(prometheus: PrometheusServer) -> Iterator[tuple[Gauge, str]]:
    """A /metrics endpoint on loopback, scraped by the local Prometheus: (gauge, run label).

    The label is unique per run, since other sessions may share the cluster's Prometheus.
    """
    registry = CollectorRegistry()
    gauge = Gauge("client_test_ratio", "Set by the test", ["run", "variant"], registry=registry)
    run = secrets.token_hex(4)
    gauge.labels(run=run, variant="stable").set(0.25)
    gauge.labels(run=run, variant="canary").set(math.inf)
    gauge.labels(run=run, variant="idle").set(math.nan)
    (port,) = free_ports(1)
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    address = f"127.0.0.1:{port}"
    try:
        prometheus.add_target(address, {"suite": "prometheus-client"})
        yield gauge, run
    finally:
        prometheus.remove_target(address)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def first_value(client: PrometheusClient, url: str, promql: str) -> Reading:
    """The query's reading once the scraped series is visible (a scrape may just be due)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        reading = await client.query(url, promql)
        if reading.problem is not Problem.NO_DATA or time.monotonic() > deadline:
            return reading
        await asyncio.sleep(0.25)


async def test_scraped_series(
    prometheus: PrometheusServer, client: PrometheusClient, target: tuple[Gauge, str]
) -> None:
    gauge, run = target
    url = prometheus.url

    def series(variant: str) -> str:
        return f'client_test_ratio{{run="{run}",variant="{variant}",suite="prometheus-client"}}'

    assert await first_value(client, url, series("stable")) == Reading(0.25)
    assert await client.query(url, series("canary")) == Reading(math.inf)
    # A NaN sample is no data, as an error ratio over no requests is.
    assert await client.query(url, series("idle")) == Reading.missing(
        Problem.NO_DATA, "the query returned NaN"
    )
    # Several series must be aggregated to one.
    every = f'client_test_ratio{{run="{run}",variant=~"stable|canary"}}'
    reading = await client.query(url, every)
    assert reading.problem is Problem.QUERY_ERROR
    assert "returned 2 series" in reading.message
    assert f'run="{run}"' in reading.message
    assert await client.query(url, f"max({every})") == Reading(math.inf)
    assert await client.query(url, f"min({every})") == Reading(0.25)

    # A new value is read at the next scrape.
    gauge.labels(run=run, variant="stable").set(0.5)
    deadline = time.monotonic() + TIMEOUT
    while (reading := await client.query(url, series("stable"))) != Reading(0.5):
        assert time.monotonic() < deadline, f"still {reading}"
        await asyncio.sleep(0.25)
