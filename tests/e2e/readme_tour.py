"""The README's tour as a reader runs it: every command of its ``sh`` and ``console`` blocks, as
printed, in order, from the repository root, against ``.venv/bin/opsbook demo``.

``tests/e2e/test_readme.py`` runs this file as a script inside a network namespace of its own
(``unshare -n``), where the tour's fixed ports 8080 and 8081 are free whatever the machine runs;
it prints one JSON document: each command with its exit code and output, the demo's own output,
and why it stopped early if it did. It needs nothing but the standard library, so the extraction
can be imported by the test too.

The tour's ``$XDG_CONFIG_HOME`` is a folder of the copy, so the API token the demo saves for the
CLI (``tokens.json``) lands there and not in the home of whoever runs the tests; the tour's own
waits read the API with the token the demo wrote for ``curl``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

OPSBOOK = "http://127.0.0.1:8080"
SERVICE = "http://127.0.0.1:8081"
START_TIMEOUT_S = 90.0
COMMAND_TIMEOUT_S = 60.0
# Three failed probes of /healthz (every 10 s, then every 5 s) fire site-down; the incidents
# task declares the incident within its next pass. Two minutes is several times that.
CONDITION_TIMEOUT_S = 120.0
SKIPPED = ("make demo", "make test")
# Where the demo writes its API token for curl (cli/demo_access.py), from the repository root.
TOKEN_FILE = Path("examples/demo/.opsbook-demo/token")
# How the demo prints the login it made (cli/demo_panel.py).
PASSWORD = re.compile(r"^Log in at \S+ as demo, password (\S+)$")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Command:
    """One command of the README, and the output it shows for it (``console`` blocks only)."""

    line: str
    shown: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """What the README implies: ``opsbook check`` ending in "N errors" exits 2."""
        return 2 if self.shown and re.fullmatch(r"\d+ errors?", self.shown[-1]) else 0


def commands(readme: str) -> list[Command]:
    """Every command of the README's ``sh`` and ``console`` blocks, in order.

    In ``console`` blocks a command starts with ``$ `` and the lines up to the next one are its
    output; in ``sh`` blocks every line that is not blank or a comment is a command (a trailing
    backslash continues it). ``make demo`` and ``make test`` are left out: the tour runs the demo
    itself, and the tests run this.
    """
    found: list[Command] = []
    language: str | None = None
    pending = ""
    for raw in readme.splitlines():
        fence = FENCE.match(raw)
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        if language == "console":
            if raw.startswith("$ "):
                found.append(Command(raw[2:].strip()))
            elif raw.strip() and found:
                found[-1].shown.append(raw)
        elif language == "sh":
            line = pending + raw.strip()
            if line.endswith("\\"):
                pending = line[:-1]
                continue
            pending = ""
            if line and not line.startswith("#"):
                found.append(Command(line))
    return [c for c in found if not c.line.startswith(SKIPPED)]


Get = Callable[[str], Any]


def _getter(token_file: Path) -> Get:
    """``GET`` of an API path with the demo's token: the decoded JSON, or None on any error."""

    def get(path: str) -> Any:
        try:
            token = token_file.read_text().strip()
            request = urllib.request.Request(
                OPSBOOK + path, headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None

    return get


def _checks_probed(get: Get) -> bool:
    body = get("/api/v1/checks")
    return bool(body) and any(c["id"] == "healthz" and c["state"] for c in body["checks"])


def _alert_firing(get: Get) -> bool:
    body = get("/api/v1/alerts?status=firing")
    return bool(body and body["alerts"])


def _incident_declared(get: Get) -> bool:
    body = get("/api/v1/incidents?all=true")
    return bool(body) and any(i["id"] == 1 for i in body["incidents"])


# What has to be true before a command means what the README says it shows: the reader waits
# ("give it a minute"), the tour waits for the condition itself, never for a fixed time.
WAITS: list[tuple[re.Pattern[str], str, Callable[[Get], bool]]] = [
    (re.compile(r"opsbook status "), "healthz has been probed", _checks_probed),
    (re.compile(r"opsbook alerts --all "), "an alert fires", _alert_firing),
    (re.compile(r"opsbook incidents "), "incident 1 is declared", _incident_declared),
]


def _wait(what: str, condition: Callable[[], bool], *, timeout_s: float) -> float:
    """Seconds it took ``condition`` to hold; raises ``TimeoutError`` naming ``what``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:g}s")
        time.sleep(0.5)
    return time.monotonic() - start


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class _Demo:
    """``.venv/bin/opsbook demo`` in ``workdir``, its output kept as it arrives."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [".venv/bin/opsbook", "demo"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def try_lines(self) -> list[str]:
        """The commands under "Try" in the banner, once it is printed."""
        _wait("the demo prints its banner", lambda: "Ctrl-C to stop" in self.lines, timeout_s=30)
        start = self.lines.index("Try (from this folder)") + 1
        return self.lines[start : self.lines.index("", start)]

    def stop(self) -> int:
        """Ctrl-C, as the README says; SIGKILL if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(10)
        return code


def _run(line: str, *, workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    try:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        return {"line": line, "exit_code": None, "stdout": str(exc.stdout), "stderr": "timeout"}
    return {
        "line": line,
        "exit_code": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
    }


def tour(workdir: Path) -> dict[str, Any]:
    """Start the demo, run the README's commands and then the banner's, stop the demo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOOK_", "DEMO_URL"))}
    # An 80-column terminal, and $USER empty as in containers, cron and CI.
    env |= {"COLUMNS": "80", "NO_COLOR": "1", "USER": "", "LOGNAME": ""}
    env["XDG_CONFIG_HOME"] = str(workdir / ".config")
    get = _getter(workdir / TOKEN_FILE)
    env.pop("FORCE_COLOR", None)
    report: dict[str, Any] = {"ran": [], "banner": [], "error": None}
    demo = _Demo(workdir, env)
    try:
        _wait(
            "the demo answers /ready",
            lambda: demo.process.poll() is None and _answers(OPSBOOK + "/ready"),
            timeout_s=START_TIMEOUT_S,
        )
        banner = demo.try_lines()
        for command in commands((workdir / "README.md").read_text(encoding="utf-8")):
            waited = {
                what: round(_wait(what, partial(condition, get), timeout_s=CONDITION_TIMEOUT_S), 1)
                for pattern, what, condition in WAITS
                if pattern.search(command.line)
            }
            result = _run(command.line, workdir=workdir, env=env)
            report["ran"].append({**asdict(command), **result, "expected": command.exit_code})
            report["ran"][-1]["waited"] = waited
        report["banner"] = [_run(line, workdir=workdir, env=env) for line in banner]
    except TimeoutError as exc:
        report["error"] = str(exc)
    finally:
        report["demo_exit_code"] = demo.stop()
        report["demo_output"] = demo.lines
        log = workdir / "examples" / "demo" / ".opsbook-demo" / "serve.log"
        text = log.read_text() if log.exists() else ""
        report["serve_log_tail"] = text.splitlines()[-30:]
        shown = [m.group(1) for line in demo.lines if (m := PASSWORD.search(line))]
        report["password_shown"] = bool(shown)
        report["password_logged"] = any(password in text for password in shown)
    return report


if __name__ == "__main__":
    print(json.dumps(tour(Path(sys.argv[1]))))
