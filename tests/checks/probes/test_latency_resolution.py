"""Latency is measured to well under a millisecond on both loops.

uvloop's ``loop.time()`` counts whole milliseconds (libuv's clock), so probes timed with it
reported a local answer as 0 or 1 ms, and every latency under ``opsbook serve`` as a whole
number of milliseconds; probes time themselves with ``time.monotonic()`` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from opsbook.checks.models import Observation
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext

MakeCheck = Callable[..., Any]
PROBES = 5


def _whole_ms(value: float) -> bool:
    return abs(value - round(value)) < 1e-6


async def _observations(
    kind: str, spec: dict[str, Any], context: ProbeContext, make_check: MakeCheck
) -> list[Observation]:
    check = make_check(kind, spec)
    return [await probe_for(kind).run(check, context=context) for _ in range(PROBES)]


@pytest.mark.parametrize("kind", ["tcp", "http", "tls", "dns"])
async def test_latencies_are_not_whole_milliseconds(
    kind: str,
    http_url: str,
    https_url: Callable[[str], Awaitable[str]],
    pki: Any,
    dns_server: str,
    context: ProbeContext,
    make_check: MakeCheck,
) -> None:
    host_port = http_url.removeprefix("http://")
    if kind == "tcp":
        host, port = host_port.split(":")
        spec: dict[str, Any] = {"host": host, "port": int(port)}
    elif kind == "http":
        spec = {"url": f"{http_url}/json"}
    elif kind == "tls":
        host, port = (await https_url("valid")).removeprefix("https://").split(":")
        spec = {"host": host, "port": int(port), "ca_file": str(pki.ca_file)}
    else:
        spec = {"name": "app.test", "type": "A", "server": dns_server}
    observations = await _observations(kind, spec, context, make_check)
    assert all(o.error is None for o in observations), [o.error for o in observations]
    # One whole number by chance is possible; five in a row (to a microsecond) is not.
    latencies = [o.latency_ms for o in observations]
    assert not all(_whole_ms(latency) for latency in latencies), latencies
    timings = [value for o in observations for value in o.timings_ms.values()]
    assert kind == "dns" or not all(_whole_ms(value) for value in timings), timings
