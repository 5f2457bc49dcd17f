"""The ``http`` kind: one request through the shared aiohttp session.

This is the hot path (a benchmark compares probes per CPU-second with blackbox_exporter), so a
probe reuses pooled connections, reads no more body than it keeps, and builds its per-check
request settings once.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass
from time import monotonic
from typing import ClassVar
from urllib.parse import urlsplit

import aiohttp

from opsbook.checks.models import BODY_LIMIT_BYTES, Check, Observation
from opsbook.checks.probes._errors import connect_error, seconds, target, tls_verify_text
from opsbook.checks.probes._peer import peer_of
from opsbook.checks.probes._timing import Phases
from opsbook.checks.probes.base import ProbeContext
from opsbook.config.checks import HttpSpec

_PREPARED_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class _Prepared:
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    ssl: ssl.SSLContext | bool
    timeout_s: float


def _prepare(spec: HttpSpec, timeout_s: float) -> _Prepared:
    headers = dict(spec.headers)
    if spec.bearer_token is not None:
        headers["Authorization"] = f"Bearer {spec.bearer_token.reveal()}"
    if spec.basic_auth is not None:
        # RFC 7617 section 2.1: user-id ":" password, UTF-8, base64.
        pair = f"{spec.basic_auth.username}:{spec.basic_auth.password.reveal()}"
        headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
    context: ssl.SSLContext | bool = True
    if not spec.verify_tls:
        context = False
    elif spec.ca_file is not None:
        context = ssl.create_default_context(cafile=spec.ca_file)
    body = spec.body.encode() if spec.body is not None else None
    return _Prepared(spec.url, spec.method, headers, body, context, timeout_s)


async def read_capped(response: aiohttp.ClientResponse, limit: int = BODY_LIMIT_BYTES) -> bytes:
    """At most ``limit`` bytes of the body; the rest is never read (the connection is dropped)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class HttpProbe:
    kind: ClassVar[str] = "http"

    def __init__(self) -> None:
        # Each check's request settings are built once; the spec is kept to pin its id.
        self._prepared: dict[int, tuple[HttpSpec, float, _Prepared]] = {}

    def _prepared_for(self, spec: HttpSpec, timeout_s: float) -> _Prepared:
        cached = self._prepared.get(id(spec))
        if cached is not None and cached[0] is spec and cached[1] == timeout_s:
            return cached[2]
        prepared = _prepare(spec, timeout_s)
        if len(self._prepared) >= _PREPARED_LIMIT:
            # Config reloads leave old specs behind; start over rather than grow without bound.
            self._prepared.clear()
        self._prepared[id(spec)] = (spec, timeout_s, prepared)
        return prepared

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.http
        assert spec is not None, "probe_for dispatches on the kind"
        try:
            prepared = self._prepared_for(spec, check.spec.timeout.total_seconds())
        except (OSError, ssl.SSLError) as exc:
            return Observation(latency_ms=0.0, connected=False, error=_ca_error(spec, exc))
        session = await context.get_http()
        phases = Phases(monotonic())
        stage = "connect"
        try:
            async with asyncio.timeout(prepared.timeout_s):
                async with session.request(
                    prepared.method,
                    prepared.url,
                    headers=prepared.headers,
                    data=prepared.body,
                    allow_redirects=spec.follow_redirects,
                    ssl=prepared.ssl,
                    trace_request_ctx=phases,
                ) as response:
                    headers_at = monotonic()
                    stage = "body"
                    raw = await read_capped(response)
        except TimeoutError:
            return self._timed_out(spec, check, phases, stage, monotonic())
        except aiohttp.ClientError as exc:
            latency_ms = (monotonic() - phases.start) * 1000
            return Observation(
                latency_ms=latency_ms,
                connected=stage == "body" or bool(phases.connected or phases.reused),
                error=client_error(exc, spec.url, stage=stage),
            )
        done = monotonic()
        peer = peer_of(response)
        return Observation(
            latency_ms=(done - phases.start) * 1000,
            connected=True,
            status=response.status,
            headers=dict(response.headers),
            body=raw.decode("utf-8", errors="replace"),
            ip=peer.ip,
            certificate_expires_at=peer.certificate_expires_at,
            timings_ms=phases.timings_ms(headers_at),
        )

    def _timed_out(
        self, spec: HttpSpec, check: Check, phases: Phases, stage: str, now: float
    ) -> Observation:
        after = seconds(check.spec.timeout)
        connected = stage == "body" or bool(phases.connected or phases.reused)
        if stage == "body":
            error = f"timed out after {after} reading the response body"
        elif connected:
            error = f"timed out after {after} waiting for the response"
        elif phases.dns_start and not phases.dns_end:
            error = f"DNS: resolving {urlsplit(spec.url).hostname} timed out after {after}"
        else:
            error = f"connect to {target_of(spec.url)} timed out after {after}"
        return Observation(latency_ms=(now - phases.start) * 1000, connected=connected, error=error)


def target_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return target(parts.hostname or "", port)


def client_error(exc: aiohttp.ClientError, url: str, *, stage: str) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        text = (
            tls_verify_text(cert_error)
            if isinstance(cert_error, ssl.SSLCertVerificationError)
            else str(cert_error)
        )
        return f"TLS: {text} (connect to {target_of(url)})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        parts = urlsplit(url)
        port = exc.port or parts.port or (443 if parts.scheme == "https" else 80)
        return connect_error(exc.os_error, host=exc.host, port=port)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return f"too many redirects (stopped after {len(exc.history)})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{target_of(url)} closed the connection before answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"the response body from {target_of(url)} was cut short ({exc})"
    if isinstance(exc, aiohttp.ClientOSError):
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return connect_error(exc, host=parts.hostname or "", port=port)
    where = "reading the response body" if stage == "body" else "sending the request"
    return f"HTTP error while {where}: {exc or type(exc).__name__}"


def _ca_error(spec: HttpSpec, exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"TLS: cannot load ca_file {spec.ca_file} ({reason})"
