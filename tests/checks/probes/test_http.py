"""The http probe against an in-process service with fault endpoints, over HTTP and HTTPS."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsbook.checks.models import BODY_LIMIT_BYTES
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext

HTTPS = Callable[[str], Awaitable[str]]
MakeCheck = Callable[..., Any]


async def test_it_records_status_headers_body_ip_and_timings(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await probe_for("http").run(
        make_check("http", {"url": f"{http_url}/json"}), context=context
    )
    assert obs.error is None
    assert (obs.status, obs.connected, obs.ip) == (200, True, "127.0.0.1")
    assert json.loads(obs.body or "") == {"status": "UP", "data": [1, 2]}
    assert obs.headers["X-Probe"] == "yes"
    assert set(obs.timings_ms) == {"connect", "first_byte"}
    assert 0 < obs.latency_ms < 5000
    assert obs.certificate_expires_at is None


async def test_a_pooled_connection_reports_only_first_byte(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("http", {"url": f"{http_url}/json"})
    await probe_for("http").run(check, context=context)
    obs = await probe_for("http").run(check, context=context)
    assert set(obs.timings_ms) == {"first_byte"}


@pytest.mark.parametrize("code", [204, 404, 500, 503])
async def test_an_error_status_is_an_answer_not_an_error(
    code: int, http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("http", {"url": f"{http_url}/status/{code}"})
    obs = await probe_for("http").run(check, context=context)
    assert (obs.status, obs.error, obs.connected) == (code, None, True)


async def test_it_sends_method_headers_body_and_bearer_token(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    spec = {
        "url": f"{http_url}/echo",
        "method": "POST",
        "headers": {"X-Team": "core"},
        "body": '{"ping": 1}',
        "bearer_token": "tok-123",
    }
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    echoed = json.loads(obs.body or "")
    assert echoed["method"] == "POST"
    assert echoed["body"] == '{"ping": 1}'
    assert echoed["headers"]["X-Team"] == "core"
    assert echoed["headers"]["Authorization"] == "Bearer tok-123"


async def test_it_sends_basic_auth(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    spec = {"url": f"{http_url}/echo", "basic_auth": {"username": "ops", "password": "pw"}}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert json.loads(obs.body or "")["headers"]["Authorization"] == "Basic b3BzOnB3"


@pytest.mark.parametrize(("follow", "status"), [(True, 200), (False, 302)])
async def test_it_follows_redirects_only_when_asked(
    follow: bool, status: int, http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    spec = {"url": f"{http_url}/redirect", "follow_redirects": follow}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert obs.status == status


async def test_it_keeps_at_most_the_body_limit(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await probe_for("http").run(
        make_check("http", {"url": f"{http_url}/big"}), context=context
    )
    assert obs.body == "x" * BODY_LIMIT_BYTES


async def test_a_slow_answer_times_out_waiting_for_the_response(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("http", {"url": f"{http_url}/slow?ms=3000"}, timeout="300ms")
    obs = await probe_for("http").run(check, context=context)
    assert obs.error == "timed out after 0.3s waiting for the response"
    assert obs.connected is True
    assert 250 < obs.latency_ms < 1500


async def test_a_stalled_body_times_out_reading_it(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("http", {"url": f"{http_url}/slow-body?ms=3000"}, timeout="300ms")
    obs = await probe_for("http").run(check, context=context)
    assert obs.error == "timed out after 0.3s reading the response body"


async def test_a_refused_connection_says_so(
    closed_port: int, context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("http", {"url": f"http://127.0.0.1:{closed_port}/"})
    obs = await probe_for("http").run(check, context=context)
    assert obs.error == f"connect to 127.0.0.1:{closed_port} refused"
    assert obs.connected is False
    assert obs.status is None


async def test_an_unresolvable_host_is_a_dns_error(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("http", {"url": "http://no-such-host.invalid/"}, timeout="5s")
    obs = await probe_for("http").run(check, context=context)
    assert obs.error is not None
    assert obs.error.startswith("DNS: cannot resolve no-such-host.invalid (")


async def test_https_with_a_trusted_certificate_reports_expiry_and_tls(
    https_url: HTTPS, pki: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    url = await https_url("valid")
    spec = {"url": f"{url}/json", "ca_file": str(pki.ca_file)}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert (obs.error, obs.status) == (None, 200)
    assert obs.certificate_expires_at is not None
    left = obs.certificate_expires_at - datetime.now(UTC)
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)


async def test_https_against_the_system_store_rejects_an_unknown_ca(
    https_url: HTTPS, context: ProbeContext, make_check: MakeCheck
) -> None:
    url = await https_url("valid")
    obs = await probe_for("http").run(make_check("http", {"url": f"{url}/json"}), context=context)
    host_port = url.removeprefix("https://")
    assert obs.error == (f"TLS: unable to get local issuer certificate (connect to {host_port})")


async def test_an_expired_certificate_is_named(
    https_url: HTTPS, pki: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    url = await https_url("expired")
    spec = {"url": f"{url}/json", "ca_file": str(pki.ca_file)}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert obs.error == f"TLS: certificate has expired (connect to {url.removeprefix('https://')})"


async def test_a_wrong_hostname_is_named(
    https_url: HTTPS, pki: Any, context: ProbeContext, make_check: MakeCheck
) -> None:
    url = await https_url("wrong-host")
    spec = {"url": f"{url}/json", "ca_file": str(pki.ca_file)}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert obs.error == (
        "TLS: IP address mismatch, certificate is not valid for '127.0.0.1' "
        f"(connect to {url.removeprefix('https://')})"
    )


async def test_verify_off_accepts_an_expired_certificate_and_still_reads_its_expiry(
    https_url: HTTPS, context: ProbeContext, make_check: MakeCheck
) -> None:
    url = await https_url("expired")
    spec = {"url": f"{url}/json", "verify_tls": False}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert (obs.error, obs.status) == (None, 200)
    assert obs.certificate_expires_at is not None
    assert obs.certificate_expires_at < datetime.now(UTC)


async def test_a_missing_ca_file_is_an_error_naming_it(
    http_url: str, tmp_path: object, context: ProbeContext, make_check: MakeCheck
) -> None:
    spec = {"url": f"{http_url}/json", "ca_file": "/nonexistent/ca.pem"}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert obs.error == "TLS: cannot load ca_file /nonexistent/ca.pem (No such file or directory)"


async def test_the_token_never_appears_in_errors(
    closed_port: int, context: ProbeContext, make_check: MakeCheck
) -> None:
    spec = {"url": f"http://127.0.0.1:{closed_port}/", "bearer_token": "sekrit-token"}
    obs = await probe_for("http").run(make_check("http", spec), context=context)
    assert "sekrit-token" not in repr(obs)


async def test_a_name_lookup_is_timed_as_dns(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    url = http_url.replace("127.0.0.1", "localhost")
    obs = await probe_for("http").run(make_check("http", {"url": f"{url}/json"}), context=context)
    assert obs.error is None
    assert set(obs.timings_ms) == {"dns", "connect", "first_byte"}
    assert all(v >= 0 for v in obs.timings_ms.values())


async def test_a_dropped_connection_says_the_server_closed_it(
    http_url: str, context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await probe_for("http").run(
        make_check("http", {"url": f"{http_url}/drop"}), context=context
    )
    assert obs.error == f"{http_url.removeprefix('http://')} closed the connection before answering"
    assert obs.status is None
