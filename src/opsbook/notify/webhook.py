"""The native webhook channel: Alertmanager's webhook message (version 4), HMAC-signed, POSTed.

Anything that receives Alertmanager webhooks (Grafana OnCall, opsbook's own receiver, a custom
service) takes opsbook's notifications unchanged. This is the one module of notify that touches
aiohttp (STYLE.md, Dependencies). Formats: ../shared/reference/integrations.md, and
Alertmanager's ``notify/webhook/webhook.go`` and ``template/template.go``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from opsbook import __version__
from opsbook.alerts.models import Alert, AlertNotice, AlertStatus
from opsbook.config.alerts import WebhookChannel
from opsbook.config.units import format_duration
from opsbook.errors import DeliveryError
from opsbook.redaction import MASK, mask_values, redact_text, redact_url, secret_values
from opsbook.textsafe import repair_map
from opsbook.types import JSONValue

# Alertmanager hides an end time not reached yet behind Go's zero time (alert/alert.go).
ZERO_TIME = "0001-01-01T00:00:00Z"
SIGNATURE_HEADER = "X-Opsbook-Signature"
USER_AGENT = f"opsbook/{__version__}"
# Alertmanager's webhook notifier retries only 5xx; we also retry the statuses that mean "not
# now" rather than "never": 408 Request Timeout, 425 Too Early, 429 Too Many Requests
# (RFC 9110 section 15.5.9, RFC 8470, RFC 6585 section 4).
TRANSIENT_STATUSES = frozenset({408, 425, 429})
_EXCERPT_BYTES = 1024
_EXCERPT_CHARS = 200
# A URL path segment this long may be a token (Slack's are 24 characters); shorter ones
# ("hooks", "v1") are left readable in echoed error bodies.
_TOKEN_MIN_CHARS = 8
# Headers whose value receivers rely on; a configured header may not replace them.
_RESERVED_HEADERS = frozenset({"content-type", "idempotency-key", SIGNATURE_HEADER.lower()})


class WebhookError(DeliveryError):
    """A failed POST. ``retry_after`` is the receiver's ``Retry-After`` (seconds form), if any."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message, permanent=permanent)
        self.retry_after = retry_after


def render_alertmanager_payload(notice: AlertNotice) -> dict[str, JSONValue]:
    """The Alertmanager webhook message (version 4) for ``notice``, plus an ``opsbook`` key.

    Receivers ignore keys they do not know; ``opsbook`` carries what Alertmanager's shape has no
    room for: the notice key, and each alert's id, severity, check and the values that tripped it.
    """
    alerts = notice.alerts
    external_url = (notice.external_url or "").rstrip("/")
    return {
        "version": "4",
        "groupKey": notice.group_key,
        "truncatedAlerts": 0,
        "status": notice.status,
        "receiver": notice.receiver,
        "groupLabels": dict(notice.group_labels),
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": external_url,
        "notification_reason": notice.reason,
        "alerts": [_alert(a, external_url=external_url) for a in alerts],
        "opsbook": {
            "notice": notice.key,
            "alerts": [
                {
                    "id": a.id,
                    "severity": a.severity,
                    "values": dict(a.values),
                    "check": a.check_id,
                }
                for a in alerts
            ],
        },
    }


def _alert(alert: Alert, *, external_url: str) -> dict[str, JSONValue]:
    is_resolved = alert.status in {AlertStatus.RESOLVED, AlertStatus.INACTIVE}
    ended_at = alert.resolved_at or alert.ends_at or alert.updated_at
    return {
        "status": "resolved" if is_resolved else "firing",
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        # Prometheus sends the time the alert fired as startsAt (rules/alerting.go).
        "startsAt": rfc3339(alert.fired_at or alert.started_at),
        "endsAt": rfc3339(ended_at) if is_resolved else ZERO_TIME,
        "generatorURL": f"{external_url}/alerts/{alert.id}" if external_url else "",
        "fingerprint": alert.fingerprint,
    }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, JSONValue]:
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def rfc3339(at: datetime) -> str:
    """``at`` in UTC as Go's RFC 3339 (nanosecond form): ``Z``, no trailing fraction zeros."""
    text = at.astimezone(UTC).replace(tzinfo=None).isoformat()
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "Z"


def encode(payload: Mapping[str, JSONValue]) -> bytes:
    """The request body: compact UTF-8 JSON. The signature covers exactly these bytes. Text no
    encoder takes (queued from a poisoned row) is repaired to U+FFFD rather than failing."""
    return json.dumps(repair_map(payload), separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str) -> str:
    """``"sha256=" + hex(HMAC-SHA256(secret, body))``, the ``X-Opsbook-Signature`` value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def display_url(url: str) -> str:
    """``url`` as errors and logs show it: scheme, host and port, with the path and query masked.

    A webhook URL is a credential as a whole (many keep their token in the path), so only the
    address that says where it went is shown; the channel's name says which one it was.
    """
    parts = urlsplit(redact_url(url))
    masked = parts.path not in {"", "/"} or bool(parts.query)
    return f"{parts.scheme}://{parts.netloc}" + (f"/{MASK}" if masked else "")


def new_session() -> aiohttp.ClientSession:
    """The one session a deliverer shares across channels; each request sets its own timeout."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None),
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=10),
    )


def request_headers(
    channel: WebhookChannel, body: bytes, *, idempotency_key: str
) -> dict[str, str]:
    """The headers of one POST: the channel's own (which may set ``User-Agent``), then ours.

    ``Content-Type``, ``Idempotency-Key`` and the signature are always ours: receivers rely on
    them, so a configured header of the same name is dropped.
    """
    headers = {
        name: value.reveal()
        for name, value in channel.headers.items()
        if name.lower() not in _RESERVED_HEADERS
    }
    headers["Content-Type"] = "application/json"
    if not any(name.lower() == "user-agent" for name in headers):
        headers["User-Agent"] = USER_AGENT
    headers["Idempotency-Key"] = idempotency_key
    if channel.secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, channel.secret.reveal())
    return headers


async def send(
    session: aiohttp.ClientSession,
    channel: WebhookChannel,
    body: bytes,
    *,
    idempotency_key: str,
) -> None:
    """POST ``body`` to the channel. Returns on a 2xx answer; otherwise raises ``WebhookError``.

    Transient (retried): 408, 425, 429, any 5xx, connection errors and timeouts. Permanent
    (dead letter at once): every other status, including 3xx, since a redirected POST may turn
    into a GET and lose the body. Messages name the status and a short excerpt of the answer;
    the URL is shown masked (``display_url``), and neither the secret nor headers ever appear.
    """
    shown = f"POST {display_url(channel.url.reveal())}"
    secrets = _secret_fragments(channel)
    try:
        async with session.post(
            channel.url.reveal(),
            data=body,
            headers=request_headers(channel, body, idempotency_key=idempotency_key),
            timeout=aiohttp.ClientTimeout(total=channel.timeout.total_seconds()),
            allow_redirects=False,
        ) as response:
            if 200 <= response.status < 300:
                return
            excerpt = await _excerpt(response, secrets)
            status = response.status
            retry_after = _retry_after(response.headers.get("Retry-After"))
            reason = response.reason or ""
    except TimeoutError:
        raise WebhookError(f"{shown} timed out after {format_duration(channel.timeout)}") from None
    except aiohttp.ClientError as exc:
        raise WebhookError(f"{shown} failed: {mask_values(_describe(exc), secrets)}") from None
    message = f"{shown} answered {status} {reason}".rstrip()
    if 300 <= status < 400:
        message += " (redirects are not followed: configure the final URL)"
    if excerpt:
        message += f": {excerpt}"
    transient = status in TRANSIENT_STATUSES or status >= 500
    raise WebhookError(message, permanent=not transient, retry_after=retry_after)


def _secret_fragments(channel: WebhookChannel) -> list[str]:
    """Every secret of the channel, and the parts of its URL a receiver might echo on their
    own: the path, the query, each query value, each token-like path segment, the password."""
    url = channel.url.reveal()
    parts = urlsplit(url)
    fragments = [*secret_values(channel), parts.query, parts.password or ""]
    if parts.path not in {"", "/"}:
        fragments.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        fragments.append(parts.path)
        fragments.extend(seg for seg in parts.path.split("/") if len(seg) >= _TOKEN_MIN_CHARS)
    fragments.extend(value for _, value in parse_qsl(parts.query))
    return fragments


async def _excerpt(response: aiohttp.ClientResponse, secrets: Sequence[str]) -> str:
    try:
        raw = await response.content.read(_EXCERPT_BYTES)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    text = re.sub(r"\s+", " ", raw.decode("utf-8", errors="replace")).strip()
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    # A receiver may echo the request back (its URL, a header): never pass a secret on.
    return mask_values(redact_text(text), secrets)


def _describe(exc: aiohttp.ClientError) -> str:
    # Only words we choose: aiohttp's own messages may quote the whole URL.
    if isinstance(exc, aiohttp.ClientSSLError):
        cause = exc.os_error
        detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
        return f"TLS handshake failed ({detail or type(cause).__name__})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        detail = exc.os_error.strerror or type(exc.os_error).__name__
        return f"cannot connect ({detail})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, aiohttp.ClientOSError) and exc.strerror:
        return f"connection error ({exc.strerror})"
    return type(exc).__name__


def _retry_after(value: str | None) -> timedelta | None:
    # Only the delay-seconds form (RFC 9110 section 10.2.3); an HTTP-date is left to backoff.
    if value is None or not value.strip().isdigit():
        return None
    return timedelta(seconds=int(value.strip()))
