"""DemoServer: a demo app on a real socket in a background thread."""

from __future__ import annotations

import errno
import json
import socket
import urllib.request

import pytest

from opsbook.demo import DemoServer, create_demo_app


def test_it_serves_on_a_free_port_and_stops() -> None:
    server = DemoServer(create_demo_app(), port=0)
    server.start()
    try:
        assert server.port != 0
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "healthy"}
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.url}/healthz", timeout=1)
    server.stop()  # a second stop is harmless


def test_it_raises_the_bind_error_of_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = DemoServer(create_demo_app(), port=taken.getsockname()[1])
        with pytest.raises(OSError) as caught:
            server.start()
    assert caught.value.errno == errno.EADDRINUSE
    server.stop()
