"""Secrets as a type, and redacted forms of anything that may carry one (STYLE.md R18).

``Secret`` masks both ``str`` and ``repr``: an f-string in a log line cannot leak it. The one place
that needs the plaintext calls ``.reveal()``. ``redact_url`` masks passwords, tokens in query
strings, and the path of webhook URLs (Slack, Discord and friends keep the token in the path).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import BaseModel, GetCoreSchemaHandler
from pydantic_core import core_schema

MASK = "***"

# Query parameters whose value is a credential in the URLs people paste into configs.
_SECRET_PARAMS = frozenset(
    {
        "password",
        "pass",
        "passwd",
        "pwd",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "secret",
        "sig",
        "signature",
        "auth",
        "sslpassword",
        "routing_key",
        "integration_key",
    }
)
# Hosts whose URL path is itself the credential (incoming webhooks).
_PATH_SECRET_HOSTS = (
    "hooks.slack.com",
    "discord.com",
    "discordapp.com",
    "webhook.office.com",
    "api.telegram.org",
    "hooks.zapier.com",
    "events.pagerduty.com",
)
# DSN schemes whose user name is an account name, not a token.
_USER_IS_NOT_SECRET = ("postgres", "mysql", "mariadb", "sqlite", "redis", "rediss", "amqp", "smtp")
_KEYWORD_DSN = re.compile(r"(?i)\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


class Secret:
    """A string that never shows itself. Compare with ``==``; read with ``reveal()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            lambda v: v if isinstance(v, Secret) else Secret(v),
            core_schema.union_schema(
                [core_schema.is_instance_schema(cls), core_schema.str_schema()]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: MASK),
        )


def redact_url(url: str) -> str:
    """``url`` with its password, credential query parameters and webhook token path masked.

    Works for DSNs too (``postgresql+psycopg://user:pw@host/db``). Text without ``://`` is treated
    as a libpq keyword DSN (``host=x password=y``): only its password is masked.
    """
    if "://" not in url:
        return _KEYWORD_DSN.sub(lambda m: f"{m.group(1)}={MASK}", url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        _, hostport = netloc.rsplit("@", 1)
        if parts.password is not None:
            netloc = (
                f"{parts.username}:{MASK}@{hostport}" if parts.username else f"{MASK}@{hostport}"
            )
        elif not parts.scheme.startswith(_USER_IS_NOT_SECRET):
            # https://TOKEN@host: a lone userinfo is a credential everywhere but in DSNs.
            netloc = f"{MASK}@{hostport}"
    path = parts.path
    if _is_path_secret_host(host) and path not in {"", "/"}:
        first = path.strip("/").split("/", 1)[0]
        path = f"/{first}/{MASK}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    rest = f"{path}{'?' + query if query else ''}{'#' + parts.fragment if parts.fragment else ''}"
    return f"{parts.scheme}://{netloc}{rest}"


def _is_path_secret_host(host: str) -> bool:
    return any(host == h or host.endswith("." + h) for h in _PATH_SECRET_HOSTS)


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value replaced by the mask (longest first)."""
    for value in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


# A URL or DSN inside free text: scheme, "://", then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+)")


def redact_text(text: str) -> str:
    """``text`` with each URL in it passed through ``redact_url`` and DSN passwords masked."""
    parts = _URL_IN_TEXT.split(text)
    # re.split with one group alternates: text, url, text, url, ..., text
    return "".join(redact_url(part) for part in parts)


def secret_values(obj: object) -> list[str]:
    """Every ``Secret``'s plaintext inside ``obj`` (a pydantic model, mapping or sequence)."""
    found: list[str] = []
    stack: list[object] = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, Secret):
            found.append(item.reveal())
        elif isinstance(item, BaseModel):
            stack.extend(getattr(item, name) for name in type(item).model_fields)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return found
