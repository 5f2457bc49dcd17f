"""`opsbook demo` and `opsbook demo-service`: the bundled demo service, alone or watched by opsbook.

``demo`` runs the demo service in a thread of this process and ``opsbook serve`` as a child
process, so that stopping the demo (Ctrl-C, SIGTERM, ``--for``) stops both and leaves nothing
behind. The demo's state lives under ``--data-dir`` (default ``.opsbook-demo/`` next to the
config: for the bundled config that is the store its ``store.url`` names, so every command given
``--config examples/demo/opsbook.yaml`` reads the demo's store). Before serve starts, the store
gets the demo's admin login and an API token the CLI finds (cli/demo_access.py), so the printed
commands, which go through the server's API, work as printed.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

from opsbook.cli.client import TOKEN_ENV, server_url
from opsbook.cli.context import CliContext, get_context
from opsbook.cli.demo_access import DemoAccess, ensure_access, require_demo_person
from opsbook.cli.demo_panel import Invocation, demo_panel, service_panel
from opsbook.cli.stop import StopSignal
from opsbook.cli.stores import store_target
from opsbook.config import Config, load
from opsbook.demo import DEMO_TRAFFIC_RPS, DemoServer, DemoState, create_demo_app
from opsbook.errors import InputError, OpsbookError

HOST = "127.0.0.1"
DEFAULT_SERVICE_PORT = 8081  # the port the bundled config's DEMO_URL default names
DEFAULT_CONFIG = Path("examples/demo/opsbook.yaml")
# First start of `opsbook serve` creates the SQLite schema; give a slow CI machine room.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 20

ConfigOpt = Annotated[
    Path, typer.Option("--config", help="The opsbook.yaml that watches the demo service.")
]
PortOpt = Annotated[int, typer.Option("--port", help="Port for opsbook serve.", min=1, max=65535)]
ServicePortOpt = Annotated[
    int, typer.Option("--service-port", help="Port for the demo service.", min=1, max=65535)
]
ForOpt = Annotated[
    float | None,
    typer.Option("--for", help="Stop by itself this many seconds after start-up (for CI).", min=0),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the demo keeps its SQLite store and log (default: .opsbook-demo next to "
        "the config).",
        show_default=False,
    ),
]
DATA_DIR_NAME = ".opsbook-demo"


def demo(
    ctx: typer.Context,
    config: ConfigOpt = DEFAULT_CONFIG,
    port: PortOpt = 8080,
    service_port: ServicePortOpt = DEFAULT_SERVICE_PORT,
    duration_s: ForOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run opsbook against the bundled demo service until Ctrl-C."""
    cli = get_context(ctx)
    data_dir = data_dir if data_dir is not None else config.parent / DATA_DIR_NAME
    if not config.is_file():
        raise InputError(
            f"--config: {config} does not exist (run from the opsbook repository root, "
            f"or pass --config PATH to an opsbook.yaml)",
            field="--config",
        )
    if port == service_port:
        raise InputError(
            f"--port and --service-port are both {port}; choose two different ports",
            field="--port",
        )
    store = data_dir / "opsbook.db"
    env = {
        **cli.environ,
        "OPSBOOK_DATABASE_URL": f"sqlite:///{store.resolve()}",
        "DEMO_URL": f"http://{HOST}:{service_port}",
        "PYTHONUNBUFFERED": "1",
    }
    # A broken config gets its file:line errors here, before anything starts (and before the
    # ports are looked at: fixing the file is the first thing to do either way), instead of as
    # the tail of the child's log.
    loaded = load(config, environ=env)
    require_demo_person(loaded)
    opsbook_url = f"http://{HOST}:{port}"
    run = _invocation(
        cli, loaded, config=config, store=store, service_port=service_port, server=opsbook_url
    )
    _require_free(port, option="--port", what="opsbook serve")
    _require_free(service_port, option="--service-port", what="the demo service")

    data_dir.mkdir(parents=True, exist_ok=True)
    access = ensure_access(
        loaded,
        store_url=f"sqlite:///{store.resolve()}",
        data_dir=data_dir,
        server=opsbook_url,
        environ=cli.environ,
        actor=_actor(cli),
        now=cli.clock.now(),
    )
    service = _start_service(service_port, option="--service-port")
    try:
        _run_serve(
            cli,
            config=config,
            port=port,
            service=service,
            env=env,
            data_dir=data_dir,
            duration_s=duration_s,
            run=run,
            access=access,
        )
    finally:
        service.stop()
    cli.console.print("Stopped.")


def _run_serve(
    cli: CliContext,
    *,
    config: Path,
    port: int,
    service: DemoServer,
    env: dict[str, str],
    data_dir: Path,
    duration_s: float | None,
    run: Invocation,
    access: DemoAccess,
) -> None:
    """Run ``opsbook serve`` as a child until a stop signal, ``duration_s``, or its own exit."""
    opsbook_url = f"http://{HOST}:{port}"
    log_path = data_dir / "serve.log"
    command = [sys.executable, "-m", "opsbook", "serve", "--config", str(config)]
    command += ["--host", HOST, "--port", str(port)]
    with StopSignal() as stop, log_path.open("wb") as log:
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            urls = [f"{service.url}/healthz", f"{opsbook_url}/health"]
            with cli.console.status("Starting the demo service and opsbook serve..."):
                _wait_until_up(urls, child=child, log=log_path, stop=stop)
            if not stop.is_set():
                panel = demo_panel(
                    service_url=service.url,
                    opsbook_url=opsbook_url,
                    log=log_path,
                    run=run,
                    access=access,
                )
                # soft_wrap: a command longer than the terminal stays one line, so it pastes.
                cli.console.print(panel, soft_wrap=True)
                if cli.environ.get(TOKEN_ENV, "").strip():
                    cli.err_console.print(
                        f"note: ${TOKEN_ENV} is set, and the CLI sends it instead of the demo's "
                        f"token; unset it to run the commands above as printed",
                        highlight=False,
                    )
            reason = stop.wait(duration_s=duration_s, child=child)
            if reason == "child":
                raise OpsbookError(_died("opsbook serve", child, log_path))
            cli.console.print(f"Stopping ({reason})...")
        finally:
            _stop_child(child)


def demo_service(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = HOST,
    port: PortOpt = 8081,
    duration_s: ForOpt = None,
) -> None:
    """Run only the demo service, with its fault API, until Ctrl-C."""
    cli = get_context(ctx)
    server = _start_service(port, option="--port", host=host)
    try:
        cli.console.print(service_panel(server.url), soft_wrap=True)
        with StopSignal() as stop:
            reason = stop.wait(duration_s=duration_s)
        cli.console.print(f"Stopping ({reason})...")
    finally:
        server.stop()


def _actor(cli: CliContext) -> str:
    """Who the audit log says made the demo's account and token: whoever runs the demo."""
    try:
        return f"user:{cli.author()}"
    except InputError:  # no $USER and no login name: still a demo to run
        return "user:demo"


def _invocation(
    cli: CliContext,
    loaded: Config,
    *,
    config: Path,
    store: Path,
    service_port: int,
    server: str,
) -> Invocation:
    """How the printed commands reach this demo: the variables they need, and only those."""
    env: list[tuple[str, str]] = []
    if service_port != DEFAULT_SERVICE_PORT:
        env.append(("DEMO_URL", f"http://{HOST}:{service_port}"))
    # The commands talk to the server the config names (server.public_url), unless the shell's
    # $OPSBOOK_SERVER says otherwise; say which one when that is not the demo's.
    if server_url(loaded, given=None, environ=cli.environ) != server:
        env.append(("OPSBOOK_SERVER", server))
    # Without OPSBOOK_DATABASE_URL a command reads the store the config names; say where the
    # demo's store is unless that is it (and the shell sets no other).
    found = store_target(loaded, config=config, environ=cli.environ).sqlite_file
    if found is None or found.resolve() != store.resolve():
        env.append(("OPSBOOK_DATABASE_URL", f"sqlite:///{store.resolve()}"))
    return Invocation(prog=cli.prog, config=config, env=tuple(env))


def _require_free(port: int, *, option: str, what: str) -> None:
    """Raise ``InputError`` naming ``option`` if something already listens on ``port``."""
    with socket.socket() as probe:
        # The servers we start set SO_REUSEADDR too, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise InputError(
                _in_use(port, option=option, what=what, exc=exc), field=option
            ) from exc


def _in_use(port: int, *, option: str, what: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{option}: port {port} is already in use; choose a free one for {what} with {option}"
        )
    return f"{option}: cannot listen on {HOST}:{port} ({exc.strerror}); try another {option}"


def _start_service(port: int, *, option: str, host: str = HOST) -> DemoServer:
    # Simulated users, so the metric checks and their alerts have traffic to measure.
    app = create_demo_app(DemoState(traffic_rps=DEMO_TRAFFIC_RPS))
    server = DemoServer(app, host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        # Something took the port between our check and the bind.
        raise InputError(
            _in_use(port, option=option, what="the demo service", exc=exc), field=option
        ) from exc
    return server


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _wait_until_up(
    urls: list[str], *, child: subprocess.Popen[bytes], log: Path, stop: StopSignal
) -> None:
    """Poll ``urls`` until each answers 200 or a stop signal arrives.

    Raises ``OpsbookError`` with the end of ``log`` if ``child`` exits, or when time runs out.
    """
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = list(urls)
    while pending and not stop.is_set():
        if child.poll() is not None:
            raise OpsbookError(_died("opsbook serve", child, log))
        pending = [url for url in pending if not _answers(url)]
        if pending and time.monotonic() > deadline:
            raise OpsbookError(
                f"{', '.join(pending)} did not answer within {START_TIMEOUT_S:g}s; see {log}"
            )
        if pending:
            time.sleep(0.2)


def _died(what: str, child: subprocess.Popen[bytes], log: Path) -> str:
    tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    output = "\n".join(f"  {line}" for line in tail) if tail else "  (no output)"
    return f"{what} exited with code {child.returncode}; the end of {log}:\n{output}"


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it does not stop in time."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
