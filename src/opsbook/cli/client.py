"""The CLI as a client of the server's API, as ``amtool`` and ``kubectl`` are (issue 12).

A command finds the server and a token, sends requests, and shows the answers, so it sees
exactly what the server sees (the same store, the same permissions). Only ``serve``, ``db``,
``check`` and the account bootstrap commands open the store themselves.

Which server: ``--server``, else ``$OPSBOOK_SERVER``, else the config's ``server.public_url``,
else ``http://<server.host>:<server.port>`` (a wildcard host is reached on loopback).
Which token: ``$OPSBOOK_TOKEN``, else the one ``opsbook login`` saved for that server in
``$XDG_CONFIG_HOME/opsbook/tokens.json`` (``~/.config/opsbook/tokens.json``; mode 0600).

Errors come back as the server words them: a 4xx becomes the matching ``OpsbookError`` with the
server's message, so the CLI prints one red line and exits 2 (or 1), never a traceback. HTTP uses
the standard library (``urllib``): nothing to import at start beyond what Python has loaded.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsbook.errors import (
    Conflict,
    Forbidden,
    InputError,
    NotFound,
    OpsbookError,
    StoreError,
    Throttled,
    Unauthenticated,
)

SERVER_ENV = "OPSBOOK_SERVER"
TOKEN_ENV = "OPSBOOK_TOKEN"
TIMEOUT_S = 30.0
_WILDCARDS = {"0.0.0.0", "::", ""}

if TYPE_CHECKING:
    from opsbook.config import Config
    from opsbook.config.client import ClientConfig


class Unreachable(OpsbookError):
    """The server did not answer (refused, timed out, name unknown)."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


Transport = Callable[[str, str, Mapping[str, str], bytes | None], Answer]
"""``(method, url, headers, body) -> Answer``: urllib by default; tests pass one that calls
the app in-process (tests/cli_api.py)."""


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers.items()), exc.read())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        base = url.split("/api/", 1)[0]
        raise Unreachable(
            f"cannot reach the opsbook server at {base} ({reason}); is `opsbook serve` "
            f"running? Point at another with --server URL or ${SERVER_ENV}"
        ) from None


def server_url(
    config: ClientConfig | Config | None, *, given: str | None, environ: Mapping[str, str]
) -> str:
    """The base URL of the server to talk to (no trailing slash)."""
    chosen = (given or environ.get(SERVER_ENV, "")).strip()
    if not chosen and config is not None:
        if config.server.public_url is not None:
            chosen = str(config.server.public_url)
        else:
            host = config.server.host
            host = "127.0.0.1" if host in _WILDCARDS else host
            host = f"[{host}]" if ":" in host else host
            chosen = f"http://{host}:{config.server.port}"
    if not chosen:
        chosen = "http://127.0.0.1:8080"
    parsed = urllib.parse.urlsplit(chosen)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError("--server: use a URL such as http://127.0.0.1:8080", field="--server")
    return chosen.rstrip("/")


def tokens_file(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base) if base else Path(environ.get("HOME", "~")).expanduser() / ".config"
    return root / "opsbook" / "tokens.json"


def saved_tokens(environ: Mapping[str, str]) -> dict[str, str]:
    path = tokens_file(environ)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the saved tokens ({exc})", field="tokens") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_token(environ: Mapping[str, str], server: str, token: str | None) -> Path:
    """Save (or with None, forget) ``token`` for ``server``; the file is private (0600)."""
    path = tokens_file(environ)
    tokens = saved_tokens(environ)
    if token is None:
        tokens.pop(server, None)
    else:
        tokens[server] = token
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(tokens, out, indent=2, sort_keys=True)
    path.with_suffix(".tmp").replace(path)
    path.chmod(0o600)
    return path


def token_for(server: str, environ: Mapping[str, str]) -> str | None:
    given = environ.get(TOKEN_ENV, "").strip()
    return given or saved_tokens(environ).get(server)


_ERRORS: dict[int, type[OpsbookError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


class ApiClient:
    """Requests to one server with one token; ``get``/``post``/``patch``/``delete`` return
    the decoded JSON answer or raise the ``OpsbookError`` the server's status means."""

    def __init__(self, base: str, token: str | None, *, transport: Transport | None = None):
        self.base = base
        self.token = token
        self._transport = transport or urllib_transport

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: str = "application/json",
    ) -> Answer:
        url = self.base + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        headers = {"Accept": accept, "User-Agent": "opsbook-cli"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        answer = self._transport(method, url, headers, data)
        if answer.status >= 400:
            raise self._error(answer)
        return answer

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body={} if body is None else body).json()

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body).json()

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params).json()

    def _error(self, answer: Answer) -> OpsbookError:
        message, field = answer.text.strip()[:500], ""
        try:
            detail = answer.json()["error"]
            message, field = str(detail["message"]), str(detail.get("field") or "")
        except (ValueError, KeyError, TypeError):
            pass
        if answer.status == 401:
            hint = (
                f"; log in with `opsbook login` (or set ${TOKEN_ENV})"
                if not self.token
                else f"; your token for {self.base} was refused: `opsbook login` again"
            )
            return Unauthenticated(message + hint)
        if answer.status == 429:
            retry = answer.headers.get("Retry-After", "60")
            return Throttled(message, retry_after_s=int(retry) if retry.isdigit() else 60)
        if answer.status == 503:
            return StoreError(f"the server at {self.base} answered 503: {message}")
        if 400 <= answer.status < 500 and answer.status not in _ERRORS:
            return InputError(message, field=field)
        kind = _ERRORS.get(answer.status)
        if kind is NotFound:
            return NotFound(message, field=field)
        if kind is not None:
            return kind(message)
        return OpsbookError(f"the server at {self.base} answered {answer.status}: {message}")
