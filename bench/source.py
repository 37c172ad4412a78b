"""Which operator code is measured: the working tree (default), or a commit.

``--operator-ref REF`` measures the operator as committed at REF, whatever the working
tree holds (someone's half-finished change must not decide a benchmark, and two commits
can be compared). The ``operator/`` tree of REF is extracted under ``.local/bench`` and the
benchmark re-executes itself with it first on ``PYTHONPATH``, so the floor's manifests,
the self-check and the operator process all come from the same code.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import NoReturn

from bench.cluster import WORK_DIR
from localcluster import paths

#: Set in the re-executed benchmark: the commit whose operator/ is on PYTHONPATH.
SOURCE_ENV = "MLOPS_BENCH_OPERATOR_COMMIT"


def _git(*args: str) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=paths.REPO_ROOT, capture_output=True, check=True
    ).stdout


def checkout(ref: str) -> tuple[Path, str]:
    """Extract ``operator/`` of ``ref`` (once per commit); its directory and the commit."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    target = WORK_DIR / f"operator-{sha[:12]}"
    if not (target / "operator" / "mlops_operator").is_dir():
        archive = _git("archive", "--format=tar", sha, "operator")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target, sha


def measured_commit() -> str | None:
    """The commit being measured when run with ``--operator-ref``; None for the work tree."""
    return os.environ.get(SOURCE_ENV)


def reexec(ref: str) -> NoReturn:
    """Run this benchmark again with ``ref``'s operator first on PYTHONPATH."""
    target, sha = checkout(ref)
    path = os.pathsep.join(
        p for p in (str(target / "operator"), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {**os.environ, "PYTHONPATH": path, SOURCE_ENV: sha}
    print(f"bench: measuring the operator of {ref} ({sha[:12]})", file=sys.stderr, flush=True)
    os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], env)
