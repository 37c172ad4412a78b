"""Where the operator's CPU goes: py-spy's flame graph and collapsed stacks, summarised.

``--py-spy`` records a flame graph (SVG, for a person to explore); ``--py-spy-raw`` records
py-spy's ``--format raw`` collapsed stacks (one line per distinct stack, root first, then
the number of samples) and the report summarises them with :func:`summarize_raw`: the
functions the samples were in (self time) and the functions on the stack (inclusive time),
as a share of all samples. py-spy samples only threads that are running (no ``--idle``),
so the shares are of the operator's busy time, not of the wall clock.

Both at once means two py-spy processes sampling the same operator (each 50 times a
second): the operator is slowed either way, so a profiled run's times are not comparable
with an unprofiled one's.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Samples per second of each py-spy.
RATE = 50
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
#: Functions left out of the inclusive table: the event loop and entry points every busy
#: stack passes through (they would fill it at ~90 % and say nothing).
_PLUMBING = re.compile(
    r"^<module> |\((asyncio/|selectors\.py|threading\.py|runpy\.py|<frozen )"
    r"|^run \(kopf/_core/reactor/running\.py\)$|^main \(mlops_operator/cli\.py\)$"
)
#: Path prefixes cut from file names, so frames read ``kopf/_core/...``.
_PREFIXES = ("site-packages/", "dist-packages/", "/operator/", "/hack/")


@dataclass(frozen=True)
class Profiling:
    """What to record: a flame graph, collapsed stacks, or both (None: not that one)."""

    svg: Path | None = None
    raw: Path | None = None

    @property
    def on(self) -> bool:
        return self.svg is not None or self.raw is not None

    def named(self, suffix: str) -> Profiling:
        """The same with ``-<suffix>`` before each extension (one file per repetition)."""

        def one(path: Path | None) -> Path | None:
            if path is None:
                return None
            stem, dot, ext = path.name.partition(".")
            return path.with_name(f"{stem}-{suffix}{dot}{ext}")

        return Profiling(one(self.svg), one(self.raw))


def _py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def start(pid: int, out: Path, raw: bool = False) -> subprocess.Popen[bytes] | None:
    """py-spy recording ``pid`` into ``out`` until :func:`stop` (SIGINT makes it write);
    None when py-spy is not installed."""
    spy = _py_spy()
    if spy is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [spy, "record", "--pid", str(pid), "--output", str(out), "--rate", str(RATE)]
    argv += ["--nonblocking", "--format", "raw" if raw else "flamegraph"]
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()


@dataclass
class Recording:
    """The py-spy processes of one profiled run."""

    profiling: Profiling
    spies: list[subprocess.Popen[bytes]]

    @classmethod
    def begin(cls, pid: int, profiling: Profiling) -> Recording:
        spies = []
        for path, raw in ((profiling.svg, False), (profiling.raw, True)):
            if path is not None:
                spy = start(pid, path, raw)
                if spy is not None:
                    spies.append(spy)
        return cls(profiling, spies)

    def end(self) -> None:
        for spy in self.spies:
            stop(spy)

    @property
    def recorded(self) -> bool:
        return bool(self.spies)

    @property
    def svg(self) -> str | None:
        """The flame graph written, if one was."""
        return str(self.profiling.svg) if self.recorded and self.profiling.svg else None

    @property
    def raw(self) -> str | None:
        """The collapsed stacks written, if they were."""
        return str(self.profiling.raw) if self.recorded and self.profiling.raw else None


# --- the summary -----------------------------------------------------------------------------


def function(frame: str) -> str:
    """``Reconciler.run (mlops_operator/controllers/runtime.py:88)`` ->
    ``Reconciler.run (mlops_operator/controllers/runtime.py)``: one name per function,
    whatever line it was at, with the installation's path prefix cut."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match.group("file")
    for prefix in _PREFIXES:
        at = file.rfind(prefix)
        if at >= 0:
            file = file[at + len(prefix) :]
            break
    return f"{match.group('func')} ({file})"


def parse_raw(text: str) -> Iterable[tuple[list[str], int]]:
    """``(frames root first, samples)`` per line of py-spy's ``--format raw``."""
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def summarize_raw(texts: Iterable[str], top: int = 12) -> dict[str, Any]:
    """The top functions by self and by inclusive samples, as % of all samples, over one
    or more raw recordings (e.g. one per repetition). The inclusive table leaves out the
    event loop's and the entry points' own frames (:data:`_PLUMBING`)."""
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for text in texts:
        for frames, count in parse_raw(text):
            total += count
            names = [function(f) for f in frames]
            own[names[-1]] += count
            for name in set(names):
                if not _PLUMBING.search(name):
                    inclusive[name] += count

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "percent": round(100 * n / total, 1)}
            for name, n in counter.most_common(top)
        ]

    if total == 0:
        return {"samples": 0, "self": [], "inclusive": []}
    return {"samples": total, "self": rows(own), "inclusive": rows(inclusive)}


def markdown(summary: dict[str, Any], what: str) -> list[str]:
    """Two tables, self and inclusive, for a report section."""
    if not summary.get("samples"):
        return []
    seconds = summary["samples"] / RATE
    return [
        f"Where the CPU goes ({what}; py-spy at {RATE}/s, {summary['samples']} samples of "
        f"busy threads, about {seconds:.0f} s):",
        "",
        "| self: function the sample was in | % of samples |",
        "|---|---:|",
        *(f"| `{r['function']}` | {r['percent']:.1f} |" for r in summary["self"]),
        "",
        "| inclusive: function on the stack (event loop and entry points left out) "
        "| % of samples |",
        "|---|---:|",
        *(f"| `{r['function']}` | {r['percent']:.1f} |" for r in summary["inclusive"]),
        "",
    ]
