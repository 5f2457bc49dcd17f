"""The probe extension point (STYLE.md R19): one class per kind, one ``run`` method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from opsbook.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import aiohttp

    from opsbook.checks.models import Check, Observation


@dataclass
class ProbeContext:
    """Shared resources for every probe in one scheduler: built once, closed once.

    ``http`` is the one aiohttp session all HTTP-based probes share (connection pooling and one
    DNS cache); it is created lazily by ``get_http()`` so kinds that never need it pay nothing.
    ``state`` is per-check memory that survives between probes of the same check (the metric
    kind keeps the previous scrape there to compute increases).
    """

    clock: Clock = SYSTEM_CLOCK
    http: aiohttp.ClientSession | None = None
    state: dict[str, object] = field(default_factory=dict)

    async def get_http(self) -> aiohttp.ClientSession:
        if self.http is None:
            import aiohttp

            from opsbook.checks.probes._peer import PeerConnector
            from opsbook.checks.probes._timing import trace_config

            # Per-request timeouts come from each check; the session sets none of its own.
            self.http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None),
                connector=PeerConnector(limit=0, ttl_dns_cache=10),
                auto_decompress=True,
                trace_configs=[trace_config()],
            )
        return self.http

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None


class Probe(Protocol):
    """Runs one check once.

    ``run`` returns an ``Observation`` and does not raise for anything the target does (refused,
    timed out, bad TLS, wrong answer): those are observations with ``error`` set, worded for the
    user. It must finish within ``check.spec.timeout``; the scheduler cancels it shortly after.
    """

    kind: ClassVar[str]

    async def run(self, check: Check, *, context: ProbeContext) -> Observation: ...
