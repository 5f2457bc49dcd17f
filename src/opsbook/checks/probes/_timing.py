"""Where an HTTP probe's time went: DNS, connect and first byte, from aiohttp trace signals.

aiohttp creates a connection (TCP and TLS handshake) in one step with no signal in between, so
``connect`` includes the TLS handshake for https; the ``tls`` kind measures the handshake alone.
Each request passes a fresh ``Phases`` as ``trace_request_ctx``; a pooled connection fires none
of these signals, so its phases stay unset and only ``first_byte`` is reported.
"""

from __future__ import annotations

from time import monotonic
from types import SimpleNamespace

import aiohttp


class Phases:
    """``time.monotonic()`` readings of one request's phases (not ``loop.time()``: uvloop's counts
    whole milliseconds); unset phases stay ``0.0``."""

    __slots__ = ("connected", "dns_end", "dns_start", "reused", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.dns_start = 0.0
        self.dns_end = 0.0
        self.connected = 0.0
        self.reused = 0.0

    def timings_ms(self, headers_at: float) -> dict[str, float]:
        """Milliseconds per phase; ``first_byte`` runs from the connection being ready."""
        out: dict[str, float] = {}
        if self.dns_end:
            out["dns"] = (self.dns_end - self.dns_start) * 1000
        if self.connected:
            out["connect"] = (self.connected - (self.dns_end or self.start)) * 1000
        out["first_byte"] = (headers_at - (self.connected or self.reused or self.start)) * 1000
        return out


def _phases(params: SimpleNamespace) -> Phases | None:
    ctx = params.trace_request_ctx
    return ctx if isinstance(ctx, Phases) else None


async def _dns_start(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (phases := _phases(ctx)) is not None:
        phases.dns_start = monotonic()


async def _dns_end(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (phases := _phases(ctx)) is not None:
        phases.dns_end = monotonic()


async def _created(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (phases := _phases(ctx)) is not None:
        phases.connected = monotonic()


async def _reused(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (phases := _phases(ctx)) is not None:
        phases.reused = monotonic()


def trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_dns_resolvehost_start.append(_dns_start)
    config.on_dns_resolvehost_end.append(_dns_end)
    config.on_connection_create_end.append(_created)
    config.on_connection_reuseconn.append(_reused)
    config.freeze()
    return config
