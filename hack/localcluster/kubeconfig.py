"""The admin kubeconfig shared by the tests, kubectl and the control-plane components.

Credentials are embedded (``*-data`` fields) rather than referenced by path, so the
file keeps working when copied elsewhere, e.g. into an operator's environment.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from localcluster.certs import ADMIN_USER, Pki

CLUSTER_NAME = "mlops-local"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(path: Path, server: str, pki: Pki) -> Path:
    """Write an admin kubeconfig for ``server`` to ``path`` (mode 0600) and return it.

    JSON is valid YAML, so every kubeconfig reader accepts it and no YAML writer is
    needed here.
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(pki.ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": ADMIN_USER,
                "user": {
                    "client-certificate-data": _b64(pki.admin_cert),
                    "client-key-data": _b64(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {
                "name": CLUSTER_NAME,
                "context": {"cluster": CLUSTER_NAME, "user": ADMIN_USER, "namespace": "default"},
            }
        ],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
