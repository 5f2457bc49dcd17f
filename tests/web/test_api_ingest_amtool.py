"""The real ``amtool`` (Debian's prometheus-alertmanager, 0.25) against a real ``opsbook serve``:
query alerts, add, update, query and expire silences, show the config."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving import Server, serve_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed"),
]

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (a start costs ~2 s): the silence test expires what it adds
    and the other tests only read the config or are refused, so no test sees another's writes."""
    folder = tmp_path_factory.mktemp("amtool")
    config = folder / "opsbook.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    server = Server(config, env=serve_env(f"sqlite:///{folder / 'opsbook.db'}"))
    try:
        status, _ = server.request_json("POST", "/api/v2/alerts", BATCH, token=TOKEN)
        assert status == 200
        yield server
    finally:
        server.close()


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
