"""`opsbook serve` as a real process: JSON logs on stderr, graceful stop on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serving import STOP_TIMEOUT_S, Server

pytestmark = pytest.mark.slow

SECRET = "S3cretPw-9z"


def test_it_serves_and_logs_one_json_line_per_request(
    serve: Callable[..., Server], sqlite_url: str
) -> None:
    server = serve(database_url=sqlite_url)
    assert server.request("GET", "/health") == (200, '{"status":"ok"}')
    status, body = server.request("GET", "/ready")
    assert status == 200, body
    assert json.loads(body)["status"] == "ready"
    assert server.request("GET", "/no-such-page")[0] == 404
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


def test_ctrl_c_also_stops_it_cleanly(serve: Callable[..., Server], sqlite_url: str) -> None:
    server = serve(database_url=sqlite_url)
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
    serve: Callable[..., Server],
    pg_url: str,
    run_cli: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPSBOOK_DATABASE_URL", raising=False)
    # Trust auth ignores the password, so the server connects while holding a secret.
    url = pg_url.replace("://postgres@", f"://postgres:{SECRET}@", 1)
    config_text = f"service: t\nstore:\n  url: {url}\n"
    server = serve(config_text)
    paths = ("/health", "/ready", "/metrics", "/openapi.json", "/x")
    bodies = [server.request("GET", path) for path in paths]
    assert bodies[1][0] == 200, bodies[1]
    assert server.stop() == 0

    config = tmp_path / "opsbook.yaml"  # the file serve wrote
    cli = [run_cli("db", command, "--config", str(config)) for command in ("upgrade", "current")]
    assert [r.exit_code for r in cli] == [0, 0]

    everything = "\n".join(
        [*server.lines, *(body for _, body in bodies), *(r.stdout + r.stderr for r in cli)]
    )
    assert SECRET not in everything
    assert "postgres:***@127.0.0.1:5432" in everything


def test_a_port_in_use_is_an_error_with_exit_code_1(tmp_path: Path, sqlite_url: str) -> None:
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
            env={**os.environ, "OPSBOOK_DATABASE_URL": sqlite_url},
        )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1] == "error: the server did not start; see the log lines above"
    assert any("address already in use" in json.loads(line)["event"] for line in lines[:-1])
