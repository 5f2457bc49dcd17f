"""`opsbook serve`: run the web server (API, health, metrics) and the background runner."""

from __future__ import annotations

import gc
import importlib.util
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import structlog
import typer
import uvicorn

from opsbook import logging as opsbook_logging
from opsbook.cli.bind_guard import check_bind
from opsbook.cli.context import get_context
from opsbook.cli.stores import make_sqlite_folder, store_target
from opsbook.config import load
from opsbook.errors import OpsbookError
from opsbook.redaction import secret_values
from opsbook.runbooks.registry import load_for_config
from opsbook.statuspage.publish import anchored
from opsbook.store import display_url
from opsbook.web import create_app

log = structlog.get_logger("opsbook.serve")

LOG_BATCH_S = 0.2
"""INFO log lines (one per request) are written at most this late; warnings and errors at once."""
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            log.info("listening", url=_bound_url(self))


def _bound_url(server: uvicorn.Server) -> str:
    """The URL actually bound; with ``--port 0`` that is the port the kernel picked."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            return f"http://{host}:{port}"
    return f"http://{server.config.host}:{server.config.port}"


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Swallows the signal uvicorn re-raises after its graceful shutdown (see ``serve``)."""


def serve(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False)
    ] = Path("opsbook.yaml"),
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: server.host from the config).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port to bind; 0 picks a free one (default: server.port)."
        ),
    ] = None,
) -> None:
    """Run the server until SIGTERM or Ctrl-C, then shut down gracefully and exit 0."""
    cli = get_context(ctx)
    loaded = load(config, environ=cli.environ)
    target = store_target(loaded, config=config, environ=cli.environ)
    make_sqlite_folder(target)
    store_url = target.url
    # The app resolves the store from its config: hand it the URL the CLI's commands also use
    # for this config (a relative SQLite path anchored at the config's folder).
    cfg = loaded.model_copy(update={"store": loaded.store.model_copy(update={"url": store_url})})
    # status_page.logo and publish.dir are relative to the config file, like a SQLite path.
    cfg = anchored(cfg, folder=config.parent)
    opsbook_logging.configure(
        stream=sys.stderr,
        secrets=[store_url.reveal(), *secret_values(cfg)],
        batch_s=LOG_BATCH_S,
    )
    bind_host = host if host is not None else cfg.server.host
    check_bind(bind_host, url=store_url, prog=cli.prog)
    # Loaded once: a runbook edited later is served after a restart. A broken one does not stop
    # the server; its problems are logged here and listed by GET /api/v1/runbooks.
    runbooks = load_for_config(config, loaded, environ=cli.environ)
    for problem in runbooks.problems:
        log.warning("runbook_problem", problem=str(problem))
    app = create_app(cfg, environ=cli.environ, runbooks=runbooks)
    server = _Server(
        uvicorn.Config(
            app,
            host=bind_host,
            port=port if port is not None else cfg.server.port,
            # uvloop is a hard dependency off Windows; fall back rather than fail where it is not.
            loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
            log_config=None,
            access_log=False,
            server_header=False,
        )
    )
    log.info("starting", store=display_url(store_url), config=str(config))
    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's reach, so a full collection walks only what requests make. Without this a
    # full collection every few seconds stopped every request for 75-90 ms, the overview's p99
    # at 20 clients (docs/benchmarks.md); with it, 12-20 ms.
    gc.collect()
    gc.freeze()
    # uvicorn restores the previous handlers after shutdown and then re-raises the signal it
    # caught, so the default action would kill us (exit -15) after a clean stop. Installing a
    # no-op handler first makes that re-raise harmless and the process exits 0.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in _STOP_SIGNALS}
    try:
        server.run()
    except SystemExit:
        # uvicorn calls sys.exit(3) when it cannot bind; report it through the CLI boundary.
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Batched log lines before anything the CLI prints, so "see the log lines above" holds.
        opsbook_logging.flush()
    if not server.started:
        raise OpsbookError("the server did not start; see the log lines above")
    log.info("stopped")
