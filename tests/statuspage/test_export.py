"""``opsbook status-page export DIR`` and ``status_page.publish``: the exported files are the
bytes the server answers at the same paths, a plain static server (``python -m http.server``)
serves the same page, and the publish command runs without a shell, with a timeout, its
failures counted and its output masked."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from statuspage_helpers import NOW, Shop, not_probed, shop_config

from opsbook.config import Config
from opsbook.config.status_page import PublishConfig
from opsbook.incidents import IncidentStatus
from opsbook.statuspage.compress import gzipped, precompress
from opsbook.statuspage.publish import MANIFEST, Publisher, anchored, write_site
from opsbook.statuspage.site import server_path
from opsbook.tasks import TaskFailures
from opsbook.web import create_app

LOGO = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


def _config_file(folder: Path, store_url: str) -> Path:
    raw = shop_config(logo="branding/logo.svg")
    raw["store"] = {"url": store_url}
    (folder / "branding").mkdir()
    (folder / "branding" / "logo.svg").write_bytes(LOGO)
    path = folder / "opsbook.yaml"
    path.write_text(json.dumps(raw), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture
def staged(engine: Engine, store_url: str, tmp_path: Path) -> tuple[Shop, Path]:
    config_path = _config_file(tmp_path, store_url)
    config = anchored(Config.model_validate(shop_config(logo="branding/logo.svg")), folder=tmp_path)
    shop = Shop(engine, config)
    shop.results("web-http", ["up"] * 10, start=NOW - timedelta(minutes=5))
    shop.results("api-http", ["up"] * 5 + ["down"] * 5, start=NOW - timedelta(minutes=5))
    shop.results("api-tcp", ["up"] * 10, start=NOW - timedelta(minutes=5))
    incident = shop.declare(summary="Card payments fail.")
    shop.update(incident, IncidentStatus.IDENTIFIED, "Rolling back.")
    shop.clock.advance(timedelta(seconds=1))
    return shop, config_path


def _exported(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def test_the_export_is_what_the_server_serves_byte_for_byte(
    staged: tuple[Shop, Path], tmp_path: Path, run_cli: Any
) -> None:
    shop, config_path = staged
    out = tmp_path / "public"
    result = run_cli(
        "status-page", "export", str(out), "--config", str(config_path), clock=shop.clock
    )
    assert result.exit_code == 0, result.stderr
    assert "Status page exported to" in result.stdout
    assert "written, 0 unchanged, 0 removed" in result.stdout
    files = _exported(out)
    assert {"index.html", "history/index.html", "status.css", "feed.rss", "feed.atom"} <= set(files)
    assert {"badge/api/status.svg", "badge/api/uptime.svg", "logo.svg"} <= set(files)
    assert "api/v2/summary.json" in files and "api/v2/incidents/unresolved.json" in files
    assert files["logo.svg"] == LOGO

    client = TestClient(
        create_app(shop.config, engine=shop.engine, clock=shop.clock, registry=CollectorRegistry())
    )
    gzipped = {name.removesuffix(".gz") for name in files if name.endswith(".gz")}
    assert {"index.html", "api/v2/summary.json", "feed.rss"} <= gzipped
    for name, body in files.items():
        if name.endswith(".gz"):
            # What nginx's gzip_static sends: the server's gzip answer, the same bytes.
            plain = name.removesuffix(".gz")
            assert gzip.decompress(body) == files[plain], name
            with client.stream(
                "GET", server_path(plain), headers={"Accept-Encoding": "gzip"}
            ) as response:
                assert response.headers["content-encoding"] == "gzip", name
                assert b"".join(response.iter_raw()) == body, name
            continue
        response = client.get(server_path(name), headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200, name
        assert "content-encoding" not in response.headers, name
        assert response.content == body, name

    again = run_cli(
        "status-page", "export", str(out), "--config", str(config_path), clock=shop.clock
    )
    assert f"0 written, {len(files)} unchanged, 0 removed" in again.stdout


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "public"
    folder.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 40123 (...) ..."
        port = int(line.split(" port ")[1].split()[0])
        yield folder, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()


def test_a_plain_static_server_serves_the_same_page(
    staged: tuple[Shop, Path], static_server: tuple[Path, str], run_cli: Any
) -> None:
    shop, config_path = staged
    folder, base = static_server
    result = run_cli(
        "status-page", "export", str(folder), "--config", str(config_path), clock=shop.clock
    )
    assert result.exit_code == 0, result.stderr
    client = TestClient(
        create_app(shop.config, engine=shop.engine, clock=shop.clock, registry=CollectorRegistry())
    )
    for name in _exported(folder):
        if name.endswith(".gz"):
            continue  # a precompressed copy: http.server has no gzip_static (see above)
        # The static server's path is the server's with /status/ as its root (the JSON
        # stays at /api/v2/, the root of the host, where Statuspage's consumers look).
        path = server_path(name)
        static_path = path if path.startswith("/api/") else "/" + path.removeprefix("/status/")
        with urllib.request.urlopen(base + static_path, timeout=5) as response:
            assert response.read() == client.get(path).content, name
    with urllib.request.urlopen(base + "/", timeout=5) as response:
        page = response.read().decode()
    assert "Partial System Outage" in page or "Minor Service Outage" in page
    assert "Checkout errors" in page and "Rolling back." in page


def test_a_second_export_removes_files_no_longer_made(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    write_site(folder, {"index.html": b"1", "badge/old/status.svg": b"<svg/>"})
    written = write_site(folder, {"index.html": b"2"})
    assert (written.changed, written.unchanged, written.removed) == (1, 0, 1)
    assert not (folder / "badge/old/status.svg").exists()
    assert (folder / "index.html").read_bytes() == b"2"


def test_a_file_path_outside_the_folder_is_refused(tmp_path: Path) -> None:
    from opsbook.errors import InputError

    with pytest.raises(InputError, match="outside the export folder"):
        write_site(tmp_path / "out", {"../escape.html": b"x"})
    assert not (tmp_path / "escape.html").exists()


def test_export_into_a_file_is_an_error_naming_dir(
    staged: tuple[Shop, Path], tmp_path: Path, run_cli: Any
) -> None:
    shop, config_path = staged
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = run_cli(
        "status-page", "export", str(blocker), "--config", str(config_path), clock=shop.clock
    )
    assert result.exit_code != 0
    assert "DIR:" in result.stderr and "is not a folder" in result.stderr
    assert blocker.read_text() == "x"


def _publisher(tmp_path: Path, command: list[str] | None, **kw: Any) -> Publisher:
    publish = PublishConfig.model_validate({"dir": str(tmp_path / "out"), "command": command, **kw})
    return Publisher(
        publish,
        render=lambda: {"index.html": b"page"},
        secrets=["hunter2-secret"],
        failures=TaskFailures(),
    )


def test_publish_runs_its_command_in_the_folder_without_a_shell(tmp_path: Path) -> None:
    script = "import os,sys; open('pushed','w').write(os.getcwd()); print('$HOME;', sys.argv[1:])"
    publisher = _publisher(tmp_path, [sys.executable, "-c", script, "a b", "$HOME"])
    assert asyncio.run(publisher.once({"index.html": b"page"})) is True
    out = tmp_path / "out"
    assert (out / "index.html").read_bytes() == b"page"
    assert (out / "pushed").read_text() == str(out.resolve())
    assert publisher.exports == 1 and publisher.command_failures == 0


def test_a_failing_command_is_logged_masked_and_counted(tmp_path: Path) -> None:
    publisher = _publisher(
        tmp_path,
        [sys.executable, "-c", "print('token hunter2-secret rejected'); raise SystemExit(3)"],
    )
    with structlog.testing.capture_logs() as logs:
        assert asyncio.run(publisher.once({"index.html": b"page"})) is False
    assert publisher.command_failures == 1
    assert publisher.failures.items == {"status_publish": 1}
    failed = [e for e in logs if e["event"] == "status_publish_command_failed"]
    assert failed and "exit 3" in failed[0]["error"]
    assert "rejected" in failed[0]["output"]
    assert "hunter2-secret" not in repr(logs)


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    publisher = _publisher(
        tmp_path, [sys.executable, "-c", "import time; time.sleep(30)"], timeout="300ms"
    )
    with structlog.testing.capture_logs() as logs:
        assert asyncio.run(publisher.once({"index.html": b"page"})) is False
    assert (
        "timed out"
        in next(e for e in logs if e["event"] == "status_publish_command_failed")["error"]
    )


def test_a_missing_program_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    publisher = _publisher(tmp_path, ["/nonexistent/push-it"])
    assert asyncio.run(publisher.once({"index.html": b"page"})) is False
    assert publisher.command_failures == 1


def test_the_task_exports_again_only_when_a_file_changed(tmp_path: Path) -> None:
    renders = [{"index.html": b"1"}, {"index.html": b"1"}, {"index.html": b"2"}]
    seen: list[dict[str, bytes]] = []

    def render() -> dict[str, bytes]:
        found = renders[min(len(seen), len(renders) - 1)]
        seen.append(found)
        return found

    publish = PublishConfig.model_validate({"dir": str(tmp_path / "out")})
    publisher = Publisher(publish, render=render, debounce_s=0.01)

    async def run() -> None:
        task = asyncio.create_task(publisher.run())
        await asyncio.sleep(0.2)  # about 20 passes of the 10 ms debounce
        task.cancel()

    asyncio.run(run())
    assert publisher.exports == 2
    assert (tmp_path / "out" / "index.html").read_bytes() == b"2"


def _wait_for(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        time.sleep(0.05)


def test_serve_re_exports_on_a_change_and_runs_the_command(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "published"
    # Each push appends an x to ./pushes (the command runs in the folder).
    script = "import pathlib; p = pathlib.Path('pushes'); p.write_text(p.read_text() + 'x')"
    out.mkdir()
    (out / "pushes").write_text("")
    # The published copy and the served one are compared: no probes to change either.
    raw = not_probed(
        shop_config(publish={"dir": str(out), "command": [sys.executable, "-c", script]})
    )
    shop = Shop(engine, Config.model_validate(raw))
    app = create_app(shop.config, engine=engine, clock=shop.clock, registry=CollectorRegistry())
    with TestClient(app) as client:
        _wait_for(lambda: (out / "pushes").read_text() == "x", "the first export and push")
        assert (out / "index.html").read_bytes() == client.get("/status/").content
        assert "Active incidents" not in (out / "index.html").read_text()
        shop.declare()
        shop.clock.advance(timedelta(seconds=1))
        _wait_for(
            lambda: "Active incidents" in (out / "index.html").read_text(),
            "the incident reaches the published page",
        )
        _wait_for(lambda: (out / "pushes").read_text() == "xx", "the second push")
        # A request that arrives while the server renders the change is answered from the
        # rendering before it (it never waits), so give the served copy its moment to catch up.
        _wait_for(
            lambda: (out / "index.html").read_bytes() == client.get("/status/").content,
            "the served page equals the published one",
        )
        _wait_for(
            lambda: (
                (out / "api/v2/summary.json").read_bytes()
                == client.get("/api/v2/summary.json").content
            ),
            "the served summary.json equals the published one",
        )


def test_a_file_with_the_last_rendering_s_bytes_keeps_its_gzipped_form() -> None:
    page = b"<p>all good</p>" * 100
    feed = b"<feed>one</feed>" * 100
    first = precompress({"index.html": page, "feed.atom": feed, "tiny.css": b"p{}"})
    assert set(first) == {"index.html", "feed.atom"}  # tiny.css: too small to be worth it
    changed = feed.replace(b"one", b"two")
    second = precompress(
        {"index.html": page, "feed.atom": changed, "tiny.css": b"p{}"},
        ({"index.html": page, "feed.atom": feed, "tiny.css": b"p{}"}, first),
    )
    assert second["index.html"] is first["index.html"]  # not compressed again
    assert second["feed.atom"] == gzipped(changed)
    assert gzip.decompress(second["feed.atom"]) == changed
