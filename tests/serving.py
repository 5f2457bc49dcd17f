"""``opsbook serve`` as a real process, for the tests that kill, restart or signal it, and for the
peers of the e2e tests and benchmarks (``e2e/peers.py``).

``Server`` starts ``python -m opsbook serve --config CONFIG --port 0`` and returns once the JSON
``listening`` line on stderr names its URL; every stderr line is kept on ``lines``. Every /api/v1
route wants a role (docs/permissions.md): ``api_token`` puts an admin token in the server's store,
and a ``Server`` given it sends it with each request. Nothing here imports pytest, so ``bench/``
can use it through ``peers``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.store import create_engine, upgrade

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """``command`` run on ``cpus`` (``taskset -c``), or unchanged when ``cpus`` is None."""
    # taskset execs the command, so the pid is the peer's and every thread it ever starts is pinned.
    return ["taskset", "-c", cpus, *command] if cpus is not None else command


def serve_env(database_url: str | None = None) -> dict[str, str]:
    """This process' environment without any ``OPSBOOK_*`` setting, plus the store URL if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
    if database_url is not None:
        env["OPSBOOK_DATABASE_URL"] = database_url
    return env


def api_token(database_url: str, *, person: str | None = None, name: str = "tests") -> str:
    """A new admin API token in the store at ``database_url``, migrated first as ``opsbook
    serve`` would (call it before the server starts, or while it runs); returns the secret.

    With ``person`` the token acts as that person (``user:<person>`` in timelines and the audit
    log), who gets an admin account if they have none; without, it is an automation
    (``token:<name>``). The token never expires.
    """
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            known = {a.person for a in accounts.list_accounts(conn)}
            if person is not None and person not in known:
                accounts.add_account(conn, person=person, role=Role.ADMIN, people={person}, now=now)
            _, secret = accounts.create_token(
                conn,
                name=name,
                role=Role.ADMIN,
                person=person,
                expires_at=None,
                created_by="tests",
                now=now,
            )
    finally:
        engine.dispose()
    return secret


def http_json(
    method: str,
    url: str,
    body: object = None,
    *,
    token: str | None = None,
    timeout_s: float = 10.0,
) -> tuple[int, Any]:
    """One request; returns the status and the decoded JSON body (``None`` when empty).

    HTTP error statuses are returned, not raised; connection errors raise ``OSError``.
    """
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw.strip() else None


class Server:
    """A running ``opsbook serve``: ``process``, ``url`` and the stderr ``lines`` read so far.

    The constructor returns once the server listens, and raises ``RuntimeError`` with its log
    (after killing it) if it exits or stays silent for ``START_TIMEOUT_S``. ``log_path`` also
    gets every line as it arrives; ``cpus`` pins the process; ``token`` (from ``api_token``) is
    sent as the Bearer credential of ``request`` and ``request_json`` unless they are given
    another. Call ``close()`` when done.
    """

    def __init__(
        self,
        config: Path,
        *,
        env: Mapping[str, str],
        cpus: str | None = None,
        log_path: Path | None = None,
        token: str | None = None,
    ) -> None:
        self.token = token
        command = [sys.executable, "-m", "opsbook", "serve", "--config", str(config)]
        self.process = subprocess.Popen(
            pinned([*command, "--port", "0"], cpus),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=dict(env),
        )
        self.url = ""
        self.lines: list[str] = []
        self._log_path = log_path
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, name="opsbook-serve-log", daemon=True)
        self._reader.start()
        if not self._listening.wait(START_TIMEOUT_S) or not self.url:
            self.close()
            raise RuntimeError("opsbook serve did not start:\n" + "".join(self.lines))

    def _read(self) -> None:
        assert self.process.stderr is not None
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(self._log_path.open("w")) if self._log_path else None
            for line in self.process.stderr:
                self.lines.append(line)
                if log is not None:
                    log.write(line)
                    log.flush()
                if '"listening"' in line and not self.url:
                    with contextlib.suppress(ValueError, KeyError):
                        self.url = json.loads(line)["url"]
                        self._listening.set()
        self._listening.set()  # the process ended; stop waiting either way

    @property
    def pid(self) -> int:
        return self.process.pid

    def records(self) -> list[dict[str, Any]]:
        """The log lines, decoded (every stderr line is JSON, uvicorn's included)."""
        return [json.loads(line) for line in self.lines]

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
        """The status and text of one request; HTTP error statuses are returned, not raised."""
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def request_json(
        self, method: str, path: str, body: object = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        """``http_json`` against this server, with ``token`` or else the server's own."""
        return http_json(method, self.url + path, body, token=token or self.token)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig``, wait for the exit and the last log line; returns the exit code."""
        self.process.send_signal(sig)
        code = self.process.wait(timeout=STOP_TIMEOUT_S)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        """Kill the process if it still runs and release its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()
