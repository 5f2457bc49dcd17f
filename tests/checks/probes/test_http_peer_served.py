"""[IP] and [CERTIFICATE_EXPIRATION] through a real ``opsbook serve`` (uvloop), read back from
its API: the path issue 10 found broken, against servers that keep the connection (HTTP/1.1)
and that close it after answering (HTTP/1.0), over http and https."""

from __future__ import annotations

import datetime as dt
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from serving import Server, api_token

pytestmark = pytest.mark.slow

WAIT_S = 30.0


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 is BaseHTTPRequestHandler's default: answer, then close the connection.
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


@pytest.fixture
def start_target() -> Iterator[
    Callable[[type[BaseHTTPRequestHandler], ssl.SSLContext | None], str]
]:
    """``start(handler, tls)``: a threaded server on a free port; returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        scheme = "https" if tls is not None else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _last_two(server: Server, check_id: str) -> list[dict[str, Any]]:
    status, body = server.request_json("GET", f"/api/v1/checks/{check_id}/results?limit=2")
    assert status == 200, body
    results: list[dict[str, Any]] = body["results"]
    return results


def test_a_served_https_check_reads_the_peer_address_and_certificate(
    serve: Callable[..., Server],
    sqlite_url: str,
    start_target: Callable[[type[BaseHTTPRequestHandler], ssl.SSLContext | None], str],
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    now = dt.datetime.now(dt.UTC)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=now + dt.timedelta(hours=24)).configure_cert(tls)
    urls = {
        "plain-closing": start_target(_Handler, None),
        "tls-closing": start_target(_Handler, tls),
        "tls-keep-alive": start_target(_KeepAliveHandler, tls),
        "tls-too-long": start_target(_KeepAliveHandler, tls),
    }
    conditions = {
        "plain-closing": ["[STATUS] == 200", "[IP] == 127.0.0.1"],
        "tls-closing": ["[IP] == 127.0.0.1", "[CERTIFICATE_EXPIRATION] > 12h"],
        "tls-keep-alive": ["[IP] == 127.0.0.1", "[CERTIFICATE_EXPIRATION] > 12h"],
        "tls-too-long": ["[CERTIFICATE_EXPIRATION] > 48h"],
    }
    lines = ["service: t", "checks:"]
    for check_id, url in urls.items():
        lines += [
            f"  {check_id}:",
            f"    http: {{url: '{url}/health', ca_file: '{ca_file}'}}"
            if url.startswith("https")
            else f"    http: {{url: '{url}/health'}}",
            "    every: 1s",
            "    timeout: 900ms",
            "    conditions:",
            *(f"      - '{c}'" for c in conditions[check_id]),
        ]
    server = serve("\n".join(lines) + "\n", database_url=sqlite_url)
    server.token = api_token(sqlite_url)  # /api/v1 needs a role (issue 12)

    deadline = time.monotonic() + WAIT_S
    # Two results each: the first probe of a check opens a connection; the second reuses it
    # (keep-alive) or opens another (the server closed the first).
    results: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        results = {check_id: _last_two(server, check_id) for check_id in urls}
        if all(len(r) == 2 for r in results.values()):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"not two results for every check within {WAIT_S}s: {results}")

    for check_id in ("plain-closing", "tls-closing", "tls-keep-alive"):
        for result in results[check_id]:
            got = (result["state"], result["error"], result["failed_conditions"])
            assert got == ("up", None, []), (check_id, result)
    for result in results["tls-too-long"]:
        assert result["state"] == "down", result
        [failed] = result["failed_conditions"]
        # The real time left, not (0s): issued for 24 h, probed moments later.
        assert re.fullmatch(r"\[CERTIFICATE_EXPIRATION\] \(23h5\dm\d+s\) > 48h", failed), failed
    status, body = server.request_json("GET", "/api/v1/checks/tls-keep-alive")
    assert (status, body["state"]) == (200, "up")
