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
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import aiohttp

T = TypeVar("T")


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
