"""The real ``amtool`` (Debian's prometheus-alertmanager, 0.25) against a real ``opsbook serve``:
query alerts, add, update, query and expire silences, show the config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed"),
]

START_TIMEOUT_S = 30.0
TOKEN = "amtool-token-0123456789abc"
CONFIG = f"""\
service: t
integrations:
  prometheus:
    alertmanager: {{token: {TOKEN}}}
"""
BATCH = [
    {"labels": {"alertname": "HighLatency", "service": "api"}, "annotations": {"summary": "slow"}},
    {"labels": {"alertname": "DiskFull", "service": "db"}},
]


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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=20)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
    env = {**base, "OPSBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    server = Server(config, env)
    try:
        request = urllib.request.Request(
            server.url + "/api/v2/alerts",
            data=json.dumps(BATCH).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        yield server
    finally:
        server.stop()


@pytest.fixture
def amtool(server: Server, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run amtool against the server with the token in an --http.config.file."""
    http_config = tmp_path / "http.yml"
    http_config.write_text(f"authorization:\n  credentials: {TOKEN}\n", encoding="utf-8")

    def run(*args: str, config: Path = http_config) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "amtool",
                f"--alertmanager.url={server.url}",
                f"--http.config.file={config}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    return run


def names(output: str) -> list[str]:
    return sorted(a["labels"]["alertname"] for a in json.loads(output))


def test_amtool_queries_alerts_and_silences_them(amtool) -> None:  # type: ignore[no-untyped-def]
    listed = amtool("-o", "json", "alert", "query")
    assert listed.returncode == 0, listed.stderr
    assert names(listed.stdout) == ["DiskFull", "HighLatency"]

    added = amtool(
        "silence",
        "add",
        "alertname=HighLatency",
        "--comment=deploy",
        "--author=ana",
        "--duration=1h",
    )
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()

    [silence] = json.loads(amtool("-o", "json", "silence", "query").stdout)
    assert (silence["id"], silence["createdBy"], silence["comment"]) == (
        silence_id,
        "ana",
        "deploy",
    )
    assert silence["matchers"] == [
        {"name": "alertname", "value": "HighLatency", "isRegex": False, "isEqual": True}
    ]
    # amtool's default alert query leaves silenced alerts out; --silenced shows them.
    assert names(amtool("-o", "json", "alert", "query").stdout) == ["DiskFull"]
    [muted] = json.loads(amtool("-o", "json", "alert", "query", "--silenced").stdout)
    assert muted["status"]["silencedBy"] == [silence_id]

    updated = amtool("silence", "update", silence_id, "--comment=longer deploy")
    assert updated.returncode == 0, updated.stderr
    [current] = json.loads(amtool("-o", "json", "silence", "query").stdout)
    assert current["comment"] == "longer deploy"

    expired = amtool("silence", "expire", current["id"])
    assert expired.returncode == 0, expired.stderr
    assert json.loads(amtool("-o", "json", "silence", "query").stdout) == []
    assert names(amtool("-o", "json", "alert", "query").stdout) == ["DiskFull", "HighLatency"]


def test_amtool_shows_the_config_and_routes(amtool) -> None:  # type: ignore[no-untyped-def]
    shown = amtool("config", "show")
    assert shown.returncode == 0, shown.stderr
    assert "receiver: opsbook" in shown.stdout
    routes = amtool("config", "routes")
    assert routes.returncode == 0, routes.stderr
    assert "default-route  receiver: opsbook" in routes.stdout


def test_amtool_with_a_wrong_token_fails(amtool, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wrong = tmp_path / "wrong.yml"
    wrong.write_text("authorization:\n  credentials: not-the-token\n", encoding="utf-8")
    result = amtool("alert", "query", config=wrong)
    assert result.returncode != 0
    assert "status 401" in result.stderr
