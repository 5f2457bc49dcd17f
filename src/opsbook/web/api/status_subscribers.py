"""``/api/v1/status-page/subscribers``: a responder adds, lists and removes webhook subscribers
(and sees or removes email ones), audited. A webhook's URL is a credential: answers show only
its origin (``webhook.display_url``); an email address is shown masked."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel

from opsbook.errors import InputError
from opsbook.notify.webhook import display_url
from opsbook.statuspage import subscribers
from opsbook.statuspage.subscribers import Subscriber
from opsbook.web.auth import ResponderDep, client_address
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdPath

router = APIRouter(prefix="/api/v1/status-page/subscribers", tags=["status page"])


class WebhookSubscriberCreate(BaseModel):
    """The body ``POST`` reads (checked by hand, so each error names its field)."""

    url: str
    """Where the webhook body is posted (http or https)."""
    components: list[str] | Literal["all"] | None = None
    """Component ids, or ``"all"`` / omitted / null for every component."""


class SubscriberRead(BaseModel):
    id: int
    kind: str
    """``email`` or ``webhook``."""
    state: str
    """``pending`` (an email not confirmed yet) or ``active``."""
    url: str | None
    """A webhook's scheme and host; the rest is not shown (it may hold a token)."""
    email: str | None
    """An email subscriber's address, masked."""
    components: list[str] | None
    """Component ids, or null for every component."""
    created_at: str
    created_by: str
    confirmed_at: str | None


class SubscriberListRead(BaseModel):
    subscribers: list[SubscriberRead]


def _read(found: Subscriber) -> SubscriberRead:
    return SubscriberRead(
        id=found.id,
        kind=found.kind,
        state=found.state,
        url=display_url(found.url) if found.url else None,
        email=subscribers.mask_email(found.email) if found.email else None,
        components=list(found.components) if found.components is not None else None,
        created_at=found.created_at.isoformat(),
        created_by=found.created_by,
        confirmed_at=found.confirmed_at.isoformat() if found.confirmed_at else None,
    )


def _origin(request: Request) -> str:
    return f"api {client_address(request)}"


@router.post("", status_code=201, summary="Add a webhook subscriber (responder).")
def add_subscriber(
    request: Request,
    engine: EngineDep,
    config: ConfigDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: Annotated[Any, Body()],
) -> SubscriberRead:
    """``{"url": "https://hooks.example/status", "components": ["api"]}``; ``components``
    omitted, null or ``"all"``: every component. The subscriber gets Statuspage's subscriber
    webhook body for each public incident update and component status change."""
    if not isinstance(body, dict):
        raise InputError(
            "$: send a JSON object with url and components", field="$", location="body"
        )
    if set(body) - {"url", "components"}:
        # The unknown key is not repeated: it is text the sender chose (and may not even
        # encode, e.g. a lone surrogate), so the answer names what is accepted instead.
        raise InputError("$: has a field other than url and components", field="$", location="body")
    try:
        with engine.begin() as conn:
            found = subscribers.add_webhook(
                conn,
                url=body.get("url"),
                components=body.get("components"),
                config=config,
                actor=principal.actor,
                now=clock.now(),
                origin=_origin(request),
            )
    except InputError as exc:
        raise InputError(f"$.{exc}", field=f"$.{exc.field}", location="body") from None
    return _read(found)


@router.get("", summary="List the status page's subscribers (responder).")
def list_subscribers(engine: EngineDep, principal: ResponderDep) -> SubscriberListRead:
    with engine.connect() as conn:
        found = subscribers.list_subscribers(conn)
    return SubscriberListRead(subscribers=[_read(s) for s in found])


@router.delete("/{subscriber_id}", status_code=204, summary="Remove a subscriber (responder).")
def remove_subscriber(
    subscriber_id: IdPath,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
) -> Response:
    with engine.begin() as conn:
        subscribers.remove_subscriber(
            conn, subscriber_id, actor=principal.actor, now=clock.now(), origin=_origin(request)
        )
    return Response(status_code=204)
