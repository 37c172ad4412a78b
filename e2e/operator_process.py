"""The operator as its own process, the way it runs in a cluster.

e2e tests never import the controllers: they start ``mlops-operator run`` against the
session's cluster, talk to it only through the Kubernetes API, and may kill it (SIGKILL)
and start it again to prove that nothing is lost or done twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from localcluster.ports import free_ports
from localcluster.waiting import wait_for

REPO = Path(__file__).resolve().parent.parent


class OperatorProcess:
    """One ``mlops-operator run`` subprocess; logs go to ``log_path``."""

    def __init__(self, kubeconfig: str, log_path: Path, *args: str) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.health_port = 0

    def start(self) -> None:
        self.metrics_port, self.health_port = free_ports(2)
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_operator",
                "run",
                "--metrics-port",
                str(self.metrics_port),
                "--health-port",
                str(self.health_port),
                *self.args,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(self.healthy, 60, f"operator /healthz (log: {self.log_path})")

    def healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"the operator exited; see {self.log_path}")
        try:
            url = f"http://127.0.0.1:{self.health_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a node dies."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
