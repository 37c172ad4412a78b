"""HTTP health probes for the components (/health, /readyz, /healthz).

A process that is running is not necessarily serving; bringing the cluster up waits on
each component's own health endpoint before starting what depends on it.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

from localcluster.certs import Pki


def admin_tls_context(pki: Pki) -> ssl.SSLContext:
    """TLS context that trusts our CA and presents the admin client certificate.

    The API server's /readyz needs an authorised caller until RBAC bootstrapping has
    finished; the admin certificate (group system:masters) is always allowed.
    """
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return ctx


def insecure_tls_context() -> ssl.SSLContext:
    """For the controller-manager's and scheduler's self-signed serving certs.

    Only their /healthz is probed, on loopback, and it carries no secrets.
    """
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def get(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> str | None:
    """The body of a 200 response from ``url``, or None on any error or other status."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as resp:
            if resp.status != 200:
                return None
            return str(resp.read().decode("utf-8", errors="replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def is_healthy(url: str, context: ssl.SSLContext | None = None) -> bool:
    """Whether ``url`` answers 200 (the body of Kubernetes health endpoints is "ok")."""
    return get(url, context) is not None
