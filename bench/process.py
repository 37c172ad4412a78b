"""A controller run as a subprocess and measured from outside: ours or the Kubeflow peer.

Both arms that run a controller measure it the same way: CPU-seconds (user + system) from
``/proc/<pid>/stat``, peak RSS from the kernel's own ``VmHWM`` (no sample can miss the
peak), its Prometheus metrics from its loopback port, and it is stopped by SIGTERM, then
SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench.kube import Kube

T = TypeVar("T")

#: Seconds without a new request after which a controller counts as idle.
QUIET = 3.0


class ControllerDied(RuntimeError):
    """The controller process exited during the run."""


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in bytes, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far, from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Controller:
    """What the arms need of a controller subprocess; subclasses start it."""

    #: For messages: "the operator", "the training operator".
    title = "the controller"
    proc: subprocess.Popen[bytes] | None
    log_path: Path
    metrics_port: int

    def start(self) -> None:
        """Start the process (with :meth:`popen`)."""
        raise NotImplementedError

    def popen(self, argv: list[str], env: dict[str, str]) -> None:
        """Start ``argv`` in its own session (a Ctrl-C reaches only us, and we stop it),
        its output into :attr:`log_path`."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise ControllerDied(f"{self.title} exited (code {code}); see {self.log_path}")

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def memory(self) -> dict[str, int]:
        return memory(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    async def scrape(self, session: aiohttp.ClientSession) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        async with session.get(url) as response:
            response.raise_for_status()
            return await response.text()

    async def wait_answering(
        self,
        session: aiohttp.ClientSession,
        url: str,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        """Until ``url`` answers 200 (a health or readiness probe)."""
        async with asyncio.timeout(timeout):
            while True:
                self.check_alive()
                try:
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, failing at once if the controller dies meanwhile."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=0.5)
                if done:
                    return task.result()
                self.check_alive()
        finally:
            task.cancel()


def run_measured(
    controller: Controller, kubeconfig: Path, measure: Callable[[Kube], Awaitable[T]]
) -> T:
    """``measure`` with a client of the cluster, in an event loop of its own; the
    controller is stopped after it, also when it raises."""

    async def main() -> T:
        kube = await Kube.connect(kubeconfig)
        try:
            return await measure(kube)
        finally:
            await kube.close()

    try:
        return asyncio.run(main())
    finally:
        controller.stop()


# --- its metrics and memory, over a batch ------------------------------------------------------


def samples(text: str, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of one counter, keyed by its sorted labels."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def delta(
    before: dict[tuple[tuple[str, str], ...], float],
    after: dict[tuple[tuple[str, str], ...], float],
) -> dict[tuple[tuple[str, str], ...], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


async def wait_quiet(
    op: Controller,
    session: aiohttp.ClientSession,
    limit: float,
    metric: str,
) -> str:
    """Wait until the controller sent no request for :data:`QUIET` seconds (by its request
    counter ``metric``); its metrics then.

    Trailing writes (the Event after the last status, a held-back counter update) land
    after the last run looks finished; counting before them would flatter it.
    """
    deadline = time.monotonic() + limit
    text = await op.scrape(session)
    last, since = samples(text, metric), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        text = await op.scrape(session)
        now = samples(text, metric)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET:
            break
    return text


async def sample_memory(
    op: Controller, timeline: list[tuple[float, int]], start: float, every: float = 1.0
) -> None:
    """Record VmRSS every ``every`` seconds until cancelled (the peak is VmHWM anyway)."""
    while True:
        try:
            timeline.append((time.monotonic() - start, op.memory()["VmRSS"]))
        except (OSError, KeyError):
            return
        await asyncio.sleep(every)
