"""Who answered an HTTP probe: the peer address and certificate expiry of each pooled connection.

They are read once, when the connector hands out a connection it has just made, and kept on
that connection's protocol, because after the response the probe cannot read them reliably:
aiohttp releases the connection as soon as a small body has arrived, a server that closes the
connection (HTTP/1.0, ``Connection: close``) has already torn the transport down, and uvloop's
transports are not ``asyncio.Transport`` instances at all. Reused connections cost one
attribute read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

import aiohttp

from opsbook.checks.probes import _certs

if TYPE_CHECKING:
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

# Set on aiohttp's ResponseHandler, which keeps a __dict__; the name cannot clash with aiohttp's.
_ATTRIBUTE = "_opsbook_peer"


class Peer(NamedTuple):
    ip: str | None
    certificate_expires_at: datetime | None


_UNKNOWN = Peer(None, None)


class PeerConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that records each new connection's ``Peer`` (see ``peer_of``)."""

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        if protocol is not None and getattr(protocol, _ATTRIBUTE, None) is None:
            setattr(protocol, _ATTRIBUTE, _read(connection.transport))
        return connection


def _read(transport: object) -> Peer:
    # Duck-typed: uvloop's TCPTransport and SSL transport answer get_extra_info like asyncio's.
    get_extra_info = getattr(transport, "get_extra_info", None)
    if get_extra_info is None:
        return _UNKNOWN
    peer = get_extra_info("peername")
    ip = peer[0] if isinstance(peer, tuple) and peer else None
    return Peer(ip, _certs.expires_at(get_extra_info("ssl_object")))


def peer_of(response: aiohttp.ClientResponse) -> Peer:
    """The ``Peer`` of the connection that carried ``response`` (unknown fields are ``None``)."""
    # The response keeps its protocol after the connection is released or closed.
    protocol = getattr(response, "_protocol", None)
    peer = getattr(protocol, _ATTRIBUTE, None)
    return peer if isinstance(peer, Peer) else _UNKNOWN
