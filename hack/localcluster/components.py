"""Command lines of the control-plane components, in one place.

These flags are the whole difference between "some binaries running" and a cluster
whose controllers behave like production: RBAC and Node authorisation on, service
account tokens signed and verifiable, every controller of the controller manager
enabled (Job, Deployment/ReplicaSet, garbage collector, namespace, ttl-after-finished
...), and everything bound to loopback. A machine with no default route also needs the
API server's advertise address spelled out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from localcluster import kwok
from localcluster.certs import Pki
from localcluster.paths import find_binary
from localcluster.ports import LOOPBACK
from localcluster.processes import ProcessSpec

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_NAME = "mlops-local"
# Client rate limits of the controllers. The upstream defaults (20 qps) are tuned for
# protecting big shared clusters; here they would only slow down benchmarks that
# create hundreds of pods.
CONTROLLER_QPS = 200
CONTROLLER_BURST = 400


@dataclass(frozen=True)
class Ports:
    """The loopback ports picked for one cluster."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def from_list(cls, ports: list[int]) -> Ports:
        """Assign ports from :func:`localcluster.ports.free_ports` in field order."""
        return cls(*ports)

    @classmethod
    def count(cls) -> int:
        """How many ports a cluster needs."""
        return len(cls.__dataclass_fields__)


@dataclass(frozen=True)
class Layout:
    """Where one cluster's files are, inside its state directory."""

    state_dir: Path

    @property
    def certs(self) -> Path:
        """The PKI directory."""
        return self.state_dir / "certs"

    @property
    def etcd_data(self) -> Path:
        """etcd's data directory."""
        return self.state_dir / "etcd"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (also used by the components)."""
        return self.state_dir / "kubeconfig"

    @property
    def kwok_config(self) -> Path:
        """The KWOK stage configuration."""
        return self.state_dir / "kwok.yaml"

    @property
    def scheduler_config(self) -> Path:
        """The KubeSchedulerConfiguration file."""
        return self.state_dir / "scheduler.yaml"


def apiserver_url(ports: Ports) -> str:
    """The API server's URL."""
    return f"https://{LOOPBACK}:{ports.apiserver}"


def etcd(layout: Layout, ports: Ports) -> ProcessSpec:
    """A single-member etcd on loopback.

    ``--unsafe-no-fsync``: the data is thrown away with the cluster, and fsync on every
    write would make the API server's latency depend on the disk of a CI runner.
    """
    client = f"http://{LOOPBACK}:{ports.etcd_client}"
    peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
    return ProcessSpec(
        "etcd",
        [
            str(find_binary("etcd")),
            "--name=default",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--initial-cluster-state=new",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
    )


def apiserver(layout: Layout, ports: Ports, pki: Pki) -> ProcessSpec:
    """kube-apiserver with RBAC, service-account tokens and no kubelet to talk to."""
    return ProcessSpec(
        "kube-apiserver",
        [
            str(find_binary("kube-apiserver")),
            f"--etcd-servers=http://{LOOPBACK}:{ports.etcd_client}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={ports.apiserver}",
            f"--cert-dir={layout.certs}",
            f"--tls-cert-file={pki.admin_cert}",
            f"--tls-private-key-file={pki.admin_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_signing_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # No kubelets register as endpoints of the `kubernetes` Service here, and
            # the reconciler would otherwise fight over it with nothing to gain.
            "--endpoint-reconciler-type=none",
            # Trusting a front proxy nobody runs (no certificate has that CN) only
            # publishes the requestheader CA, which the controller manager and the
            # scheduler look up for their delegated authentication; without it they
            # log errors about a missing CA bundle.
            f"--requestheader-client-ca-file={pki.ca_cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
        ],
    )


def controller_manager(layout: Layout, ports: Ports, pki: Pki) -> ProcessSpec:
    """kube-controller-manager with every default controller and per-controller SAs.

    ``--use-service-account-credentials`` makes each controller act as its own service
    account, so the bootstrap RBAC roles (and their gaps) are exercised exactly as in a
    production cluster.
    """
    kubeconfig = str(layout.kubeconfig)
    return ProcessSpec(
        "kube-controller-manager",
        [
            str(find_binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports.controller_manager}",
            f"--cert-dir={layout.certs / 'controller-manager'}",
            "--leader-elect=false",
            f"--cluster-name={CLUSTER_NAME}",
            f"--root-ca-file={pki.ca_cert}",
            f"--service-account-private-key-file={pki.service_account_signing_key}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*",
            f"--kube-api-qps={CONTROLLER_QPS}",
            f"--kube-api-burst={CONTROLLER_BURST}",
            "--profiling=false",
            "--v=0",
        ],
    )


def scheduler(layout: Layout, ports: Ports) -> ProcessSpec:
    """kube-scheduler, configured by file: its --kubeconfig/--leader-elect flags are
    deprecated in favour of a KubeSchedulerConfiguration."""
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {
            "kubeconfig": str(layout.kubeconfig),
            "qps": CONTROLLER_QPS,
            "burst": CONTROLLER_BURST,
        },
        "leaderElection": {"leaderElect": False},
    }
    layout.scheduler_config.write_text(json.dumps(config, indent=2) + "\n")
    kubeconfig = str(layout.kubeconfig)
    return ProcessSpec(
        "kube-scheduler",
        [
            str(find_binary("kube-scheduler")),
            f"--config={layout.scheduler_config}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports.scheduler}",
            f"--cert-dir={layout.certs / 'scheduler'}",
            "--v=0",
        ],
    )


def kwok_controller(layout: Layout, ports: Ports) -> ProcessSpec:
    """KWOK managing only nodes annotated ``kwok.x-k8s.io/node=fake``.

    Its small HTTP server (healthz) is bound to a loopback port; without
    ``--server-address`` it would not serve at all and could not be probed.
    """
    kwok.write_config(layout.kwok_config)
    return ProcessSpec(
        "kwok",
        [
            str(find_binary("kwok")),
            f"--kubeconfig={layout.kubeconfig}",
            f"--config={layout.kwok_config}",
            f"--manage-nodes-with-annotation-selector={kwok.MANAGE_SELECTOR}",
            f"--cidr={kwok.POD_CIDR}",
            f"--node-ip={kwok.NODE_IP}",
            f"--node-lease-duration-seconds={kwok.NODE_LEASE_SECONDS}",
            f"--server-address={LOOPBACK}:{ports.kwok}",
        ],
    )
