"""An async client for Prometheus' instant queries, returning :class:`Reading` values.

Canary analysis and drift detection run a PromQL query per object every interval. What
they need back is one number, or the reason there is none; so every outcome of a query —
an answer, an empty result, a refused query, a Prometheus that does not answer — is a
:class:`~mlops_operator.core.watching.series.Reading`, and :meth:`PrometheusClient.query`
never raises for any of them. The core decides what each means (no data is
inconclusive, see :mod:`mlops_operator.core.watching.series`).

One shared ``aiohttp`` session keeps connections alive across evaluations, every request
has a total timeout (a hung Prometheus must not pin a reconcile), and a semaphore bounds
concurrent queries so that a thousand policies due at the same second do not open a
thousand connections to one Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import time as clock
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiohttp

from mlops_operator.core.watching.series import Problem, Reading
from mlops_operator.observability import logging
from mlops_operator.observability.metrics import PROMETHEUS_QUERIES, PROMETHEUS_QUERY_TIME

log = logging.get(__name__)

USER_AGENT = "mlops-operator"
QUERY_PATH = "/api/v1/query"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_CONCURRENT = 32
# An instant query that yields one number answers in a few hundred bytes. A query that
# forgot its aggregation over a big metric can answer hundreds of megabytes; stop reading
# long before that, the answer would be a QueryError anyway.
DEFAULT_MAX_BODY = 4 * 1024 * 1024
_MESSAGE_LIMIT = 1024
_SERIES_SHOWN = 3
# Statuses that say "not now" rather than "never": a proxy timing out or shedding load.
_TRANSIENT_4XX = frozenset({408, 429})


class _TooLarge(Exception):
    pass


class PrometheusClient:
    """Instant queries against any number of Prometheus servers, one session for all.

    The session is created on the first query, in the running event loop, and closed by
    :meth:`close`; a query after :meth:`close` opens a new one. Use one client per event
    loop (aiohttp sessions belong to the loop they were made in).
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if timeout <= 0 or max_concurrent < 1 or max_body < 1:
            raise ValueError("timeout, max_concurrent and max_body must be positive")
        self.timeout = timeout
        self.max_concurrent = max_concurrent
        self.max_body = max_body
        self._slots = asyncio.Semaphore(max_concurrent)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrometheusClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the shared session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _shared_session(self) -> aiohttp.ClientSession:
        # No await between the check and the assignment: concurrent first queries cannot
        # create two sessions.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        return self._session

    async def query(self, address: str, promql: str, *, time: datetime | None = None) -> Reading:
        """Evaluate ``promql`` at ``time`` (default: Prometheus' now) on the server at ``address``.

        ``address`` is the server's base URL, e.g. ``http://prometheus:9090``; a trailing
        slash or a path prefix (``http://gateway/prometheus``) is fine. A naive ``time``
        is read as UTC. Every query is counted in
        ``mlops_operator_prometheus_queries_total{result}``.
        """
        async with self._slots:
            started = clock.monotonic()
            reading = await self._query(address, promql, time)
            PROMETHEUS_QUERY_TIME.observe(clock.monotonic() - started)
        PROMETHEUS_QUERIES.labels(result=reading.problem or "value").inc()
        return reading

    async def _query(self, address: str, promql: str, time: datetime | None) -> Reading:
        url = query_url(address)
        if not _is_http_url(url):
            return _bad_address(address)
        # Prometheus stops evaluating at its own `timeout`, so a query we gave up on does
        # not keep burning its CPU.
        params = {"query": promql, "timeout": f"{self.timeout:g}"}
        if time is not None:
            params["time"] = _timestamp(time)
        try:
            async with self._shared_session().get(url, params=params) as response:
                status = response.status
                body = await _read(response, self.max_body)
        except _TooLarge:
            return Reading.missing(
                Problem.QUERY_ERROR,
                f"the answer is larger than {self.max_body} bytes: the query must return"
                " one series (aggregate it, e.g. with sum())",
            )
        except TimeoutError:
            return Reading.missing(
                Problem.UNREACHABLE, f"no answer from {address} within {self.timeout:g}s"
            )
        except aiohttp.ClientError as exc:
            if isinstance(exc, aiohttp.InvalidURL):
                return _bad_address(address)
            return Reading.missing(Problem.UNREACHABLE, f"{address}: {_describe(exc)}")
        except ValueError:
            # Building the URL refuses some hosts the check above lets through, with a bare
            # UnicodeError (an empty or over-long label: "a..b"). Nothing else here raises it.
            return _bad_address(address)
        reading, warnings = interpret(status, body)
        if warnings:
            log.warning(
                "prometheus query warnings", address=address, query=promql, warnings=warnings
            )
        return reading


def query_url(address: str) -> str:
    """The instant-query endpoint under ``address``, keeping any path prefix."""
    return address.rstrip("/") + QUERY_PATH


def _is_http_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return False


def _bad_address(address: str) -> Reading:
    # A malformed address never starts working by itself: the spec must change, so this is
    # the user's error to fix, not an outage to wait out.
    return Reading.missing(
        Problem.QUERY_ERROR,
        f"invalid Prometheus address {address!r}: expected http(s)://host[:port][/prefix]",
    )


def interpret(status: int, body: bytes) -> tuple[Reading, list[str]]:
    """An HTTP answer of ``/api/v1/query`` as a reading, plus Prometheus' warnings.

    - 5xx, 408 and 429: :attr:`~Problem.UNREACHABLE` — Prometheus (or a proxy in front
      of it) is down, overloaded or timed out; it may answer next time. Prometheus itself
      answers 503 when a query hits its timeout.
    - Other non-2xx, ``status: error``, or no Prometheus API answer at all (an HTML page,
      a 404 from a wrong path prefix): :attr:`~Problem.QUERY_ERROR` with Prometheus'
      ``errorType`` and ``error``, or the start of the body.
    - A vector with no series or a NaN: :attr:`~Problem.NO_DATA`.
    - A vector with one series, or a scalar: its value (``+Inf``/``-Inf`` included).
    - A vector of several series, a matrix or a string: :attr:`~Problem.QUERY_ERROR`,
      since only one number can be compared with a threshold.
    """
    reply = _json(body)
    api = reply if isinstance(reply, dict) and "status" in reply else None
    detail = _error_text(api) if api is not None else _snippet(body)
    if status >= 500 or status in _TRANSIENT_4XX:
        return Reading.missing(Problem.UNREACHABLE, f"HTTP {status}: {detail}"), []
    if api is None:
        return (
            Reading.missing(
                Problem.QUERY_ERROR, f"HTTP {status}, not a Prometheus API answer: {detail}"
            ),
            [],
        )
    raw_warnings = api.get("warnings")
    warnings = [str(w) for w in raw_warnings] if isinstance(raw_warnings, list) else []
    if api.get("status") != "success" or not 200 <= status < 300:
        return Reading.missing(Problem.QUERY_ERROR, detail), warnings
    return _result(api.get("data")), warnings


def _result(data: Any) -> Reading:
    if not isinstance(data, dict):
        return Reading.missing(Problem.QUERY_ERROR, "malformed answer: no data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _sample_value(result)
    if kind == "vector" and isinstance(result, list):
        if not result:
            return Reading.missing(Problem.NO_DATA, "empty result")
        if len(result) > 1:
            shown = ", ".join(_series(s) for s in result[:_SERIES_SHOWN])
            more = ", ..." if len(result) > _SERIES_SHOWN else ""
            return Reading.missing(
                Problem.QUERY_ERROR,
                f"the query returned {len(result)} series ({shown}{more}); it must return"
                " one: aggregate them, e.g. with sum() or max()",
            )
        sample = result[0] if isinstance(result[0], dict) else {}
        if "value" not in sample and "histogram" in sample:
            return Reading.missing(
                Problem.QUERY_ERROR,
                "the query returned a native histogram, not a number: use e.g."
                " histogram_quantile() or histogram_count()",
            )
        return _sample_value(sample.get("value"))
    if kind == "matrix":
        return Reading.missing(
            Problem.QUERY_ERROR,
            "the query returned a range vector; it must return one number: wrap the range"
            " selector in a function, e.g. rate(x[5m])",
        )
    return Reading.missing(
        Problem.QUERY_ERROR, f"the query returned a {kind}; it must return one number"
    )


def _sample_value(sample: Any) -> Reading:
    """``[timestamp, "value"]`` as a reading; Prometheus writes NaN/+Inf/-Inf as strings."""
    try:
        _, text = sample
        return Reading.value_of(float(text))
    except (TypeError, ValueError):
        return Reading.missing(Problem.QUERY_ERROR, f"malformed sample: {str(sample)[:100]}")


def _series(sample: Any) -> str:
    metric = sample.get("metric") if isinstance(sample, dict) else None
    labels: Mapping[str, Any] = metric if isinstance(metric, dict) else {}
    name = str(labels.get("__name__", ""))
    pairs = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{pairs}}}"


def _error_text(api: Mapping[str, Any]) -> str:
    kind, error = api.get("errorType"), api.get("error")
    if not error:
        return f"Prometheus answered status {api.get('status')!r} without an error message"
    return _short(f"{kind}: {error}" if kind else str(error))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return None


def _snippet(body: bytes) -> str:
    """What a reply that is not from Prometheus looked like, without its content.

    The address is the user's to choose: echoing an arbitrary endpoint's body into status
    would let anyone who can create a ModelDeployment read internal HTTP services through
    the operator's network position. Its size says enough to debug a wrong address.
    """
    return f"a body of {len(body)} bytes" if body else "empty body"


def _short(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(exc: aiohttp.ClientError) -> str:
    return str(exc) or type(exc).__name__


def _timestamp(time: datetime) -> str:
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    return f"{time.timestamp():.3f}"


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    if response.content_length is not None and response.content_length > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
