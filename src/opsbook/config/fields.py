"""Validated string types the schema shares: names, timezones, URLs, cron text.

Each validator raises ``ValueError`` with the whole user-facing sentence, naming what is accepted.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from opsbook.redaction import redact_url

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SEVERITY = re.compile(r"SEV[0-9]|P[0-9]")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def check_slug(value: str) -> str:
    if "/" in value:
        # A channel's URL pasted where its name belongs: never echo it, its path is the token.
        raise ValueError(
            "is a URL, not an id (name an entry instead, e.g. a channel defined under "
            "channels; the value is not shown: it may hold a token)"
        )
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid id (use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit)"
        )
    return value


def check_service_name(value: str) -> str:
    if not _SERVICE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid service name (use letters, digits, '.', '-' and '_')"
        )
    return value


def check_severity_name(value: str) -> str:
    if not _SEVERITY.fullmatch(value):
        raise ValueError(f"{value!r} is not a severity name (use SEV1..SEV9 or P0..P9)")
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a timezone (use an IANA name such as UTC or Europe/Berlin)"
        ) from None
    return value


def check_http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        # The URL may carry a token, so the message shows its redacted form only.
        raise ValueError(f"{redact_url(value)!r} is not an http:// or https:// URL")
    return value


def origin(value: str) -> str | None:
    """``scheme://host`` of a URL, the most of a channel URL a message may show (its path,
    user and query can all be the credential); None when it has no scheme or host."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return None
    if "://" not in value or not parts.scheme or not host:
        return None
    return f"{parts.scheme}://{host}"


def check_channel_url(value: str) -> str:
    """``check_http_url`` for a channel's URL, which is a secret wherever it comes from: the
    message shows its scheme and host at most, never its path (``hooks.slack.com/services/T0/
    B0/XXXX`` without a scheme is nothing but the token)."""
    try:
        check_http_url(value)
    except ValueError:
        shown = origin(value)
        if shown is None:
            raise ValueError(
                "not an http:// or https:// URL (write it with its scheme, e.g. "
                "https://hooks.example/...; the value is not shown: it may hold a token)"
            ) from None
        raise ValueError(
            f"{shown + '/...'!r} is not an http:// or https:// URL (the rest is not shown: it "
            "may hold a token)"
        ) from None
    return value


def check_http_method(value: str) -> str:
    method = value.upper()
    if method not in HTTP_METHODS:
        raise ValueError(f"{value!r} is not an HTTP method (use one of {', '.join(HTTP_METHODS)})")
    return method


def check_cron(value: str) -> str:
    # Only the shape is checked here; the scheduler's cron library validates each field later.
    if len(value.split()) != 5:
        raise ValueError(
            f"{value!r} is not a cron schedule (use 5 fields: minute hour day month weekday, "
            "e.g. '0 3 * * *')"
        )
    return value


Slug = Annotated[str, AfterValidator(check_slug)]
ServiceName = Annotated[str, AfterValidator(check_service_name)]
SeverityName = Annotated[str, AfterValidator(check_severity_name)]
Timezone = Annotated[str, AfterValidator(check_timezone)]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
HttpMethod = Annotated[str, AfterValidator(check_http_method)]
CronText = Annotated[str, AfterValidator(check_cron)]
