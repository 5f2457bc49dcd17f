"""Words for what went wrong, shared by the network probes: the user reads these, not exceptions.

Every message names the target and the phase (``connect to 10.0.0.5:5432 timed out after 5s``),
never a bare exception class (``TimeoutError()``).
"""

from __future__ import annotations

import errno
import socket
import ssl
from datetime import timedelta

_CONNECT_ERRNOS = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "failed: host unreachable",
    errno.ENETUNREACH: "failed: network unreachable",
    errno.ECONNRESET: "reset by the peer",
    errno.ETIMEDOUT: "timed out",
}


def seconds(value: timedelta) -> str:
    """``timedelta(seconds=5)`` -> ``"5s"``, ``timedelta(milliseconds=1500)`` -> ``"1.5s"``."""
    return f"{value.total_seconds():g}s"


def target(host: str, port: int) -> str:
    # IPv6 literals need brackets, or the port reads as part of the address.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_error(exc: BaseException, *, host: str, port: int) -> str:
    """A failure to open a connection to ``host:port``, as a sentence."""
    where = target(host, port)
    if isinstance(exc, socket.gaierror):
        return f"DNS: cannot resolve {host} ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {tls_verify_text(exc)} (connect to {where})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: handshake with {where} failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNOS:
        return f"connect to {where} {_CONNECT_ERRNOS[exc.errno]}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"connect to {where} failed: {exc.strerror}"
    return f"connect to {where} failed: {exc or type(exc).__name__}"


def tls_verify_text(exc: ssl.SSLCertVerificationError) -> str:
    """OpenSSL's verification message without its ``[SSL: ...]`` prefix and source location."""
    message = exc.verify_message or exc.reason or str(exc)
    return str(message).rstrip(".")
