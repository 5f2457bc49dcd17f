"""Real peers for the alerting tests and benchmarks: Prometheus, Alertmanager, ``opsbook serve``
and the demo service (``opsbook demo-service``), plus the ``opsbook`` CLI run against a store.

Each one runs as its own process (Debian's ``prometheus`` and ``prometheus-alertmanager``; opsbook
through ``serving.Server``), listens on 127.0.0.1 on a free port, keeps its config, data and log
in the directory it is given, and is stopped when its ``with`` block ends. Nothing here imports
pytest, so ``bench/`` uses it too (with ``tests/`` and ``tests/e2e/`` on ``sys.path``); tests skip
on ``missing()`` themselves.

Waiting is always polling with a deadline (``wait_until``); a timeout names what did not happen
and shows the end of the peer's log.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from opsbook.alerts.models import Alert
from opsbook.alerts.records import row_to_alert
from opsbook.alerts.tables import alert as alert_table
from opsbook.notify.tables import notification as notification_table
from opsbook.store import create_engine
from serving import START_TIMEOUT_S, Server, api_token, http_json, pinned, serve_env

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"
PROMTOOL = "promtool"

T = TypeVar("T")


def missing(*binaries: str) -> list[str]:
    """The binaries of ``binaries`` that are not on PATH (``make system`` installs them)."""
    return [b for b in binaries if shutil.which(b) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout_s: float = START_TIMEOUT_S,
    interval_s: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than ``None``/``False``, and return that.

    Raises ``TimeoutError`` naming ``what`` (and ``detail()``, e.g. a log tail) after
    ``timeout_s``. Connection errors from ``probe`` count as "not yet".
    """
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while True:
        try:
            value = probe()
        except OSError as exc:
            value, last_error = None, f" (last error: {exc})"
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise TimeoutError(f"{what}: not within {timeout_s:g}s{last_error}{extra}")
        time.sleep(interval_s)


@dataclass
class Peer:
    """One running peer: its process, base URL and log file; for opsbook, the admin API
    token its /api/v1 routes want."""

    name: str
    process: subprocess.Popen[Any]
    url: str
    log_path: Path
    lines: list[str] = field(default_factory=list)
    token: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, n: int = 40) -> str:
        text = "".join(self.lines) if self.lines else _read(self.log_path)
        tail = text.splitlines()[-n:]
        return f"--- last {len(tail)} log lines of {self.name} ---\n" + "\n".join(tail)

    def wait_ready(self, path: str, *, timeout_s: float = START_TIMEOUT_S) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}\n{self.log_tail()}"
                )
            with urllib.request.urlopen(self.url + path, timeout=1) as response:
                return bool(response.status == 200)

        wait_until(
            ready,
            what=f"{self.name} ready at {self.url}{path}",
            timeout_s=timeout_s,
            detail=self.log_tail,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


@contextlib.contextmanager
def _running(
    name: str, command: list[str], workdir: Path, *, url: str, ready_path: str, cpus: str | None
) -> Iterator[Peer]:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            pinned(command, cpus), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    peer = Peer(name, process, url, log_path)
    try:
        peer.wait_ready(ready_path)
        yield peer
    finally:
        peer.stop()


# ---------------------------------------------------------------------------------------------
# Prometheus


@dataclass(frozen=True)
class AlertmanagerTarget:
    """Where Prometheus sends alerts: ``alerting.alertmanagers`` with a static target."""

    host_port: str
    token: str | None = None
    path_prefix: str = "/"


def check_rules(path: Path) -> str:
    """``promtool check rules path``; returns its output, raises ``ValueError`` if it refuses."""
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise ValueError(f"promtool check rules {path} failed:\n{output}")
    return output


def prometheus_config(
    *,
    scrape: Mapping[str, str],
    rule_files: Sequence[Path] = (),
    alertmanager: AlertmanagerTarget | None = None,
    interval: str = "1s",
) -> dict[str, Any]:
    """A ``prometheus.yml`` (as a dict; JSON is YAML): ``scrape`` maps job -> ``host:port``."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in scrape.items()
        ],
        "rule_files": [str(p) for p in rule_files],
    }
    if alertmanager is not None:
        am: dict[str, Any] = {
            "api_version": "v2",
            "scheme": "http",
            "path_prefix": alertmanager.path_prefix,
            "timeout": "5s",
            "static_configs": [{"targets": [alertmanager.host_port]}],
        }
        if alertmanager.token is not None:
            am["authorization"] = {"credentials": alertmanager.token}
        config["alerting"] = {"alertmanagers": [am]}
    return config


@contextlib.contextmanager
def prometheus(
    workdir: Path,
    *,
    scrape: Mapping[str, str],
    rules: str | None = None,
    alertmanager: AlertmanagerTarget | None = None,
    interval: str = "1s",
) -> Iterator[Peer]:
    """Prometheus scraping ``scrape`` (job -> ``host:port``) every ``interval``, evaluating
    ``rules`` (a rule file's text, checked with promtool first) and sending to ``alertmanager``.

    Firing alerts are re-sent every second (``--rules.alert.resend-delay``) rather than every
    minute, so a receiver that missed one sees it again soon.
    """
    home = workdir / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    rule_files: list[Path] = []
    if rules is not None:
        rule_file = home / "rules.yml"
        rule_file.write_text(rules, encoding="utf-8")
        check_rules(rule_file)
        rule_files.append(rule_file)
    config_file = home / "prometheus.yml"
    config = prometheus_config(
        scrape=scrape, rule_files=rule_files, alertmanager=alertmanager, interval=interval
    )
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    port = free_port()
    command = [
        PROMETHEUS,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
        "--log.level=info",
    ]
    with _running(
        "prometheus",
        command,
        home,
        url=f"http://127.0.0.1:{port}",
        ready_path="/-/ready",
        cpus=None,
    ) as peer:
        yield peer


def wait_targets_up(peer: Peer, *, job: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until every target of ``job`` has been scraped successfully (``health: up``)."""

    def up() -> bool:
        status, body = http_json("GET", f"{peer.url}/api/v1/targets?state=active")
        targets = [t for t in body["data"]["activeTargets"] if t["labels"].get("job") == job]
        return status == 200 and bool(targets) and all(t["health"] == "up" for t in targets)

    wait_until(up, what=f"Prometheus target {job} up", timeout_s=timeout_s, detail=peer.log_tail)


def query(peer: Peer, expr: str) -> list[dict[str, Any]]:
    """Prometheus' own answer to an instant query (the ``result`` list), for assertions."""
    url = f"{peer.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = http_json("GET", url)
    if status != 200:
        raise RuntimeError(f"query {expr!r} answered {status}: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


# ---------------------------------------------------------------------------------------------
# Alertmanager


@contextlib.contextmanager
def alertmanager(workdir: Path, *, config: str, cpus: str | None = None) -> Iterator[Peer]:
    """Alertmanager with ``config`` (alertmanager.yml text, checked by ``amtool``), clustering
    off, data in ``workdir``. ``cpus`` pins it (``taskset -c``), for benchmarks."""
    home = workdir / "alertmanager"
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "alertmanager.yml"
    config_file.write_text(config, encoding="utf-8")
    if shutil.which("amtool"):
        done = subprocess.run(
            ["amtool", "check-config", str(config_file)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise ValueError(f"amtool check-config failed:\n{done.stdout}{done.stderr}")
    port = free_port()
    command = [
        ALERTMANAGER,
        f"--config.file={config_file}",
        f"--storage.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=info",
    ]
    with _running(
        "alertmanager",
        command,
        home,
        url=f"http://127.0.0.1:{port}",
        ready_path="/-/ready",
        cpus=cpus,
    ) as peer:
        yield peer


# ---------------------------------------------------------------------------------------------
# opsbook serve


@contextlib.contextmanager
def opsbook_serve(
    workdir: Path,
    *,
    config: str,
    database_url: str,
    cpus: str | None = None,
    home: str = "opsbook",
    person: str | None = None,
) -> Iterator[Peer]:
    """``opsbook serve`` on a free port with ``config`` (opsbook.yaml text) and its store at
    ``database_url``. Ready once it logs ``listening`` and /health answers; its JSON log lines
    are kept on ``Peer.lines``. Config and log live in ``workdir/home`` (give a restart its own
    ``home`` to keep the first run's log). ``Peer.token`` is an admin token made in the store
    before the start (``serving.api_token``; acting as ``person`` if given)."""
    folder = workdir / home
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / "opsbook.yaml"
    config_file.write_text(config, encoding="utf-8")
    log_path = folder / "opsbook.log"
    token = api_token(database_url, person=person)
    server = Server(
        config_file, env=serve_env(database_url), cpus=cpus, log_path=log_path, token=token
    )
    peer = Peer("opsbook", server.process, server.url, log_path, server.lines, token=token)
    try:
        peer.wait_ready("/health")
        yield peer
    finally:
        peer.stop()
        server.close()


def opsbook_cli(
    config_file: Path,
    *args: str,
    database_url: str,
    server: Peer | None = None,
    user: str | None = None,
    timeout_s: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """``python -m opsbook ARGS --config CONFIG`` against the store at ``database_url`` and, for
    the commands that are clients of the API, ``server`` with its token; ``user`` is ``$USER``.
    In a wide, colourless terminal; returns the finished process (the caller checks its code)."""
    env = {**serve_env(database_url), "COLUMNS": "200", "NO_COLOR": "1"}
    if server is not None:
        env |= {"OPSBOOK_SERVER": server.url, "OPSBOOK_TOKEN": server.token or ""}
    if user is not None:
        env |= {"USER": user, "LOGNAME": user}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "opsbook", *args, "--config", str(config_file)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )


# ---------------------------------------------------------------------------------------------
# The demo service


@contextlib.contextmanager
def demo_service(workdir: Path) -> Iterator[Peer]:
    """``opsbook demo-service`` on a free port, as its own process; ready once /healthz answers
    (stage nothing before that). Stopped (SIGTERM) when the block ends."""
    home = workdir / "demo-service"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "opsbook", "demo-service", "--port", str(port)]
    with _running(
        "demo-service",
        command,
        home,
        url=f"http://127.0.0.1:{port}",
        ready_path="/healthz",
        cpus=None,
    ) as peer:
        yield peer


def stage_faults(demo: Peer, faults: Mapping[str, object]) -> None:
    """``POST /_faults`` on the demo service (``{}`` clears every fault)."""
    status, body = http_json("POST", f"{demo.url}/_faults", dict(faults))
    if status != 200:
        raise RuntimeError(f"POST /_faults {dict(faults)} answered {status}: {body}")


# ---------------------------------------------------------------------------------------------
# What opsbook stored


def stored_alerts(database_url: str) -> list[Alert]:
    """Every alert row in the store at ``database_url``, oldest first (read while it runs)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(alert_table).order_by(alert_table.c.id)).all()
            return [row_to_alert(row) for row in rows]
    finally:
        engine.dispose()


def stored_notifications(database_url: str) -> list[dict[str, Any]]:
    """Every outbox row in the store at ``database_url`` (as dicts), oldest first."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(notification_table).order_by(notification_table.c.id)
            ).all()
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()
