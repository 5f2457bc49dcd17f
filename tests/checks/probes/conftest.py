"""Real targets for the network probes: HTTP(S) services with fault endpoints, a DNS server.

Everything listens on 127.0.0.1 port 0, so tests run in parallel without clashing. Every async
test here runs twice: on uvloop, the loop ``opsbook serve`` runs its probes on, and on plain
asyncio (the fallback where uvloop is not installed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import pytest
import trustme
import uvloop
from aiohttp import web

from opsbook.checks.models import BODY_LIMIT_BYTES, Check
from opsbook.checks.probes.base import ProbeContext
from opsbook.config import CheckSpec

BIG_BODY = b"x" * (BODY_LIMIT_BYTES * 4)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    # The loop matters: uvloop's transports are not asyncio.Transport instances and a probe
    # that assumed they were read no peer address under `opsbook serve` (issue 10).
    return {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


def _make_check(kind: str, spec: dict[str, Any], **common: Any) -> Check:
    return Check(id=f"test-{kind}", spec=CheckSpec.model_validate({kind: spec, **common}))


MakeCheck = Callable[..., Check]


@pytest.fixture
def make_check() -> MakeCheck:
    """``make_check(kind, spec, **common)``: a ``Check`` validated like the config file's."""
    return _make_check


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status body")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(int(request.query.get("ms", "1000")) / 1000)
    return web.Response(text="slow")


async def _slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"first")
    await asyncio.sleep(int(request.query.get("ms", "1000")) / 1000)
    await response.write(b"second")
    return response


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/json")


async def _json(request: web.Request) -> web.Response:
    return web.json_response({"status": "UP", "data": [1, 2]}, headers={"X-Probe": "yes"})


async def _echo(request: web.Request) -> web.Response:
    payload = {
        "method": request.method,
        "headers": dict(request.headers),
        "body": await request.text(),
    }
    return web.Response(text=json.dumps(payload), content_type="application/json")


async def _drop(request: web.Request) -> web.Response:
    # What a crashed backend looks like: the connection closes with no answer.
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=BIG_BODY)


def fault_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/slow-body", _slow_body)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/json", _json)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/big", _big)
    app.router.add_get("/drop", _drop)
    return app


async def serve(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner


def base_url(runner: web.AppRunner, scheme: str = "http") -> str:
    host, port = runner.addresses[0][:2]
    return f"{scheme}://{host}:{port}"


@pytest.fixture
async def context() -> AsyncIterator[ProbeContext]:
    ctx = ProbeContext()
    yield ctx
    await ctx.close()


@pytest.fixture
async def http_url() -> AsyncIterator[str]:
    runner = await serve(fault_app())
    yield base_url(runner)
    await runner.cleanup()


@dataclass
class Pki:
    ca: trustme.CA
    ca_file: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, ca_file)


LeafKind = str  # "valid" (2 days left), "expired", "wrong-host"


def issue(pki: Pki, kind: LeafKind) -> trustme.LeafCert:
    now = dt.datetime.now(dt.UTC)
    if kind == "valid":
        return pki.ca.issue_cert("127.0.0.1", "localhost", not_after=now + dt.timedelta(days=2))
    if kind == "expired":
        return pki.ca.issue_cert(
            "127.0.0.1",
            "localhost",
            not_before=now - dt.timedelta(days=10),
            not_after=now - dt.timedelta(days=1),
        )
    return pki.ca.issue_cert("other.example", not_after=now + dt.timedelta(days=30))


@pytest.fixture
async def https_url(pki: Pki) -> AsyncIterator[Callable[[LeafKind], Awaitable[str]]]:
    """Start an HTTPS fault service whose certificate is of the given kind; returns its URL."""
    runners: list[web.AppRunner] = []

    async def start(kind: LeafKind) -> str:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        issue(pki, kind).configure_cert(server_context)
        runner = await serve(fault_app(), ssl_context=server_context)
        runners.append(runner)
        return base_url(runner, "https")

    yield start
    for runner in runners:
        await runner.cleanup()


class _DnsServer(asyncio.DatagramProtocol):
    """Answers A queries for ``records`` names; NXDOMAIN for any other name."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        if name in self.records:
            rrset = dns.rrset.from_text_list(name, 60, "IN", "A", self.records[name])
            if question.rdtype == rrset.rdtype:
                response.answer.append(rrset)
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


DNS_RECORDS = {"app.test.": ["10.0.0.7", "10.0.0.5"]}


@pytest.fixture
async def dns_server() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _DnsServer(DNS_RECORDS), local_addr=("127.0.0.1", 0)
    )
    host, port = transport.get_extra_info("sockname")[:2]
    yield f"{host}:{port}"
    transport.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that was just bound and released, so nothing listens on it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


@dataclass
class Demo:
    url: str
    state: Any


@pytest.fixture
async def demo() -> AsyncIterator[Demo]:
    """The bundled demo service (``opsbook.demo``), with its fault state reachable."""
    from opsbook.demo import DemoState, create_demo_app

    state = DemoState()
    runner = await serve(create_demo_app(state))
    yield Demo(base_url(runner), state)
    await runner.cleanup()


@dataclass
class Answering:
    url: str
    certificate_issued_at: dt.datetime
    """The https side's certificate is valid from here, in whole seconds as certificates are..."""
    certificate_expires_at: dt.datetime
    """... to exactly 24 hours later."""


CONNECTION_HANDLING = ("keep-alive", "close", "http/1.0")


async def _ok(request: web.Request) -> web.Response:
    if "to" in request.query:
        raise web.HTTPFound(request.query["to"])
    return web.Response(text="ok")


async def _closing_ok(request: web.Request) -> web.Response:
    response = await _ok(request)
    response.force_close()
    return response


async def _answer_http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass  # the client went away; nothing to answer
    finally:
        writer.close()


@pytest.fixture
async def answering_server(
    pki: Pki,
) -> AsyncIterator[Callable[[str, str], Awaitable[Answering]]]:
    """``start(handling, scheme)``: a server answering 200 ``ok`` on every path, over ``http``
    or ``https`` (``?to=URL``: a 302 to URL, except for ``http/1.0``). After answering it keeps
    the connection for the next request (``keep-alive``), closes it after an HTTP/1.1 answer with
    ``Connection: close`` (``close``), or answers HTTP/1.0 and closes it (``http/1.0``), as a bare
    server or a proxy without keep-alive does.
    """
    runners: list[web.AppRunner] = []
    servers: list[asyncio.Server] = []
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
    expires = issued + dt.timedelta(hours=24)
    leaf = pki.ca.issue_cert("127.0.0.1", not_before=issued, not_after=expires)

    async def start(handling: str, scheme: str) -> Answering:
        assert handling in CONNECTION_HANDLING and scheme in ("http", "https")
        server_context = None
        if scheme == "https":
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf.configure_cert(server_context)
        if handling == "http/1.0":
            server = await asyncio.start_server(_answer_http10, "127.0.0.1", 0, ssl=server_context)
            servers.append(server)
            port = server.sockets[0].getsockname()[1]
            return Answering(f"{scheme}://127.0.0.1:{port}", issued, expires)
        app = web.Application()
        app.router.add_get("/{tail:.*}", _ok if handling == "keep-alive" else _closing_ok)
        runner = await serve(app, ssl_context=server_context)
        runners.append(runner)
        return Answering(base_url(runner, scheme), issued, expires)

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
    for runner in runners:
        await runner.cleanup()
