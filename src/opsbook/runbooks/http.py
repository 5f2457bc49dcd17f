"""The ``http`` step: ``METHOD URL`` on the first line, ``Header: value`` lines, a blank line,
then the body. Request and response are recorded with secrets masked.

Placeholders: in the URL a value is percent-encoded (it cannot add a path segment, query
parameter or host); in a header it is refused if it holds CR or LF (no header injection); in
the body it goes in as-is, except with a JSON ``Content-Type``, where a string value is
JSON-escaped (write ``"{{ name }}"`` with the quotes) and numbers and booleans are JSON
literals. Redirects are not followed (an ``Authorization`` header must not go to another host):
the 3xx is the answer. A status of 400 or more makes the step ``failed``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import aiohttp
from yarl import URL

from opsbook.config.units import format_duration
from opsbook.errors import InputError
from opsbook.redaction import MASK, redact_url
from opsbook.runbooks.models import Step
from opsbook.runbooks.outcome import (
    HttpRequestRecord,
    HttpResponseRecord,
    Status,
    StepContext,
    StepOutcome,
    Stopwatch,
    cap_text,
    race,
)
from opsbook.runbooks.shell import PLACEHOLDER
from opsbook.runbooks.values import Value, render_value

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SECRET_HEADER = re.compile(r"(?i)authorization|cookie|token|secret|api-?key|password|signature")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# The URL may hold "{{ name }}" (with spaces): everything between the method and an optional
# protocol version is the URL.
_REQUEST_LINE = re.compile(r"(\S+)\s+(\S(?:.*?\S)?)(?:\s+HTTP/\d(?:\.\d)?)?")
_Encoder = Callable[[Value, str], str]


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str


def render_request(text: str, values: dict[str, Value]) -> HttpRequest:
    """The request ``text`` describes, placeholders filled in. Raises ``InputError`` for a
    value that would break its place and ``ValueError`` for text that is not a request."""
    lines = text.strip("\n").split("\n")
    first = _REQUEST_LINE.fullmatch(lines[0].strip())
    if first is None or first.group(1).upper() not in _METHODS:
        raise ValueError("the first line must be METHOD URL (e.g. GET https://example.com/health)")
    method = first.group(1).upper()
    url = _fill(first.group(2), values, lambda v, _: quote(render_value(v), safe=""))
    if not url.startswith(("http://", "https://")):
        raise ValueError("the URL must start with http:// or https://")
    headers: list[tuple[str, str]] = []
    i = 1
    while i < len(lines) and lines[i].strip():
        name, sep, value = lines[i].partition(":")
        if not sep or not _HEADER_NAME.fullmatch(name.strip()):
            raise ValueError(f"line {i + 1}: not a header (use Name: value)")
        headers.append((name.strip(), _fill(value.strip(), values, _header_value)))
        i += 1
    body_text = "\n".join(lines[i + 1 :])
    is_json = any(n.lower() == "content-type" and "json" in v.lower() for n, v in headers)
    body = _fill(body_text, values, _json_value if is_json else lambda v, _: render_value(v))
    return HttpRequest(method, url, tuple(headers), body)


async def run_http(step: Step, ctx: StepContext) -> StepOutcome:
    """Send the request. Returns the outcome with ``request``/``response`` recorded (masked);
    raises ``InputError`` for a placeholder value that cannot go where it stands."""
    watch = Stopwatch(step, ctx)
    try:
        request = render_request(step.text, dict(ctx.values))
    except ValueError as exc:
        return watch.outcome(Status.FAILED, error=ctx.mask(str(exc)))
    record = HttpRequestRecord(
        method=request.method,
        url=redact_url(ctx.mask(request.url)),
        headers=_masked_headers(ctx, request.headers),
        body=ctx.mask(request.body),
    )
    rendered = f"{record.method} {record.url}"
    if ctx.dry_run:
        return watch.outcome(
            Status.OK, rendered=rendered, request=record, output="(dry run: not sent)"
        )
    timeout = step.timeout or ctx.settings.default_timeout
    try:
        answer, stopped = await race(
            _send(request, ctx, limit=timeout), limit=timeout, cancel=ctx.cancel
        )
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        error = ctx.mask(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return watch.outcome(Status.FAILED, error=error, rendered=rendered, request=record)
    if answer is None or stopped is not None:
        error = (
            "cancelled"
            if stopped is Status.CANCELLED
            else f"timed out after {format_duration(timeout)}"
        )
        return watch.outcome(
            stopped or Status.TIMEOUT, error=error, rendered=rendered, request=record
        )
    status, headers, data, truncated = answer
    body, _ = cap_text(ctx.mask(data.decode("utf-8", errors="replace")), len(data))
    response = HttpResponseRecord(
        status=status, headers=_masked_headers(ctx, headers), body=body, truncated=truncated
    )
    if ctx.on_output is not None and body:
        ctx.on_output(body)
    return watch.outcome(
        Status.OK if status < 400 else Status.FAILED,
        error="" if status < 400 else f"HTTP {status}",
        http_status=status,
        output=body,
        truncated=truncated,
        rendered=rendered,
        request=record,
        response=response,
    )


async def _send(
    request: HttpRequest, ctx: StepContext, *, limit: timedelta
) -> tuple[int, tuple[tuple[str, str], ...], bytes, bool]:
    cap = ctx.settings.output_limit_bytes
    session = ctx.session or aiohttp.ClientSession()
    try:
        async with session.request(
            request.method,
            URL(request.url, encoded=True),
            headers=list(request.headers),
            data=request.body.encode() if request.body else None,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=limit.total_seconds()),
        ) as resp:
            data = b""
            while len(data) <= cap and (chunk := await resp.content.read(65536)):
                data += chunk
            headers = tuple((k, v) for k, v in resp.headers.items())
            return resp.status, headers, data[:cap], len(data) > cap
    finally:
        if ctx.session is None:
            await session.close()


def _fill(text: str, values: dict[str, Value], encode: _Encoder) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise InputError(f"params.{name}: no value for this step", field=f"params.{name}")
        return encode(values[name], name)

    return PLACEHOLDER.sub(one, text)


def _header_value(value: Value, name: str) -> str:
    text = render_value(value)
    if "\r" in text or "\n" in text:
        raise InputError(
            f"params.{name}: contains a line break, which an HTTP header cannot carry",
            field=f"params.{name}",
        )
    return text


def _json_value(value: Value, name: str) -> str:
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(render_value(value))[1:-1]


def _masked_headers(
    ctx: StepContext, headers: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    return tuple((k, MASK if _SECRET_HEADER.search(k) else ctx.mask(v)) for k, v in headers)
