"""The tcp probe against a real listening socket and a port nothing listens on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext

MakeCheck = Callable[..., Any]


async def test_it_connects_and_reports_the_peer(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        check = make_check("tcp", {"host": "127.0.0.1", "port": port})
        obs = await probe_for("tcp").run(check, context=context)
    assert (obs.error, obs.connected, obs.ip) == (None, True, "127.0.0.1")
    assert obs.latency_ms == obs.timings_ms["connect"]
    assert 0 < obs.latency_ms < 2000


async def test_a_refused_connection_says_so(
    closed_port: int, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("tcp", {"host": "127.0.0.1", "port": closed_port})
    obs = await probe_for("tcp").run(check, context=context)
    assert obs.error == f"connect to 127.0.0.1:{closed_port} refused"
    assert obs.connected is False


async def test_an_ipv6_target_is_bracketed(
    closed_port: int, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("tcp", {"host": "::1", "port": closed_port})
    obs = await probe_for("tcp").run(check, context=context)
    # Where IPv6 is off, the kernel refuses differently; either way the target reads [::1]:port.
    assert obs.error is not None
    assert obs.error.startswith(f"connect to [::1]:{closed_port} ")


async def test_an_unresolvable_host_is_a_dns_error(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("tcp", {"host": "no-such-host.invalid", "port": 80}, timeout="5s")
    obs = await probe_for("tcp").run(check, context=context)
    assert obs.error is not None
    assert obs.error.startswith("DNS: cannot resolve no-such-host.invalid (")


async def test_a_connect_that_hangs_times_out_with_the_target_named(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed, so a connect hangs. Some sandboxes
    # answer it at once (refused, unreachable); every wording names the target, in time.
    check = make_check("tcp", {"host": "192.0.2.1", "port": 9}, timeout="300ms")
    obs = await probe_for("tcp").run(check, context=context)
    assert obs.error in {
        "connect to 192.0.2.1:9 timed out after 0.3s",
        "connect to 192.0.2.1:9 refused",
        "connect to 192.0.2.1:9 failed: network unreachable",
        "connect to 192.0.2.1:9 failed: host unreachable",
    }
    assert obs.latency_ms < 1000
