"""The SMTP channel: a rendered message sent as a plain-text email with the stdlib ``smtplib``.

``smtplib`` blocks, so each send runs in a thread. The one rule for which failure is which
(STYLE.md R14) lives here: SMTP reply codes 4xx are "try again later" and 5xx are "never"
(RFC 5321 section 4.2.1); a connection that fails or drops is transient.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import structlog

from opsbook.config.alerts import SmtpChannel
from opsbook.errors import DeliveryError
from opsbook.redaction import mask_values, secret_values
from opsbook.textsafe import repair
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)
_REPLY_CHARS = 200


def email_payload(*, subject: str, body: str, to: Sequence[str]) -> dict[str, JSONValue]:
    """What the outbox stores for an email: rendered once, sent byte-for-byte on each retry."""
    return {"subject": subject, "body": body, "to": list(to)}


def build_message(
    channel: SmtpChannel, payload: Mapping[str, JSONValue], *, idempotency_key: str
) -> EmailMessage:
    """The email for ``payload``. Raises a permanent ``DeliveryError`` for a payload that is
    not an email's (the channel changed kind since the notification was queued)."""
    subject, body, to = payload.get("subject"), payload.get("body"), payload.get("to")
    if not (
        isinstance(subject, str)
        and isinstance(body, str)
        and isinstance(to, list)
        and to
        and all(isinstance(a, str) for a in to)
    ):
        raise DeliveryError(
            "the notification was not rendered as an email (did the channel change kind?)",
            permanent=True,
        )
    # A payload queued from a poisoned row may hold text no encoder takes: repaired, the page
    # still goes out (an UnicodeEncodeError here used to dead-letter it).
    subject, body, to = repair(subject), repair(body), [repair(str(a)) for a in to]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = channel.from_
    message["To"] = ", ".join(str(a) for a in to)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=channel.from_.rpartition("@")[2])
    # Receivers and filters can thread and deduplicate on it, like the webhook's header.
    message["X-Opsbook-Idempotency-Key"] = idempotency_key
    # Extra headers a sender rendered with the payload (List-Unsubscribe for status page
    # subscribers); our own values, repaired like the rest.
    extra = payload.get("headers")
    if isinstance(extra, dict):
        for name, value in extra.items():
            if isinstance(value, str) and name not in message:
                message[name] = repair(value)
    message.set_content(body)
    return message


async def send(
    channel: SmtpChannel, payload: Mapping[str, JSONValue], *, idempotency_key: str
) -> None:
    """Send ``payload`` to its recipients through the channel's server; returns once the server
    accepted it for at least one recipient.

    Raises ``DeliveryError``: transient for a 4xx reply, a refused, dropped or timed-out
    connection; permanent for a 5xx reply (every recipient refused, authentication refused,
    message refused) and for a server that cannot do the STARTTLS or login asked for. The
    message names the server, and quotes its reply; the password never appears.
    """
    message = build_message(channel, payload, idempotency_key=idempotency_key)
    await asyncio.to_thread(_send_sync, channel, message)


def _send_sync(channel: SmtpChannel, message: EmailMessage) -> None:
    server = f"SMTP {channel.host}:{channel.effective_port}"
    secrets = secret_values(channel)
    timeout = channel.timeout.total_seconds()
    try:
        client: smtplib.SMTP
        if channel.tls:
            client = smtplib.SMTP_SSL(
                channel.host,
                channel.effective_port,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(channel.host, channel.effective_port, timeout=timeout)
        with client:
            if channel.starttls:
                client.starttls(context=ssl.create_default_context())
            if channel.username is not None and channel.password is not None:
                client.login(channel.username, channel.password.reveal())
            refused = client.send_message(message)
        if refused:
            # Others accepted it: a retry would send them a second copy, so it counts as sent.
            log.warning(
                "email_recipients_refused",
                server=server,
                refused={rcpt: f"{code} {_text(reply)}" for rcpt, (code, reply) in refused.items()},
            )
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(
            f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items()
        )
        raise DeliveryError(
            mask_values(f"{server} refused every recipient: {replies}", secrets),
            permanent=all(500 <= code < 600 for code in codes),
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(
            mask_values(f"{server} cannot do what the channel asks: {exc}", secrets),
            permanent=True,
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            mask_values(f"{server} answered {exc.smtp_code} {_text(exc.smtp_error)}", secrets),
            permanent=500 <= exc.smtp_code < 600,
        ) from None
    except smtplib.SMTPServerDisconnected:
        raise DeliveryError(f"{server} closed the connection without answering") from None
    except TimeoutError:
        raise DeliveryError(f"{server} timed out after {timeout:g}s") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"{server} TLS failed ({exc.reason or type(exc).__name__})") from None
    except (OSError, smtplib.SMTPException) as exc:
        detail = getattr(exc, "strerror", None) or type(exc).__name__
        raise DeliveryError(mask_values(f"{server} failed: {detail}", secrets)) from None


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    text = " ".join(text.split())
    return text if len(text) <= _REPLY_CHARS else text[:_REPLY_CHARS] + "..."
