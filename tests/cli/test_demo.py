"""`opsbook demo` and `opsbook demo-service`: argument errors, the printed panel, clean stops."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from opsbook.cli.demo import _wait_until_up, demo_service
from opsbook.cli.stop import StopSignal
from opsbook.errors import InputError, OpsbookError

REPO = Path(__file__).resolve().parents[2]
# The `run_cli` fixture of tests/conftest.py: run `opsbook ARGS` in-process, return a CliResult.
RunCli = Callable[..., Any]
URL = re.compile(r"http://127\.0\.0\.1:\d+/[\w/]*")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_demo_names_a_missing_config(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run_cli("demo", "--config", str(missing), "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert f"--config: {missing} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_names_the_port_in_use(run_cli: RunCli, tmp_path: Path, taken_port: int) -> None:
    result = run_cli("demo", "--port", str(taken_port), "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert (
        f"--port: port {taken_port} is already in use; "
        "choose a free one for opsbook serve with --port"
    ) in result.stderr


def test_demo_names_the_service_port_in_use(
    run_cli: RunCli, tmp_path: Path, taken_port: int
) -> None:
    args = ("--port", str(_free_port()), "--service-port", str(taken_port))
    result = run_cli("demo", *args, "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert f"--service-port: port {taken_port} is already in use" in result.stderr
    assert "with --service-port" in result.stderr


def test_demo_refuses_one_port_for_both(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(
        "demo", "--port", "9000", "--service-port", "9000", "--data-dir", str(tmp_path)
    )
    assert result.exit_code == 2
    assert "--port and --service-port are both 9000" in result.stderr


def _service_cli() -> typer.Typer:
    # Tested on its own Typer so the test does not depend on how cli/app.py registers it.
    app = typer.Typer()
    app.callback()(_root)  # a callback keeps "demo-service" a subcommand, as in the real CLI
    app.command("demo-service")(demo_service)
    return app


def _root() -> None:
    pass


def test_demo_service_prints_its_urls_and_stops_after_for() -> None:
    port = _free_port()
    result = CliRunner().invoke(
        _service_cli(),
        ["demo-service", "--port", str(port), "--for", "0.3"],
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    assert f"http://127.0.0.1:{port}/healthz" in result.output
    assert f"curl -X POST localhost:{port}/_faults -d '{{\"latency_ms\":3000}}'" in result.output
    assert "Ctrl-C to stop" in result.output
    assert "Stopping (--for 0.3s elapsed)" in result.output


def test_demo_service_names_the_port_in_use(taken_port: int) -> None:
    result = CliRunner().invoke(_service_cli(), ["demo-service", "--port", str(taken_port)])
    assert isinstance(result.exception, InputError)
    assert result.exception.field == "--port"
    assert f"port {taken_port} is already in use" in str(result.exception)


class _Output:
    """Drains a child's stdout in a thread, so the child never blocks on a full pipe."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._reader.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, marker: str, *, timeout_s: float) -> str:
        """All output so far, once it contains ``marker``; fails after ``timeout_s``."""
        with self._changed:
            self._changed.wait_for(lambda: marker in "".join(self._lines), timeout_s)
        assert marker in self.text, f"no {marker!r} within {timeout_s}s; output:\n{self.text}"
        return self.text

    def join(self) -> None:
        """Wait for EOF (the child has exited) so stdout can be closed safely."""
        self._reader.join(10)


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


@pytest.mark.slow
def test_demo_runs_both_servers_and_stops_by_itself(tmp_path: Path) -> None:
    port, service_port = _free_port(), _free_port()
    args = ["--for", "8", "--port", str(port), "--service-port", str(service_port)]
    with subprocess.Popen(
        [sys.executable, "-m", "opsbook", "demo", *args, "--data-dir", str(tmp_path)],
        cwd=REPO,
        env={**_clean_env(tmp_path), "COLUMNS": "200", "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        out = _Output(proc)
        try:
            output = out.wait_for("Ctrl-C to stop", timeout_s=60)
            urls = set(URL.findall(output))
            service, opsbook = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{port}"
            assert {f"{service}/healthz", f"{opsbook}/health", f"{opsbook}/docs"} <= urls
            assert _get(f"{service}/healthz") == 200
            assert _get(f"{opsbook}/health") == 200
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.join()
    assert "Stopped." in out.text
    assert (tmp_path / "opsbook.db").exists()


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """This environment without opsbook's settings; the API token the demo saves for the CLI
    goes to ``tmp_path/xdg``, not to the home of whoever runs the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOOK_", "DEMO_URL"))}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def test_demo_reports_config_errors_before_starting_anything(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text("service: demo\nchecks:\n  web:\n    http: {url: http://x}\n    every: 30x\n")
    # Both ports taken: the config's mistakes still come first (and no fixed port is assumed free).
    with socket.socket() as serve_port, socket.socket() as service_port:
        for taken in (serve_port, service_port):
            taken.bind(("127.0.0.1", 0))
            taken.listen()
        result = run_cli(
            "demo",
            *("--config", str(config), "--data-dir", str(tmp_path / "data")),
            *("--port", str(serve_port.getsockname()[1])),
            *("--service-port", str(service_port.getsockname()[1])),
        )
    assert result.exit_code == 2, result.stderr
    assert "already in use" not in result.stderr
    assert f"{config}:5:" in result.stderr
    assert "checks.web.every" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_demo_stops_both_servers_on_sigterm(tmp_path: Path) -> None:
    port, service_port = _free_port(), _free_port()
    args = ["--port", str(port), "--service-port", str(service_port), "--data-dir", str(tmp_path)]
    with subprocess.Popen(
        [sys.executable, "-m", "opsbook", "demo", *args],
        cwd=REPO,
        env={**_clean_env(tmp_path), "COLUMNS": "200", "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        out = _Output(proc)
        try:
            output = out.wait_for("Ctrl-C to stop", timeout_s=60)
            assert f"DEMO_URL=http://127.0.0.1:{service_port} " in output
            assert " status --config examples/demo/opsbook.yaml" in output
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.join()
    assert "Stopping (SIGTERM)..." in out.text
    for freed in (port, service_port):
        with socket.socket() as s:  # both listeners are closed: the ports bind again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", freed))


def test_demo_shows_the_end_of_the_log_when_serve_dies_at_start_up(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    script = "import sys; print('line 1'); print('boom: cannot open store'); sys.exit(3)"
    with log.open("wb") as out, StopSignal() as stop:
        child = subprocess.Popen([sys.executable, "-c", script], stdout=out)
        with pytest.raises(OpsbookError) as caught:
            _wait_until_up(["http://127.0.0.1:9/never"], child=child, log=log, stop=stop)
    assert str(caught.value) == (
        f"opsbook serve exited with code 3; the end of {log}:\n  line 1\n  boom: cannot open store"
    )


def _try_lines(output: str) -> list[str]:
    lines = output.splitlines()
    start = lines.index("Try (from this folder)") + 1
    return lines[start : lines.index("", start)]


@pytest.mark.slow
def test_the_commands_the_demo_prints_run_as_printed_at_80_columns(tmp_path: Path) -> None:
    port, service_port = _free_port(), _free_port()
    args = ["--port", str(port), "--service-port", str(service_port), "--data-dir", str(tmp_path)]
    env = {**_clean_env(tmp_path), "COLUMNS": "80", "NO_COLOR": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "opsbook", "demo", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        out = _Output(proc)
        try:
            tried = _try_lines(out.wait_for("Ctrl-C to stop", timeout_s=60))
            faults = [line for line in out.text.splitlines() if line.startswith("curl -X POST")]
            assert len(tried) == 6 and len(faults) == 11, out.text
            for line in [*tried, faults[0]]:
                # Each line is a whole command: run by a shell from where the demo started.
                ran = subprocess.run(
                    ["bash", "-c", line],
                    cwd=REPO,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert ran.returncode == 0, f"{line}\n{ran.stdout}{ran.stderr}"
                if "/api/v1/" in line:  # curl exits 0 on a 401 too: the answer must be data
                    assert "error" not in json.loads(ran.stdout), f"{line}\n{ran.stdout}"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.join()
    assert all(line.startswith(("DEMO_URL=", "curl ")) for line in tried)
    # The login is on the terminal, and not in the log.
    [password] = re.findall(r"as demo, password (\S+)$", out.text, flags=re.MULTILINE)
    assert password not in (tmp_path / "serve.log").read_text()
