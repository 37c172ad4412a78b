"""The operator's process as it ships: only its runtime dependencies importable.

The development venv also holds the test tools, among them the synchronous ``kubernetes``
client, which kopf imports whenever it is installed (to recognise its model classes): about
20 MiB of RSS that the image (``pip install`` of the wheel, no extras) never has. So the
benchmark runs the operator with a venv of the runtime dependencies of ``pyproject.toml``
alone (made once in ``.local/bench/runtime-venv``, again when they change; pip's cache makes
that quick) and the measured ``operator/`` tree on ``PYTHONPATH`` (the working tree, or the
commit of ``--operator-ref``).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import mlops_operator
from bench.cluster import WORK_DIR
from localcluster import paths

VENV = WORK_DIR / "runtime-venv"


def dependencies(pyproject: Path = paths.REPO_ROOT / "pyproject.toml") -> list[str]:
    """The operator's runtime requirements, as pyproject.toml declares them."""
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def python(venv: Path = VENV) -> Path:
    """The runtime venv's interpreter, made (or remade) to match :func:`dependencies`."""
    wanted = "\n".join(dependencies()) + "\n"
    stamp = venv / "requirements.txt"
    interpreter = venv / "bin" / "python"
    if not interpreter.exists() or not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(interpreter),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *dependencies(),
            ],
            check=True,
        )
        stamp.write_text(wanted)
    return interpreter


def source() -> Path:
    """The ``operator/`` directory the benchmark itself imports the operator from."""
    return Path(mlops_operator.__file__).resolve().parents[1]
