"""Where the local cluster keeps its state and finds its binaries.

Everything lives under the repository's git-ignored ``.local/`` directory so that a
clone is self-contained: ``.local/bin`` holds the toolchain links made by
hack/toolchain/build.sh and ``.local/cluster`` the running cluster's state.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR = REPO_ROOT / ".local"
BIN_DIR = LOCAL_DIR / "bin"
STATE_DIR = LOCAL_DIR / "cluster"
# The lock lives beside the state directory, not in it, because `down` deletes the
# state directory while holding the lock.
LOCK_FILE = LOCAL_DIR / "cluster.lock"

_HINTS = {
    "prometheus": "run `make prometheus` (hack/install-prometheus.sh)",
}


class MissingBinaryError(RuntimeError):
    """A component binary is neither in .local/bin nor on PATH."""


def find_binary(name: str) -> Path:
    """Return the binary to run for ``name``, preferring the pinned toolchain.

    ``.local/bin`` wins over PATH so a stray system kube-apiserver of another version
    never sneaks into the tests.
    """
    local = BIN_DIR / name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(name)
    if found:
        return Path(found)
    hint = _HINTS.get(name, "run `make toolchain` (hack/toolchain/build.sh)")
    raise MissingBinaryError(f"{name}: not found in {BIN_DIR} or on PATH; {hint}")


def pinned_version(toolchain_dir: Path, module: str) -> str:
    """The version of ``module`` that the wrapper module in ``toolchain_dir`` pins, read
    from its go.mod."""
    text = (toolchain_dir / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no version of {module} in {toolchain_dir / 'go.mod'}")
    return found.group(1)
