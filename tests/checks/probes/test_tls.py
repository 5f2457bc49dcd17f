"""The tls probe against local TLS servers with trustme certificates: valid, expired, wrong host."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext

MakeCheck = Callable[..., Any]
HTTPS = Callable[[str], Awaitable[str]]


async def _probe(url: str, make_check: MakeCheck, context: ProbeContext, **extra: Any) -> Any:
    parts = urlsplit(url)
    spec = {"host": parts.hostname, "port": parts.port, **extra}
    return await probe_for("tls").run(make_check("tls", spec), context=context)


async def test_a_valid_certificate_reports_days_left_and_a_good_chain(
    https_url: HTTPS, pki: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await _probe(await https_url("valid"), make_check, context, ca_file=str(pki.ca_file))
    assert (obs.error, obs.connected, obs.ip) == (None, True, "127.0.0.1")
    assert obs.values["chain_valid"] is True
    assert obs.values["hostname_match"] is True
    assert "chain_error" not in obs.values
    assert obs.values["days_left"] == pytest.approx(2, abs=0.01)
    assert obs.certificate_expires_at is not None
    assert set(obs.timings_ms) == {"connect", "tls"}


async def test_an_expired_certificate_still_shakes_hands_and_says_why(
    https_url: HTTPS, pki: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await _probe(await https_url("expired"), make_check, context, ca_file=str(pki.ca_file))
    assert obs.error is None
    assert obs.values["chain_valid"] is False
    assert obs.values["chain_error"] == "certificate has expired"
    assert obs.values["days_left"] == pytest.approx(-1, abs=0.01)


async def test_a_certificate_for_another_host_does_not_match(
    https_url: HTTPS, pki: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await _probe(await https_url("wrong-host"), make_check, context, ca_file=str(pki.ca_file))
    assert obs.values["hostname_match"] is False
    assert obs.values["chain_valid"] is True


async def test_servername_is_what_the_hostname_is_matched_against(
    https_url: HTTPS, pki: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    url = await https_url("wrong-host")
    obs = await _probe(
        url, make_check, context, ca_file=str(pki.ca_file), servername="other.example"
    )
    assert obs.values["hostname_match"] is True


async def test_an_unknown_ca_is_an_invalid_chain_against_the_system_store(
    https_url: HTTPS, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await _probe(await https_url("valid"), make_check, context)
    assert obs.values["chain_valid"] is False
    assert obs.values["chain_error"] == "unable to get local issuer certificate"
    assert obs.values["hostname_match"] is True


async def test_no_handshake_is_an_error(
    closed_port: int, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await _probe(f"https://127.0.0.1:{closed_port}", make_check, context)
    assert obs.error == f"connect to 127.0.0.1:{closed_port} refused"
    assert obs.values == {}


async def test_a_plain_tcp_service_fails_the_handshake_in_words(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await _probe(http_url, make_check, context)
    assert obs.error is not None
    assert obs.error.startswith(f"TLS: handshake with {http_url.removeprefix('http://')} failed (")
