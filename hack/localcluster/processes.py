"""Start, track and stop the cluster's long-running processes.

The processes must outlive the ``python -m localcluster up`` that started them, so each
runs in its own session (``start_new_session``), writes to a log file in the state
directory, and is recorded in a pidfile. A pidfile also stores the process's kernel
start time, so a recycled PID is never mistaken for our process and never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Popen objects of processes started by *this* Python process, so that stopping them
# reaps them (no zombies) and Popen's destructor does not complain.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessSpec:
    """What to run: a component name (used for its log and pidfile) and its argv."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class ProcessRecord:
    """A started process, as persisted in its pidfile."""

    name: str
    pid: int
    start_ticks: int
    argv: list[str]
    log: str
    started_at: float = field(default_factory=time.time)

    def alive(self) -> bool:
        """Whether this very process (same PID *and* start time) is still running."""
        stat = _proc_stat(self.pid)
        if stat is None:
            return False
        state, ticks = stat
        return state not in ("Z", "X") and ticks == self.start_ticks


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of ``pid`` from /proc, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces; fields follow it.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def log_tail(path: Path | str, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class ProcessTable:
    """The pidfiles and logs of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.pid_dir = state_dir / "pids"
        self.log_dir = state_dir / "logs"

    def start(self, spec: ProcessSpec) -> ProcessRecord:
        """Start ``spec`` detached from our session, log to a file, write its pidfile."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        env = dict(os.environ if spec.env is None else spec.env)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        _CHILDREN[proc.pid] = proc
        stat = _proc_stat(proc.pid)
        record = ProcessRecord(
            name=spec.name,
            pid=proc.pid,
            start_ticks=stat[1] if stat else -1,
            argv=list(spec.argv),
            log=str(log_path),
        )
        self._pidfile(spec.name).write_text(json.dumps(asdict(record)) + "\n")
        return record

    def _pidfile(self, name: str) -> Path:
        return self.pid_dir / f"{name}.json"

    def get(self, name: str) -> ProcessRecord | None:
        """The record of component ``name``, if it has a pidfile."""
        try:
            data = json.loads(self._pidfile(name).read_text())
        except (OSError, ValueError):
            return None
        return ProcessRecord(**data)

    def records(self) -> list[ProcessRecord]:
        """All recorded processes, oldest first."""
        if not self.pid_dir.is_dir():
            return []
        found = [self.get(p.stem) for p in self.pid_dir.glob("*.json")]
        return sorted((r for r in found if r is not None), key=lambda r: r.started_at)

    def forget(self, name: str) -> None:
        """Remove the pidfile of a process that is no longer running."""
        self._pidfile(name).unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
    # Each component leads its own session/process group (start_new_session), so
    # signalling the group also reaches any helper it forked, and nothing else.
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(record.pid, sig)


def _wait_gone(records: Iterable[ProcessRecord], timeout: float) -> list[ProcessRecord]:
    """Wait up to ``timeout`` for processes to exit; return those still alive."""
    pending = list(records)
    deadline = time.monotonic() + timeout
    while pending:
        for record in pending:
            _reap(record.pid)
        pending = [r for r in pending if r.alive()]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return pending


def stop(records: Sequence[ProcessRecord], grace: float = 10.0) -> list[str]:
    """SIGTERM ``records`` together, SIGKILL whatever outlives ``grace``, wait for exit.

    Returns the names of the processes that were running. Records whose process is
    already gone (or whose PID now belongs to someone else) are left alone.
    """
    running = [r for r in records if r.alive()]
    for record in running:
        _signal(record, signal.SIGTERM)
    stubborn = _wait_gone(running, grace)
    for record in stubborn:
        _signal(record, signal.SIGKILL)
    leftover = _wait_gone(stubborn, 10.0)
    if leftover:
        names = ", ".join(f"{r.name} (pid {r.pid})" for r in leftover)
        raise RuntimeError(f"processes did not exit after SIGKILL: {names}")
    return [r.name for r in running]
