"""The few keys a CLI client command reads from ``opsbook.yaml`` (``service``, ``timezone`` and
``server``), without building the validated ``Config`` (issue 15: the models cost 0.26 s of a
0.5 s ``opsbook oncall who``).

``load_client(path)`` reads the file as ``load`` does (YAML with positions, ``${ENV}``) and
checks only those keys. It never words an error itself: when any of them is missing, of an
unexpected shape or invalid, or the file cannot be read, it calls ``load``, which raises the
``ConfigError`` (file:line, dotted path) or, if the models accept what this module doubted,
returns the ``Config``. So what it accepts is a subset of what ``load`` accepts, with the same
values (tests/config/test_client.py holds that); problems elsewhere in the file are for the
server and ``opsbook check``, which validate everything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from opsbook.config.document import read_document

if TYPE_CHECKING:
    from opsbook.config.schema import Config

# As fields.check_service_name: the models say why a name is refused, this only decides.
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SERVER_KEYS = frozenset({"host", "port", "public_url"})


@dataclass(frozen=True)
class ClientServer:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None


@dataclass(frozen=True)
class ClientConfig:
    """What a client command reads from the config: the same names and values as ``Config``."""

    service: str
    timezone: str = "UTC"
    server: ClientServer = ClientServer()


def load_client(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> ClientConfig | Config:
    """The service name, timezone and server of the config at ``path``; ``load(path)`` (the
    whole ``Config``, or its ``ConfigError``) when these keys need the models' judgement."""
    env = os.environ if environ is None else environ
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    found = _read(text, env) if text is not None else None
    if found is not None:
        return found
    from opsbook.config.loader import load

    return load(path, environ=env)


def _read(text: str, environ: Mapping[str, str]) -> ClientConfig | None:
    doc = read_document(text, environ=environ)
    data = doc.data
    if not isinstance(data, dict):
        return None
    if any(not loc or loc[0] in ("service", "timezone", "server") for loc, *_ in doc.problems):
        return None
    service = data.get("service")
    if not isinstance(service, str) or not _SERVICE.fullmatch(service):
        return None
    timezone = data.get("timezone", "UTC")
    if not isinstance(timezone, str) or not _is_zone(timezone):
        return None
    server = _server(data.get("server", {}))
    if server is None:
        return None
    return ClientConfig(service=service, timezone=timezone, server=server)


def _server(raw: object) -> ClientServer | None:
    if not isinstance(raw, dict) or not set(raw) <= _SERVER_KEYS:
        return None
    host = raw.get("host", ClientServer.host)
    port = raw.get("port", ClientServer.port)
    public_url = raw.get("public_url")
    if not isinstance(host, str):
        return None
    if type(port) is not int or not 1 <= port <= 65535:
        return None
    if public_url is not None and not (isinstance(public_url, str) and _is_http_url(public_url)):
        return None
    return ClientServer(host=host, port=port, public_url=public_url)


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        return False
