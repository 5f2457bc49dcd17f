"""`opsbook serve` as a real process: JSON logs on stderr, graceful stop on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SECRET = "S3cretPw-9z"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class Server:
    """An `opsbook serve` subprocess whose stderr is collected line by line."""

    def __init__(self, config: Path, *, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "opsbook", "serve", "--config", str(config), "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.url = ""
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if '"listening"' in line:
                self.url = json.loads(line)["url"]
                self._listening.set()
        self._listening.set()  # the process ended; stop waiting either way

    def wait_listening(self) -> None:
        assert self._listening.wait(START_TIMEOUT_S), "\n".join(self.lines)
        assert self.url, "server exited before listening:\n" + "\n".join(self.lines)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=STOP_TIMEOUT_S)
        self._reader.join(timeout=5)
        return code

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(config_text: str = "service: t\n", *, env: dict[str, str] | None = None) -> Server:
        config = tmp_path / "opsbook.yaml"
        config.write_text(config_text, encoding="utf-8")
        base = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
        server = Server(config, env={**base, **(env or {})})
        started.append(server)
        server.wait_listening()
        return server

    yield start
    for server in started:
        server.kill()


def _sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"OPSBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}


def test_it_serves_and_logs_one_json_line_per_request(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = start_server(env=_sqlite_env(tmp_path))
    assert server.get("/health") == (200, '{"status":"ok"}')
    status, body = server.get("/ready")
    assert status == 200, body
    assert json.loads(body)["status"] == "ready"
    assert server.get("/no-such-page")[0] == 404
    assert server.stop() == 0

    records = server.records()  # every stderr line is JSON, uvicorn's included
    requests = [r for r in records if r["event"] == "request"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("GET", "/health", 200),
        ("GET", "/ready", 200),
        ("GET", "/no-such-page", 404),
    ]
    for r in requests:
        assert isinstance(r["duration_ms"], int | float) and r["duration_ms"] >= 0
        assert r["client"] == "127.0.0.1"
        assert r["level"] == "info"
        assert r["timestamp"].endswith("Z")
    events = [r["event"] for r in records]
    assert events.index("migrations") < events.index("listening") < events.index("stopped")
    assert events.index("runner_stopped") < events.index("stopped")
    assert events[-1] == "stopped"


def test_ctrl_c_also_stops_it_cleanly(start_server: Callable[..., Server], tmp_path: Path) -> None:
    server = start_server(env=_sqlite_env(tmp_path))
    started = time.monotonic()
    assert server.stop(signal.SIGINT) == 0
    assert time.monotonic() - started < STOP_TIMEOUT_S
    assert server.records()[-1]["event"] == "stopped"
    assert not any("Traceback" in line for line in server.lines)


def test_a_missing_config_file_exits_2_without_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "opsbook", "serve", "--config", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{missing}: no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_store_password_never_appears_in_logs_or_responses(
    start_server: Callable[..., Server],
    pg_url: str,
    run_cli: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPSBOOK_DATABASE_URL", raising=False)
    # Trust auth ignores the password, so the server connects while holding a secret.
    url = pg_url.replace("://postgres@", f"://postgres:{SECRET}@", 1)
    config_text = f"service: t\nstore:\n  url: {url}\n"
    server = start_server(config_text)
    bodies = [server.get(path) for path in ("/health", "/ready", "/metrics", "/openapi.json", "/x")]
    assert bodies[1][0] == 200, bodies[1]
    assert server.stop() == 0

    config = tmp_path / "opsbook.yaml"  # the file start_server wrote
    cli = [run_cli("db", command, "--config", str(config)) for command in ("upgrade", "current")]
    assert [r.exit_code for r in cli] == [0, 0]

    everything = "\n".join(
        [*server.lines, *(body for _, body in bodies), *(r.stdout + r.stderr for r in cli)]
    )
    assert SECRET not in everything
    assert "postgres:***@127.0.0.1:5432" in everything


def test_a_port_in_use_is_an_error_with_exit_code_1(tmp_path: Path) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text("service: t\n", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "opsbook", "serve", "-c", str(config), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **_sqlite_env(tmp_path)},
        )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1] == "error: the server did not start; see the log lines above"
    assert any("address already in use" in json.loads(line)["event"] for line in lines[:-1])
