"""A ping answered 200 is on disk: kill -9 right after the answer, restart, and it is there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 30.0
CHECK_UUID = uuid4()
CONFIG = f"""\
service: t
checks:
  nightly-backup:
    heartbeat: {{schedule: "0 3 * * *", grace: 30m, uuid: "{CHECK_UUID}"}}
"""


class Server:
    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "opsbook", "serve", "--config", str(config), "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.url = ""
        self.lines: list[str] = []
        self._listening = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._listening.wait(START_TIMEOUT_S), "\n".join(self.lines)
        assert self.url, "server exited before listening:\n" + "\n".join(self.lines)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if '"listening"' in line:
                self.url = json.loads(line)["url"]
                self._listening.set()
        self._listening.set()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def test_a_ping_answered_200_survives_a_kill_9(tmp_path: Path, servers: list[Server]) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
    env = {**base, "OPSBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}

    first = Server(config, env)
    servers.append(first)
    rid = uuid4()
    assert first.request("POST", f"/ping/{CHECK_UUID}/0?rid={rid}", b"backup ok: 12 GB") == (
        200,
        "OK",
    )
    first.process.send_signal(signal.SIGKILL)
    assert first.process.wait(timeout=10) == -signal.SIGKILL

    second = Server(config, env)
    servers.append(second)
    status, body = second.request("GET", "/api/v1/checks/nightly-backup/pings")
    assert status == 200
    [ping] = json.loads(body)
    assert (ping["kind"], ping["exit_status"], ping["rid"], ping["body"]) == (
        "success",
        0,
        str(rid),
        "backup ok: 12 GB",
    )
