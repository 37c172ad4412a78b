"""Who used the CPUs during a run: each cluster component, the operator, the benchmark,
and everything else on the machine.

On a 2-core machine the operator's CPU is taken from the API server's, so "the operator
is slow" and "the cluster is slow" are the same symptom; the split says which. The rest of
the machine (another engineer's cluster, a test run) is measured too, as busy time not
spent by any process of ours: when it differs between the floor and the operator run, the
ratio carries that noise and the report says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
OTHER = "other processes"


def _machine_busy() -> float:
    """CPU-seconds all CPUs spent not idle since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    steal = fields[7] if len(fields) > 7 else 0
    return (sum(fields[:8]) - idle - steal) / _TICK


def _process(pid: int) -> float:
    """CPU-seconds (user + system, children reaped included) of one process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return sum(int(x) for x in fields[11:15]) / _TICK


@dataclass(frozen=True)
class Snapshot:
    """CPU-seconds so far: the machine's busy time and each named process's."""

    busy: float
    processes: dict[str, float]

    @classmethod
    def take(cls, pids: Mapping[str, int]) -> Snapshot:
        return cls(_machine_busy(), {name: _process(pid) for name, pid in pids.items()})


def usage(before: Snapshot, after: Snapshot, seconds: float) -> dict[str, float]:
    """Cores used on average between two snapshots, per process and for the rest."""
    used = {
        name: (after.processes.get(name, 0.0) - before.processes.get(name, 0.0)) / seconds
        for name in after.processes
    }
    ours = sum(used.values())
    used[OTHER] = max(0.0, (after.busy - before.busy) / seconds - ours)
    return {name: round(cores, 2) for name, cores in used.items()}
