"""Where an operator's slow step spends its time: the API server, or the operator's own loop.

When a reconcile takes long in wall time, either its requests wait on the API server, or
the operator's event loop is too busy to get back to them. Two cheap views tell which:

- :func:`apiserver_latency`: the API server's own ``apiserver_request_duration_seconds``
  (sum and count by verb and resource), as a delta over a phase: the mean time the server
  took per request, whoever sent it;
- :class:`LoopLag`: how long the operator takes to answer ``/healthz``, which kopf serves
  from the same event loop as every reconcile: the answer is late by as much as the loop is
  busy;
- :func:`reconcile_wall`: the operator's own reconcile time histogram over the phase, and
  from it how many of its workers were busy on average (all of them busy means keys that
  are due wait for a worker; the operator has no metric of that wait itself).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench.kube import Kube
from bench.operator_run import OperatorProcess
from bench.track import Spread

DURATION = "apiserver_request_duration_seconds"
#: Verbs that change something, as the API server's metrics spell them.
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY"})

Totals = dict[tuple[str, str, str], tuple[float, float]]


async def apiserver_totals(kube: Kube) -> Totals:
    """``(verb, resource, subresource) -> (seconds, requests)`` so far, writes only."""
    text = await kube.text("/metrics")
    sums: dict[tuple[str, str, str], float] = defaultdict(float)
    counts: dict[tuple[str, str, str], float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        if family.name != DURATION:
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("verb") not in WRITES:
                continue
            key = (labels["verb"], labels.get("resource", ""), labels.get("subresource", ""))
            if sample.name == f"{DURATION}_sum":
                sums[key] += sample.value
            elif sample.name == f"{DURATION}_count":
                counts[key] += sample.value
    return {k: (sums[k], counts[k]) for k in counts}


def apiserver_latency(before: Totals, after: Totals, top: int = 8) -> list[dict[str, Any]]:
    """The busiest write kinds of a phase: requests and mean server time, most first."""
    rows: list[dict[str, Any]] = []
    for key, (seconds, count) in after.items():
        s0, c0 = before.get(key, (0.0, 0.0))
        n = count - c0
        if n > 0:
            verb, resource, sub = key
            rows.append(
                {
                    "verb": verb,
                    "resource": resource + (f"/{sub}" if sub else ""),
                    "requests": int(n),
                    "mean_ms": round(1000 * (seconds - s0) / n, 1),
                }
            )
    rows.sort(key=lambda r: -r["requests"])
    return rows[:top]


@dataclass
class LoopLag:
    """``/healthz`` answer times of the operator, sampled every ``every`` seconds."""

    op: OperatorProcess
    session: aiohttp.ClientSession
    every: float = 0.5
    values: list[float] = field(default_factory=list)

    async def run(self) -> None:
        url = f"http://127.0.0.1:{self.op.health_port}/healthz"
        while True:
            start = time.monotonic()
            try:
                async with self.session.get(url) as response:
                    await response.read()
                self.values.append(time.monotonic() - start)
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(self.every)

    def spread(self) -> dict[str, float] | None:
        spread = Spread.of(self.values, 0.0)
        return spread.as_dict() if spread else None


def latency_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown rows of :func:`apiserver_latency`."""
    if not rows:
        return []
    return [
        "| API server: writes during the phase | requests | mean server time (ms) |",
        "|---|---:|---:|",
        *(f"| {r['verb']} {r['resource']} | {r['requests']} | {r['mean_ms']:.1f} |" for r in rows),
        "",
    ]


RECONCILE_TIME = "mlops_operator_reconcile_time_seconds"


def reconcile_wall(before: str, after: str, seconds: float) -> dict[str, dict[str, float]]:
    """Per controller, over a phase of ``seconds``: reconciles, their mean wall time, how
    many took over 1 s, and how many workers were busy on average (from the operator's own
    histogram; wall time includes waiting on the API server and on the event loop)."""

    def read(text: str) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(text):
            if family.name != RECONCILE_TIME:
                continue
            for sample in family.samples:
                controller = sample.labels.get("controller", "?")
                if sample.name.endswith("_sum"):
                    out[(controller, "sum")] = sample.value
                elif sample.name.endswith("_count"):
                    out[(controller, "count")] = sample.value
                elif sample.name.endswith("_bucket") and sample.labels.get("le") == "1.0":
                    out[(controller, "le1")] = sample.value
        return out

    b, a = read(before), read(after)
    result = {}
    for controller in {c for c, _ in a}:

        def d(what: str, c: str = controller) -> float:
            return a.get((c, what), 0.0) - b.get((c, what), 0.0)

        n = d("count")
        if n > 0:
            result[controller] = {
                "reconciles": int(n),
                "mean_s": round(d("sum") / n, 3),
                "over_1s": int(n - d("le1")),
                "busy_workers": round(d("sum") / seconds, 1) if seconds > 0 else 0.0,
            }
    return result
