"""Two tiny HTTP servers for end-to-end paging tests: a target whose health check can be made
to fail, and a webhook receiver that keeps the pages it is sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.bodies if b.get("type") == "page"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
