"""Where the e2e tests' notifications land: a webhook sink that answers each path as the test
scripts it, and a real SMTP server (aiosmtpd). Both run in threads of the test process, record
everything with the time it arrived, and listen on 127.0.0.1 on a free port.

Nothing here imports pytest, so a benchmark could use them too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Received:
    """One POST the sink got, and what it answered (``status``). ``at`` is ``time.monotonic()``
    when the body had been read; ``wall`` the same moment in UTC."""

    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    at: float
    wall: datetime

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")

    def is_signed_with(self, secret: str) -> bool:
        """The ``X-Opsbook-Signature`` is HMAC-SHA256 of the exact body with ``secret``."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Opsbook-Signature", ""), expected)


@dataclass
class _Script:
    statuses: list[int] = field(default_factory=list)
    then: int = 200

    def next(self) -> int:
        return self.statuses.pop(0) if self.statuses else self.then


class WebhookSink:
    """A webhook receiver. Every path answers 200 unless ``answer`` scripted it otherwise.

    ``answer("/pager", 500, 500)`` answers the next two POSTs to ``/pager`` with 500, then 200;
    ``answer("/pager", then=503)`` answers 503 until scripted again. A non-2xx answer carries the
    body ``sink answered <status>`` (which a dead letter's reason quotes).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._scripts: dict[str, _Script] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                at, wall = time.monotonic(), datetime.now(UTC)
                path = self.path.split("?", 1)[0]
                status = outer._record(path, dict(self.headers.items()), body, at, wall)
                answer = b"" if 200 <= status < 300 else f"sink answered {status}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, path: str, *statuses: int, then: int = 200) -> None:
        with self._lock:
            self._scripts[path] = _Script(list(statuses), then)

    def _record(
        self, path: str, headers: dict[str, str], body: bytes, at: float, wall: datetime
    ) -> int:
        with self._lock:
            status = self._scripts.setdefault(path, _Script()).next()
            self._received.append(Received(path, status, headers, body, at, wall))
            return status

    def received(self, path: str | None = None, *, status: int | None = None) -> list[Received]:
        """What arrived (at ``path``; answered ``status``), in the order it arrived."""
        with self._lock:
            found = list(self._received)
        return [
            r
            for r in found
            if (path is None or r.path == path) and (status is None or r.status == status)
        ]

    def delivered(self, path: str | None = None) -> list[Received]:
        """What the sink accepted (answered 2xx)."""
        return [r for r in self.received(path) if 200 <= r.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.close()


@dataclass
class Mailbox:
    """An aiosmtpd handler that accepts and keeps every email, with its arrival time."""

    received: list[tuple[Envelope, float]] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 (aiosmtpd calls handle_<SMTP verb>)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append((envelope, time.monotonic()))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        found: list[EmailMessage] = []
        for envelope, _ in list(self.received):
            content = envelope.content
            assert isinstance(content, bytes)
            parsed = message_from_bytes(content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found


@contextlib.contextmanager
def smtp_server(port: int) -> Iterator[Mailbox]:
    """A real SMTP server on ``127.0.0.1:port`` keeping what it receives in a ``Mailbox``."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
