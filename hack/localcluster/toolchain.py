"""A component of the toolchain: what ``hack/toolchain/build.sh`` builds or fetches from a
pinned Go module, read back from Python.

Each component has a wrapper module in ``hack/toolchain/<name>/`` whose go.mod pins its
version; build.sh caches its binaries and manifests by name and version. The local
cluster (Kueue, the Gateway API CRDs) and the benchmark (Kubeflow's training operator) ask
here for the version, the cache folder, and the cached YAML files, building first if needed.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localcluster import paths

BUILD_SH = paths.REPO_ROOT / "hack" / "toolchain" / "build.sh"


def cache_root() -> Path:
    """The toolchain cache, chosen exactly as build.sh chooses it."""
    explicit = os.environ.get("MLOPS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "mlops-operator"


@dataclass(frozen=True)
class Component:
    """One build.sh component: its name there and the Go module its wrapper pins."""

    name: str
    module: str

    def version(self) -> str:
        """The pinned module version, read from the wrapper module's go.mod."""
        return paths.pinned_version(paths.REPO_ROOT / "hack" / "toolchain" / self.name, self.module)

    def cache_dir(self, at: str | None = None) -> Path:
        """Where build.sh copies the manifests of version ``at`` (default: the pinned one)."""
        return cache_root() / f"{self.name}-{at or self.version()}"

    def build(self) -> None:
        """Run ``build.sh <name>``: builds or fetches what is not cached yet."""
        subprocess.run(["bash", str(BUILD_SH), self.name], check=True)

    def manifests(self, what: str) -> list[Path]:
        """The cached YAML files, sorted by name; builds first if they are not cached."""
        directory = self.cache_dir()
        if not directory.is_dir():
            self.build()
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise RuntimeError(f"no {what} in {directory}")
        return files
