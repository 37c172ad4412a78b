"""Kueue beside the local control plane: real quota, admission order and preemption.

Platform teams run GPU clusters with Kueue, so the operator's ``queueName`` is tested
against Kueue itself, not against a test that flips ``spec.suspend``. Kueue is built
from its Go module at the version pinned in ``hack/toolchain/kueue/go.mod`` (by
``hack/toolchain/build.sh kueue``, part of ``make deps``), and its CRDs come from the
same module (``config/components/crd/bases``, copied to
``~/.cache/mlops-operator/kueue-<version>/``).

It runs out of cluster, against the local API server, as the process ``kueue`` of the
cluster's process table (so the cluster's ``down`` stops it), and only once a test asks
for it (the ``kueue`` fixture). Its configuration:

- health, metrics and webhook servers on loopback ports;
- no leader election, no internal certificate management (that would write Secrets and
  patch webhook configurations of an in-cluster install that does not exist);
- only the ``batch/job`` integration, for the Jobs of the operator's TrainingJobs;
- ``VisibilityOnDemand`` off: that feature serves an aggregated API with a certificate
  read from a fixed path.

Its webhooks are never registered with the API server, so nothing mutates or validates
Kueue's objects or Jobs on admission: Jobs must be created suspended with the queue
label (what the operator does), and the ClusterQueues, LocalQueues and ResourceFlavors
a test creates must be valid on their own.

With internal certificate management off, Kueue's metrics server reads its certificate
from a path fixed in its ``main.go`` (:data:`METRICS_CERT_DIR`); :func:`ensure_metrics_cert`
puts a self-signed pair there once per machine (with ``sudo -n`` if not root).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from kubernetes import client

from localcluster import health, kube
from localcluster.paths import find_binary
from localcluster.ports import LOOPBACK, free_ports
from localcluster.processes import ProcessRecord, ProcessSpec, ProcessTable, log_tail
from localcluster.toolchain import Component
from localcluster.waiting import wait_for

COMPONENT = Component("kueue", "sigs.k8s.io/kueue")
PROCESS_NAME = "kueue"
GROUP = "kueue.x-k8s.io"
#: The version of Kueue's API the tests write (ClusterQueue, LocalQueue, ResourceFlavor).
API_VERSION = f"{GROUP}/v1beta2"
#: Where Kueue reads its metrics certificate when it does not manage certificates itself
#: (``metricsCertPath`` in cmd/kueue/main.go; not configurable).
METRICS_CERT_DIR = Path("/etc/kueue/metrics/certs")
FEATURE_GATES = "VisibilityOnDemand=false"
#: Client rate limits: Kueue's default (20 qps) would slow tests that queue many runs.
CLIENT_QPS = 200
CLIENT_BURST = 400


def version() -> str:
    """The pinned module version, read from the wrapper module's go.mod."""
    return COMPONENT.version()


def crd_dir() -> Path:
    """Where the CRDs of the pinned version are cached (build.sh copies them there)."""
    return COMPONENT.cache_dir()


def crd_paths() -> list[Path]:
    """The cached CRD files, sorted by name; runs ``build.sh kueue`` first if needed
    (which builds Kueue too: minutes on a cold machine)."""
    return COMPONENT.manifests("Kueue CRDs")


def install_crds(api: client.ApiClient, timeout: float = 60.0) -> list[str]:
    """Server-side apply Kueue's CRDs (too big for a client-side apply's annotation) and
    wait until each is Established; returns their names."""
    crds = [
        m for m in kube.load_manifests(crd_paths()) if m.get("kind") == "CustomResourceDefinition"
    ]
    kube.server_side_apply(api, crds)
    names = [m["metadata"]["name"] for m in crds]
    kube.wait_crds_established(api, names, timeout)
    return names


def served(api: client.ApiClient) -> bool:
    """Whether the cluster serves Kueue's ClusterQueues in :data:`API_VERSION` (an
    external cluster with Kueue installed)."""
    found = kube.get(
        api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"clusterqueues.{GROUP}"
    )
    versions = (found or {}).get("spec", {}).get("versions", [])
    return any(v["name"] == API_VERSION.split("/")[1] and v.get("served") for v in versions)


# --- the metrics certificate ---------------------------------------------------------


def self_signed_pair(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed serving certificate for 127.0.0.1/localhost to
    ``directory/tls.crt`` and ``directory/tls.key``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kueue-local")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        # Long-lived: the pair in /etc outlives every cluster, and nothing verifies it.
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    crt_path, key_path = directory / "tls.crt", directory / "tls.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return crt_path, key_path


def _readable_pair(directory: Path) -> bool:
    try:
        x509.load_pem_x509_certificate((directory / "tls.crt").read_bytes())
        serialization.load_pem_private_key((directory / "tls.key").read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return False
    return True


def ensure_metrics_cert(directory: Path = METRICS_CERT_DIR) -> None:
    """Make sure Kueue finds a certificate pair in ``directory``; a readable pair is kept.

    Any pair will do (nothing scrapes Kueue's metrics here), so it is made once per
    machine and shared by every local cluster. As root it is written directly; otherwise
    with ``sudo -n`` (CI runners have password-less sudo), else a clear error.
    """
    if _readable_pair(directory):
        return
    with tempfile.TemporaryDirectory() as tmp:
        crt, key = self_signed_pair(Path(tmp) / "certs")
        if os.geteuid() == 0:
            directory.mkdir(parents=True, exist_ok=True)
            # Key first, certificate last: a reader that finds the certificate finds both.
            for src in (key, crt):
                shutil.copyfile(src, directory / f".{src.name}.tmp")
                os.replace(directory / f".{src.name}.tmp", directory / src.name)
            (directory / "tls.key").chmod(0o600)
            return
        if shutil.which("sudo") is None:
            raise RuntimeError(_cert_help(directory))
        try:
            subprocess.run(["sudo", "-n", "mkdir", "-p", str(directory)], check=True)
            for src in (key, crt):
                # Readable by the user running Kueue; the key protects nothing of value.
                subprocess.run(
                    ["sudo", "-n", "install", "-m", "0644", str(src), str(directory / src.name)],
                    check=True,
                )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(_cert_help(directory)) from exc


def _cert_help(directory: Path) -> str:
    return (
        f"Kueue reads its metrics certificate from {directory}/tls.{{crt,key}} (a path "
        "fixed in its main.go) and this user cannot write there; create any self-signed "
        f"pair there readable by this user (e.g. sudo mkdir -p {directory} && sudo openssl "
        f"req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=kueue-local "
        f"-keyout {directory}/tls.key -out {directory}/tls.crt && sudo chmod 644 "
        f"{directory}/tls.key)"
    )


# --- the process ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    """Kueue's loopback ports."""

    health: int
    metrics: int
    webhook: int


def config(directory: Path, ports: Ports) -> dict[str, Any]:
    """Kueue's Configuration for an out-of-cluster run against the local cluster."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": f"{LOOPBACK}:{ports.health}"},
        "metrics": {"bindAddress": f"{LOOPBACK}:{ports.metrics}"},
        "webhook": {
            "host": LOOPBACK,
            "port": ports.webhook,
            "certDir": str(directory / "webhook-certs"),
        },
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "clientConnection": {"qps": CLIENT_QPS, "burst": CLIENT_BURST},
        "integrations": {"frameworks": ["batch/job"]},
    }


def process_spec(directory: Path, kubeconfig: Path, ports: Ports) -> ProcessSpec:
    """The Kueue process with its files (config, webhook certificate) in ``directory``.

    The webhook server still starts (nothing calls it) and wants a certificate pair in
    its ``certDir``: a self-signed one, made once per directory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if not _readable_pair(directory / "webhook-certs"):
        self_signed_pair(directory / "webhook-certs")
    config_file = directory / "config.yaml"
    # JSON is valid YAML.
    config_file.write_text(json.dumps(config(directory, ports), indent=2) + "\n")
    return ProcessSpec(
        PROCESS_NAME,
        [
            str(find_binary("kueue")),
            f"--config={config_file}",
            f"--kubeconfig={kubeconfig}",
            f"--feature-gates={FEATURE_GATES}",
            "--zap-log-level=info",
        ],
        cwd=directory,
    )


@dataclass(frozen=True)
class Kueue:
    """A running Kueue: its version, and (when this package started it) its health URL
    and log, to read when a test fails."""

    version: str
    health_url: str | None = None
    log: Path | None = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of its log, or a note that there is none (an external Kueue)."""
        return log_tail(self.log, lines) if self.log else "(Kueue not started here: no log)"


def start(
    directory: Path,
    table: ProcessTable,
    api: client.ApiClient,
    kubeconfig: Path,
    timeout: float = 120.0,
) -> Kueue:
    """Apply Kueue's CRDs, start Kueue and wait until it reports ready.

    The CRDs go first and must be Established: Kueue's informers fail to start on kinds
    the API server does not serve yet.
    """
    ensure_metrics_cert()
    install_crds(api, timeout)
    ports = Ports(*free_ports(3))
    record = table.start(process_spec(directory, kubeconfig, ports))
    url = f"http://{LOOPBACK}:{ports.health}/readyz"
    _wait_ready(record, url, timeout)
    return Kueue(version=version(), health_url=url, log=Path(record.log))


def _wait_ready(record: ProcessRecord, url: str, timeout: float) -> None:
    def ready() -> bool:
        if not record.alive():
            raise RuntimeError(f"kueue exited at start:\n{log_tail(record.log)}")
        return health.is_healthy(url)

    try:
        wait_for(ready, timeout, f"Kueue ready at {url}", interval=0.2)
    except TimeoutError as exc:
        raise RuntimeError(f"{exc}\nlast log lines:\n{log_tail(record.log)}") from None
