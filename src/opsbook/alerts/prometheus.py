"""Evaluate a ``prometheus: {url, expr}`` rule: one instant query through Prometheus' HTTP API.

``GET <url>/api/v1/query?query=<expr>`` answers ``{"status", "data": {"resultType", "result"}}``
(or ``{"status": "error", "errorType", "error"}``). An instant vector gives one ``Sample`` per
series, labelled without ``__name__`` (as Prometheus' own alerting rules do); a scalar gives one
``Sample`` with no labels. A range vector or a string cannot be an alert, so they are errors.

Every failure is a ``PrometheusError`` whose message says what went wrong (the HTTP status and
Prometheus' own error text, a refused connection, a timeout) and names the server by its redacted
URL, never the bearer token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from opsbook.checks.probes._errors import seconds
from opsbook.checks.probes.http import client_error, read_capped
from opsbook.config.alerts import PrometheusQuery
from opsbook.errors import OpsbookError
from opsbook.redaction import redact_url

# An alert query answering more than this is a mistake (an expression without a filter).
RESPONSE_LIMIT_BYTES = 16 * 1024 * 1024
# How much of a non-JSON body (an HTML error page, a proxy's text) the message quotes.
_QUOTE_CHARS = 200


@dataclass(frozen=True)
class Sample:
    """One series of a query's answer: its labels (without ``__name__``) and its value."""

    labels: Mapping[str, str]
    value: float


class PrometheusError(OpsbookError):
    """A query could not be answered; the message says what failed and where (URL redacted)."""


def _query_url(base: str) -> str:
    """``base`` (the server's URL, with any ``--web.route-prefix`` path) + ``/api/v1/query``."""
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/api/v1/query", query=""))


async def query_prometheus(session: aiohttp.ClientSession, query: PrometheusQuery) -> list[Sample]:
    """Run ``query.expr`` as an instant query at the server's current time.

    Raises ``PrometheusError`` when the server cannot be reached, answers an error, takes longer
    than ``query.timeout``, or returns something that is not an instant vector or a scalar.
    """
    url = _query_url(query.url)
    where = f"Prometheus at {redact_url(query.url)}"
    headers = {"Accept": "application/json"}
    if query.bearer_token is not None:
        headers["Authorization"] = f"Bearer {query.bearer_token.reveal()}"
    try:
        async with asyncio.timeout(query.timeout.total_seconds()):
            async with session.get(url, params={"query": query.expr}, headers=headers) as response:
                status = response.status
                raw = await read_capped(response, RESPONSE_LIMIT_BYTES + 1)
    except TimeoutError:
        raise PrometheusError(
            f"{where}: the query timed out after {seconds(query.timeout)}"
        ) from None
    except aiohttp.ClientError as exc:
        raise PrometheusError(f"{where}: {client_error(exc, url, stage='connect')}") from None
    if len(raw) > RESPONSE_LIMIT_BYTES:
        raise PrometheusError(
            f"{where}: the answer is larger than {RESPONSE_LIMIT_BYTES} bytes; "
            "narrow the expression"
        )
    return _parse_response(status, raw, where=where)


def _parse_response(status: int, raw: bytes, *, where: str) -> list[Sample]:
    """The samples of one ``/api/v1/query`` answer, or a ``PrometheusError`` saying why not."""
    try:
        body: object = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") not in {"success", "error"}:
        text = raw[:_QUOTE_CHARS].decode("utf-8", errors="replace").strip()
        quoted = f": {text!r}" if text else ""
        if status in {401, 403}:
            raise PrometheusError(f"{where} answered HTTP {status}{quoted} (check bearer_token)")
        if 200 <= status < 300 or status == 404:
            raise PrometheusError(
                f"{where} answered HTTP {status} without Prometheus API JSON{quoted} "
                "(is url the Prometheus server's base URL?)"
            )
        raise PrometheusError(f"{where} answered HTTP {status}{quoted}")
    if body["status"] == "error" or not 200 <= status < 300:
        kind = body.get("errorType")
        detail = body.get("error")
        reason = f" ({kind})" if isinstance(kind, str) and kind else ""
        message = f": {detail}" if isinstance(detail, str) and detail else ""
        raise PrometheusError(f"{where} answered HTTP {status}{reason}{message}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise PrometheusError(f"{where}: the answer has no data object")
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "vector" and isinstance(result, list):
        return _vector(result, where=where)
    if result_type == "scalar":
        return [Sample(labels={}, value=_value(result, where=where))]
    if result_type == "matrix":
        raise PrometheusError(
            f"{where}: the expression returns a range vector (matrix); an alert expression must "
            "return an instant vector or a scalar (drop the [range] or wrap it, e.g. in rate())"
        )
    if result_type == "string":
        raise PrometheusError(
            f"{where}: the expression returns a string; an alert expression must return an "
            "instant vector or a scalar"
        )
    raise PrometheusError(f"{where}: unknown resultType {result_type!r}")


def _vector(result: list[object], *, where: str) -> list[Sample]:
    samples: list[Sample] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for series in result:
        if not isinstance(series, dict) or not isinstance(series.get("metric"), dict):
            raise PrometheusError(f"{where}: a vector element has no metric labels")
        labels = {str(k): str(v) for k, v in sorted(series["metric"].items()) if k != "__name__"}
        key = tuple(labels.items())
        if key in seen:
            # Prometheus refuses this in its own alerting rules; so do we, or alerts would merge.
            raise PrometheusError(
                f"{where}: two series have the same labels {labels} once __name__ is dropped; "
                "aggregate them (e.g. sum by (...)) so each series is one alert"
            )
        seen.add(key)
        samples.append(Sample(labels=labels, value=_value(series.get("value"), where=where)))
    return samples


def _value(pair: object, *, where: str) -> float:
    # A sample is [<unix time>, "<value>"]; the value is a string so NaN and ±Inf survive JSON.
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise PrometheusError(f'{where}: a sample is not [time, "value"]: {pair!r}')
    try:
        value = float(pair[1])
    except ValueError:
        raise PrometheusError(f"{where}: the sample value {pair[1]!r} is not a number") from None
    return value
