"""The ``tcp`` kind: can a connection be opened, how fast, and to which address."""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import ClassVar

from opsbook.checks.models import Check, Observation
from opsbook.checks.probes._errors import connect_error, seconds, target
from opsbook.checks.probes.base import ProbeContext


class TcpProbe:
    kind: ClassVar[str] = "tcp"

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.tcp
        assert spec is not None, "probe_for dispatches on the kind"
        loop = asyncio.get_running_loop()
        started = monotonic()
        try:
            async with asyncio.timeout(check.spec.timeout.total_seconds()):
                transport, _ = await loop.create_connection(asyncio.Protocol, spec.host, spec.port)
        except TimeoutError:
            error = f"connect to {target(spec.host, spec.port)} timed out after "
            return Observation(
                latency_ms=(monotonic() - started) * 1000,
                connected=False,
                error=error + seconds(check.spec.timeout),
            )
        except OSError as exc:
            return Observation(
                latency_ms=(monotonic() - started) * 1000,
                connected=False,
                error=connect_error(exc, host=spec.host, port=spec.port),
            )
        latency_ms = (monotonic() - started) * 1000
        peer = transport.get_extra_info("peername")
        transport.close()
        return Observation(
            latency_ms=latency_ms,
            connected=True,
            ip=peer[0] if peer else None,
            timings_ms={"connect": latency_ms},
        )
