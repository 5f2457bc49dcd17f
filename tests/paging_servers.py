"""Two tiny HTTP servers for end-to-end paging tests: a target whose health check can be made
to fail, and a webhook receiver that keeps the pages it is sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from serving import Server, api_token, serve_env

POLL_S = 0.05
"""How often a server's loop looks for ``shutdown()``: the default, 0.5 s, made each close wait
up to half a second, twice per paging test."""


class Target:
    """``GET /healthz`` answering 200 until ``fail()``, then 500."""

    def __init__(self) -> None:
        self.failing = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(500 if outer.failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        threading.Thread(target=self.server.serve_forever, args=(POLL_S,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Pager:
    """A webhook channel's receiver: keeps each page's body."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with outer._lock:
                    outer.bodies.append(json.loads(body))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pager"
        threading.Thread(target=self.server.serve_forever, args=(POLL_S,), daemon=True).start()

    def pages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.bodies if b.get("type") == "page"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


WAIT_S = 60.0
"""How long a stage waits for its page: generous, and still a minute against the hour that
``evaluate_every: 1h`` would make it wait without the wake."""


@contextmanager
def serve_with_pager(
    tmp_path: Path, store_url: str, config: Callable[[str, str], str]
) -> Iterator[tuple[Server, Target, Pager]]:
    """``opsbook serve`` on ``config(target_url, pager_url)``, with its target and pager; the
    server sends an admin token (``api_token``) with each request."""
    target, pager = Target(), Pager()
    path = tmp_path / "opsbook.yaml"
    path.write_text(config(target.url, pager.url), encoding="utf-8")
    server = Server(path, env=serve_env(store_url), token=api_token(store_url))
    try:
        yield server, target, pager
    finally:
        server.close()
        target.close()
        pager.close()


def wait_for(condition: Callable[[], bool], *, what: str, server: Server) -> None:
    """Poll until ``condition``; fail with the server's last log lines after ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {WAIT_S:g}s\n" + "".join(server.lines[-40:]))
        time.sleep(0.05)
