"""Structured logs: one JSON object per line on stderr, with secrets masked on the way out.

``configure()`` is called once by the process entry point (``opsbook serve``); nothing here runs
at import time. Library loggers (uvicorn, alembic) go through the same handler, so every line on
stderr is JSON. Code logs with ``structlog.get_logger(__name__)``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
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


def configure(
    *, stream: TextIO | None = None, level: int = logging.INFO, secrets: Iterable[str] = ()
) -> None:
    """Send all logs (structlog and stdlib) to ``stream`` (default stderr) as JSON lines.

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
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
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
