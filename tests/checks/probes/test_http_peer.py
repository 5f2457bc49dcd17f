"""[IP] and [CERTIFICATE_EXPIRATION] of an http check, judged as the scheduler judges them.

Each case runs on uvloop and on asyncio (conftest.py), twice in a row: on a new connection, then
on the pooled one (keep-alive) or a new one (the server closed the first). Issue 10: under
``opsbook serve`` (uvloop) both were always missing, and under asyncio they were lost whenever
the server closed the connection after answering.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from opsbook.checks.judge import judge
from opsbook.checks.models import Check, Observation, ProbeResult, State
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext
from opsbook.clock import FrozenClock

Start = Callable[[str, str], Awaitable[Any]]
MakeCheck = Callable[..., Check]
HANDLING = ["keep-alive", "close", "http/1.0"]


@pytest.fixture
async def clocked() -> AsyncIterator[ProbeContext]:
    """The scheduler's context: its clock is the one results are judged against."""
    context = ProbeContext(clock=FrozenClock())
    yield context
    await context.close()


async def _probe(check: Check, context: ProbeContext) -> tuple[Observation, ProbeResult]:
    # As Scheduler._probe_once does it: the clock's now when the probe starts is its time.
    started_at = context.clock.now()
    observation = await probe_for("http").run(check, context=context)
    return observation, judge(check, observation, started_at=started_at)


@pytest.mark.parametrize("handling", HANDLING)
async def test_ip_is_read_over_http_whatever_the_server_does_with_the_connection(
    handling: str, answering_server: Start, clocked: ProbeContext, make_check: MakeCheck
) -> None:
    server = await answering_server(handling, "http")
    check = make_check("http", {"url": f"{server.url}/health"}, conditions=["[IP] == 127.0.0.1"])
    for attempt in ("first probe", "second probe"):
        observation, result = await _probe(check, clocked)
        assert (observation.error, observation.status) == (None, 200), attempt
        assert observation.ip == "127.0.0.1", attempt
        assert observation.certificate_expires_at is None, attempt
        assert (result.state, result.failed_conditions) == (State.UP, ()), attempt


@pytest.mark.parametrize("handling", HANDLING)
async def test_ip_and_certificate_expiry_are_read_over_https_whatever_the_server_does(
    handling: str, answering_server: Start, pki: Any, clocked: ProbeContext, make_check: MakeCheck
) -> None:
    server = await answering_server(handling, "https")
    # Judged at the moment of issue, so 24 h remain exactly, whatever today is.
    clocked.clock = FrozenClock(server.certificate_issued_at)
    spec = {"url": f"{server.url}/health", "ca_file": str(pki.ca_file)}
    holds = make_check(
        "http", spec, conditions=["[IP] == 127.0.0.1", "[CERTIFICATE_EXPIRATION] > 12h"]
    )
    too_long = make_check("http", spec, conditions=["[CERTIFICATE_EXPIRATION] > 48h"])
    for attempt in ("first probe", "second probe"):
        observation, result = await _probe(holds, clocked)
        assert (observation.error, observation.status) == (None, 200), attempt
        assert observation.ip == "127.0.0.1", attempt
        assert observation.certificate_expires_at == server.certificate_expires_at, attempt
        assert (result.state, result.failed_conditions) == (State.UP, ()), attempt
        _, result = await _probe(too_long, clocked)
        assert result.state is State.DOWN, attempt
        assert result.failed_conditions == ("[CERTIFICATE_EXPIRATION] (24h) > 48h",), attempt


@pytest.mark.parametrize("handling", ["keep-alive", "http/1.0"])
async def test_with_verification_off_the_expiry_is_still_read(
    handling: str, answering_server: Start, clocked: ProbeContext, make_check: MakeCheck
) -> None:
    server = await answering_server(handling, "https")
    spec = {"url": f"{server.url}/", "verify_tls": False}
    observation, _ = await _probe(make_check("http", spec), clocked)
    assert (observation.error, observation.ip) == (None, "127.0.0.1")
    assert observation.certificate_expires_at == server.certificate_expires_at


async def test_after_a_redirect_the_peer_is_the_server_that_gave_the_final_answer(
    answering_server: Start, pki: Any, clocked: ProbeContext, make_check: MakeCheck
) -> None:
    first = await answering_server("keep-alive", "http")
    final = await answering_server("http/1.0", "https")
    spec = {"url": f"{first.url}/old?to={final.url}/health", "ca_file": str(pki.ca_file)}
    observation, _ = await _probe(make_check("http", spec), clocked)
    assert (observation.error, observation.status, observation.ip) == (None, 200, "127.0.0.1")
    assert observation.certificate_expires_at == final.certificate_expires_at
