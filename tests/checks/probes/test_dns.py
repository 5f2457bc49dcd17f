"""The dns probe against an in-process UDP DNS server (A records for app.test, else NXDOMAIN)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from opsbook.checks import State
from opsbook.checks.judge import judge
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext

MakeCheck = Callable[..., Any]


async def test_it_resolves_and_reports_sorted_answers(
    dns_server: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("dns", {"name": "app.test", "server": dns_server})
    obs = await probe_for("dns").run(check, context=context)
    assert (obs.error, obs.connected, obs.dns_rcode) == (None, True, "NOERROR")
    assert obs.body == "10.0.0.5,10.0.0.7"
    assert obs.ip in {"10.0.0.5", "10.0.0.7"}  # the first in the reply, in wire order
    assert obs.latency_ms > 0


async def test_an_unknown_name_is_nxdomain_and_down_by_default(
    dns_server: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("dns", {"name": "example.invalid", "server": dns_server})
    obs = await probe_for("dns").run(check, context=context)
    assert (obs.error, obs.dns_rcode, obs.body, obs.connected) == (None, "NXDOMAIN", "", True)
    result = judge(check, obs, started_at=datetime.now(UTC))
    assert result.state is State.DOWN
    assert result.failed_conditions == (
        "[DNS_RCODE] (NXDOMAIN) == NOERROR",
        "has([BODY]) (false) == true",
    )


async def test_a_pasted_gatus_nxdomain_condition_can_hold(
    dns_server: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check(
        "dns",
        {"name": "example.invalid", "server": dns_server},
        conditions=["[DNS_RCODE] == NXDOMAIN"],
    )
    obs = await probe_for("dns").run(check, context=context)
    assert judge(check, obs, started_at=datetime.now(UTC)).state is State.UP


async def test_no_record_of_that_type_is_an_empty_noerror_and_down_by_default(
    dns_server: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("dns", {"name": "app.test", "type": "AAAA", "server": dns_server})
    obs = await probe_for("dns").run(check, context=context)
    assert (obs.error, obs.dns_rcode, obs.body) == (None, "NOERROR", "")
    result = judge(check, obs, started_at=datetime.now(UTC))
    assert result.failed_conditions == ("has([BODY]) (false) == true",)


@pytest.mark.parametrize(
    ("expect", "error"),
    [
        (["10.0.0.5"], None),
        (["10.0.0.5", "10.0.0.7"], None),
        (["10.0.0.9"], "DNS: app.test A lacks 10.0.0.9 (got 10.0.0.5, 10.0.0.7)"),
        (
            ["10.0.0.9", "10.0.0.5", "10.0.0.8"],
            "DNS: app.test A lacks 10.0.0.9, 10.0.0.8 (got 10.0.0.5, 10.0.0.7)",
        ),
    ],
)
async def test_expect_names_every_missing_answer(
    expect: list[str],
    error: str | None,
    dns_server: str,
    context: ProbeContext,
    make_check: MakeCheck,
) -> None:
    check = make_check("dns", {"name": "app.test", "server": dns_server, "expect": expect})
    obs = await probe_for("dns").run(check, context=context)
    assert obs.error == error


async def test_a_silent_server_times_out_with_the_question_named(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    import socket

    # A bound UDP socket that never answers: the query is delivered and ignored.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        server = f"127.0.0.1:{port}"
        check = make_check("dns", {"name": "app.test", "server": server}, timeout="300ms")
        obs = await probe_for("dns").run(check, context=context)
    assert obs.error == f"DNS: no reply for app.test A at {server} within 0.3s"
    assert obs.connected is False
    assert 250 < obs.latency_ms < 1500


@pytest.mark.parametrize(
    ("server", "accepted"),
    [
        ("1.1.1.1", True),
        ("127.0.0.1:5353", True),
        ("::1", True),
        ("[::1]:5353", True),
        ("[::1]", True),
        ("dns.example", False),
        ("1.1.1.1:0", False),
        ("1.1.1.1:dns", False),
        ("[::1]:99999", False),
    ],
)
def test_the_server_address_is_checked_at_load(
    server: str, accepted: bool, make_check: MakeCheck
) -> None:
    spec = {"name": "app.test", "server": server}
    if accepted:
        assert make_check("dns", spec).spec.dns.server == server
        return
    message = f"{server!r} is not a DNS server address (use an IP, ip:port or [ipv6]:port)"
    with pytest.raises(ValueError, match=re.escape(message)):
        make_check("dns", spec)
