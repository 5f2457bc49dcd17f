"""Structured logs: one JSON object per line on stderr, with secrets masked on the way out.

``configure()`` is called once by the process entry point (``opsbook serve``); nothing here runs
at import time. Library loggers (uvicorn, alembic) go through the same handler, so every line on
stderr is JSON. Code logs with ``structlog.get_logger(__name__)``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from opsbook.redaction import MASK, Secret, mask_values, redact_text, redact_url

_HANDLER_NAME = "opsbook-json"


class Redactor:
    """A structlog processor that masks ``Secret`` objects, URL passwords and known secret values.

    ``secrets`` are plaintexts masked wherever they occur, which also catches a password that
    a driver or library prints outside a URL.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(_maskable(secrets))

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self._clean(value) for key, value in event_dict.items()}

    def _clean(self, value: object) -> Any:
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, str):
            return mask_values(redact_text(value), self._secrets)
        if isinstance(value, Mapping):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        # Anything else is rendered by the JSON renderer with str(); redact that text now.
        return mask_values(redact_text(str(value)), self._secrets)


def _maskable(secrets: Iterable[str]) -> Iterable[str]:
    """The values worth masking by value. A URL secret contributes its password; one with
    nothing to hide (``sqlite:///opsbook.db``) contributes nothing, so paths stay readable.
    """
    for value in secrets:
        if "://" not in value:
            yield value
            continue
        if redact_url(value) == value:
            continue
        yield value
        with contextlib.suppress(ValueError):
            password = urlsplit(value).password
            if password:
                yield unquote(password)
                yield password


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes INFO and DEBUG lines in batches, at most ``interval_s``
    late, and a WARNING or worse at once (with everything before it, in order).

    Why: stderr is line-buffered, so each line was a ``write()`` system call, and each system
    call gives the GIL away. The server logs one line per request: under twenty clients the
    event loop then waited for a pool thread to hand the GIL back once a request (py-spy:
    6 % of the overview's CPU in ``StreamHandler.emit``). nginx's ``access_log ... buffer=
    flush=`` makes the same trade. What it costs: a ``kill -9`` loses at most ``interval_s``
    of INFO lines; a clean stop (``logging.shutdown`` at exit) flushes them.
    """

    def __init__(self, stream: TextIO, *, interval_s: float = 0.2, limit: int = 64 * 1024) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._size = 0
        self._limit = limit
        self._stopped = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(interval_s,), name="log-flush", daemon=True
        )
        self._flusher.start()

    def _flush_every(self, interval_s: float) -> None:
        while not self._stopped.wait(interval_s):
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        # Handler.handle() holds self.lock around emit().
        self._pending.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= self._limit:
            self.flush()

    def flush(self) -> None:
        with self.lock if self.lock is not None else contextlib.nullcontext():
            if self._pending:
                lines, self._pending, self._size = "".join(self._pending), [], 0
                with contextlib.suppress(ValueError, OSError):  # a closed stream at exit
                    self.stream.write(lines)
            with contextlib.suppress(ValueError, OSError):
                self.stream.flush()

    def close(self) -> None:
        self._stopped.set()
        self.flush()
        super().close()


def flush() -> None:
    """Write out what the handler ``configure()`` installed holds (``BatchedStreamHandler``)."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _HANDLER_NAME:
            handler.flush()


def configure(
    *,
    stream: TextIO | None = None,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
    batch_s: float | None = None,
) -> None:
    """Send all logs (structlog and stdlib) to ``stream`` (default stderr) as JSON lines.

    ``batch_s``: write INFO lines in batches at most that late (``BatchedStreamHandler``; the
    server's choice); ``None`` writes each line as it comes.

    Replaces any handler a previous call installed, so calling it twice does not double lines.
    Side effects: configures structlog globally and the root stdlib logger.
    """
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            Redactor(secrets),
            structlog.processors.JSONRenderer(),
        ],
    )
    target = stream if stream is not None else sys.stderr
    handler: logging.Handler = (
        logging.StreamHandler(target)
        if batch_s is None
        else BatchedStreamHandler(target, interval_s=batch_s)
    )
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates its runtime context at INFO ("Context impl SQLiteImpl."); we log our own.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Off so structlog.testing.capture_logs() and a later configure() reach every logger.
        cache_logger_on_first_use=False,
    )
