"""The Apprise channel: a rendered title and body sent to one Apprise URL (Slack, Discord, Teams,
Telegram, ntfy, and the rest of https://github.com/caronc/apprise/wiki).

This is the one module that imports ``apprise`` (STYLE.md, Dependencies). Apprise blocks (it
uses ``requests``), so each send runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import apprise

from opsbook.errors import DeliveryError
from opsbook.redaction import MASK, Secret
from opsbook.textsafe import repair
from opsbook.types import JSONValue

# Apprise's message types; chat services colour or label a message by them.
FIRING_TYPE = "failure"
RESOLVED_TYPE = "success"
# Apprise (and urllib3 under it) log each request's full URL, token included, at DEBUG; its
# INFO and WARNING lines name the host only. These loggers never go below INFO (R18).
_NOISY_LOGGERS = ("apprise", "urllib3.connectionpool")


def apprise_payload(*, title: str, body: str, resolved: bool) -> dict[str, JSONValue]:
    """What the outbox stores for an Apprise message: rendered once, sent as is on each retry."""
    return {"title": title, "body": body, "type": RESOLVED_TYPE if resolved else FIRING_TYPE}


def display_url(url: str) -> str:
    """``slack://***``: only the scheme of an Apprise URL is shown, the rest may be a token."""
    scheme = url.partition("://")[0]
    return f"{scheme}://{MASK}"


async def send(url: Secret, payload: Mapping[str, JSONValue]) -> None:
    """Send ``payload`` through Apprise to ``url``; returns when Apprise reports success.

    Raises ``DeliveryError``: permanent when Apprise does not understand the URL or the payload
    is not an Apprise message; transient whenever the send fails, since Apprise reports only
    success or failure, not whether a retry could help (R14: retrying a broken URL costs ten
    attempts; dropping a message during a chat service's outage costs the page).
    """
    title, body = payload.get("title"), payload.get("body")
    kind = payload.get("type", FIRING_TYPE)
    if not (isinstance(title, str) and isinstance(body, str) and isinstance(kind, str)):
        raise DeliveryError(
            "the notification was not rendered as a chat message (did the channel change kind?)",
            permanent=True,
        )
    title, body = repair(title), repair(body)  # text queued from a poisoned row still goes out
    await asyncio.to_thread(_send_sync, url, title=title, body=body, kind=kind)


def _send_sync(url: Secret, *, title: str, body: str, kind: str) -> None:
    shown = f"apprise {display_url(url.reveal())}"
    _quiet_logs()
    client = apprise.Apprise()
    if not client.add(url.reveal()):
        raise DeliveryError(
            f"{shown}: Apprise does not understand this URL (see its wiki for the scheme's form)",
            permanent=True,
        )
    ok = client.notify(
        body=body, title=title, notify_type=kind, body_format=apprise.NotifyFormat.TEXT
    )
    if not ok:
        raise DeliveryError(f"{shown} failed (Apprise reports no detail; see its log)")


def _quiet_logs() -> None:
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
