"""Free loopback ports for the cluster's components.

Every component listens on 127.0.0.1 on a port the kernel picked, so several clusters
(or a developer's own services) can coexist on one machine without fixed ports.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return ``count`` distinct ports that were free a moment ago.

    All sockets are held open until every port is picked, so the kernel cannot hand out
    the same port twice. A port can still be taken between this call and the
    component binding it; the caller retries the start in that (rare) case.
    """
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
