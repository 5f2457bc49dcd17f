"""A local port where no server answers, for the CLI's "cannot reach the server" path.

The socket is bound and never listens, so connecting is refused at once (on Linux) and no other
process can take the port while the test uses it: no fixed port, no race.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def closed_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
