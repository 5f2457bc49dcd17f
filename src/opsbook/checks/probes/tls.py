"""The ``tls`` kind: handshake with host:port and report on the certificate.

Values: ``days_left`` (float, negative once expired), ``hostname_match``, ``chain_valid``, and
``chain_error`` (OpenSSL's reason) when the chain does not verify. A bad certificate is a value,
not an error: the error is set only when no handshake happened at all. The first handshake
verifies the chain; only when that fails is a second, unverified one made to read the
certificate anyway.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import datetime
from functools import lru_cache
from time import monotonic
from typing import ClassVar

from opsbook.checks.models import Check, Observation, Value
from opsbook.checks.probes import _certs
from opsbook.checks.probes._errors import connect_error, seconds, target, tls_verify_text
from opsbook.checks.probes.base import ProbeContext
from opsbook.config.checks import TlsSpec

_UNVERIFIED = ssl.create_default_context()
_UNVERIFIED.check_hostname = False
_UNVERIFIED.verify_mode = ssl.CERT_NONE


@lru_cache(maxsize=64)
def _verifying(ca_file: str | None) -> ssl.SSLContext:
    # Loading the system trust store costs milliseconds of CPU: once per CA file, not per probe.
    context = ssl.create_default_context(cafile=ca_file)
    # Hostname is judged separately (hostname_match) so that a mismatch still shows the chain.
    context.check_hostname = False
    return context


class _Handshake:
    __slots__ = ("der", "expires", "ip", "tcp_ms", "tls_ms")

    def __init__(self) -> None:
        self.der: bytes | None = None
        self.expires: datetime | None = None
        self.ip: str | None = None
        self.tcp_ms = 0.0
        self.tls_ms = 0.0


async def _handshake(spec: TlsSpec, context: ssl.SSLContext) -> _Handshake:
    loop = asyncio.get_running_loop()
    out = _Handshake()
    started = monotonic()
    transport, protocol = await loop.create_connection(asyncio.Protocol, spec.host, spec.port)
    try:
        connected = monotonic()
        out.tcp_ms = (connected - started) * 1000
        peer = transport.get_extra_info("peername")
        out.ip = peer[0] if peer else None
        tls = await loop.start_tls(
            transport, protocol, context, server_hostname=spec.servername or spec.host
        )
        assert tls is not None, "start_tls returns the new transport"
        transport = tls
        out.tls_ms = (monotonic() - connected) * 1000
        ssl_object = tls.get_extra_info("ssl_object")
        out.der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        out.expires = _certs.expires_at(ssl_object)
    finally:
        transport.abort()
    return out


class TlsProbe:
    kind: ClassVar[str] = "tls"

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.tls
        assert spec is not None, "probe_for dispatches on the kind"
        started = monotonic()
        values: dict[str, Value] = {}
        try:
            verifying = _verifying(spec.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            error = f"TLS: cannot load ca_file {spec.ca_file} ({reason})"
            return Observation(latency_ms=0.0, connected=False, error=error)
        try:
            async with asyncio.timeout(check.spec.timeout.total_seconds()):
                try:
                    shake = await _handshake(spec, verifying)
                    values["chain_valid"] = True
                except ssl.SSLCertVerificationError as exc:
                    values["chain_valid"] = False
                    values["chain_error"] = tls_verify_text(exc)
                    shake = await _handshake(spec, _UNVERIFIED)
        except TimeoutError:
            error = f"TLS: handshake with {target(spec.host, spec.port)} timed out after "
            return Observation(
                latency_ms=(monotonic() - started) * 1000,
                connected=False,
                error=error + seconds(check.spec.timeout),
            )
        except (OSError, ssl.SSLError) as exc:
            return Observation(
                latency_ms=(monotonic() - started) * 1000,
                connected=False,
                error=connect_error(exc, host=spec.host, port=spec.port),
            )
        latency_ms = (monotonic() - started) * 1000
        values["hostname_match"] = _certs.hostname_matches(shake.der, spec.servername or spec.host)
        if shake.expires is not None:
            left = shake.expires - context.clock.now()
            values["days_left"] = left.total_seconds() / 86400
        return Observation(
            latency_ms=latency_ms,
            connected=True,
            ip=shake.ip,
            certificate_expires_at=shake.expires,
            timings_ms={"connect": shake.tcp_ms, "tls": shake.tls_ms},
            values=values,
        )
