"""The public subscribe pages: ``/status/subscribe`` (form and post), the confirmation link
``/status/subscribe/confirm?token=...`` and ``/status/unsubscribe?token=...``.

Plain HTML, no JavaScript, no login. The subscribe form is anonymous, so it cannot carry a
session's CSRF token: it refuses a post from another site's page by its ``Origin``/``Referer``
(``session.require_same_origin``, as the login form does), and the address gets nothing but a
confirmation link until its owner uses it (double opt-in), at most
``confirmations_per_hour`` times an hour.

Unsubscribing: ``GET`` shows a button (mail scanners follow links; a GET must not unsubscribe),
and ``POST`` unsubscribes at once, with no origin check: RFC 8058's one-click POST comes from
the mail provider, and the signed token is the authority.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opsbook.errors import InputError, NotFound, Throttled
from opsbook.statuspage import subscribers
from opsbook.statuspage.build import public_components
from opsbook.web.auth import PUBLIC, client_address
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep
from opsbook.web.ui.session import FORM_MAX_BYTES, FORM_MAX_FIELDS, require_same_origin
from opsbook.web.ui.templating import make_environment

# HTML pages for people (as the UI's are), not API operations: kept out of the API document.
router = APIRouter(
    tags=["status page"], default_response_class=HTMLResponse, include_in_schema=False
)
_env = make_environment()
_template = _env.get_template("status_subscribe.html")
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(config: Any, *, status: int = 200, **values: Any) -> HTMLResponse:
    title = config.status_page.title or config.service
    components = [{"id": c, "name": config.components[c].name} for c in public_components(config)]
    context = {
        "page_title": title,
        "heading": values.pop("heading", f"Subscribe to {title} updates"),
        "components": components,
        "chosen": (),
        "email": "",
        "form": None,
        "error": "",
        "message": "",
        **values,
    }
    return HTMLResponse(_template.render(context), status_code=status, headers=_HEADERS)


def _origin(request: Request) -> str:
    return f"status page {client_address(request)}"


async def _form(request: Request) -> list[tuple[str, str]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InputError("body: send the form as application/x-www-form-urlencoded", field="body")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            raise InputError("body: the form is too large", field="body")
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=FORM_MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise InputError("body: not a form (UTF-8, at most 100 fields)", field="body") from None


@router.get(
    "/status/subscribe", dependencies=[PUBLIC], summary="The email subscribe form (public, HTML)."
)
def subscribe_form(config: ConfigDep) -> HTMLResponse:
    if config.status_page.subscribers.email_channel is None:
        return _page(config, status=404, message="This status page takes no email subscribers.")
    return _page(config, form="subscribe")


@router.post(
    "/status/subscribe",
    dependencies=[PUBLIC],
    summary="Subscribe an address: sends a confirmation link (public, same-origin form).",
)
async def subscribe(
    request: Request, engine: EngineDep, config: ConfigDep, clock: ClockDep
) -> HTMLResponse:
    require_same_origin(request)
    email = ""
    chosen: list[str] = []
    try:
        pairs = await _form(request)
        fields = dict(pairs)
        email = fields.get("email", "")
        chosen = [v for k, v in pairs if k == "components"]
        scope = fields.get("scope", "some" if chosen else "all")
        if scope not in ("all", "some"):
            raise InputError('scope: choose "all" or "some"', field="scope")
        if scope == "some" and not chosen:
            raise InputError("components: choose at least one component", field="components")
        with engine.begin() as conn:
            subscribers.subscribe_email(
                conn,
                email=email,
                components=chosen if scope == "some" else None,
                config=config,
                now=clock.now(),
                origin=_origin(request),
            )
    except InputError as exc:
        return _page(
            config, status=400, form="subscribe", error=str(exc), email=email, chosen=chosen
        )
    except Throttled as exc:
        response = _page(config, status=429, form="subscribe", error=str(exc), email=email)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except NotFound:
        return _page(config, status=404, message="This status page takes no email subscribers.")
    return _page(
        config,
        heading="Check your inbox",
        message=(
            "If the address can receive mail, a confirmation link is on its way. "
            "Nothing else is sent until it is used."
        ),
    )


@router.get(
    "/status/subscribe/confirm",
    dependencies=[PUBLIC],
    summary="Confirm a subscription with its one-time token (public, HTML).",
)
def confirm(
    request: Request, engine: EngineDep, config: ConfigDep, clock: ClockDep, token: str = ""
) -> HTMLResponse:
    try:
        with engine.begin() as conn:
            subscribers.confirm(conn, token=token, now=clock.now(), origin=_origin(request))
    except InputError as exc:
        return _page(config, status=400, heading="Link not valid", error=str(exc))
    return _page(
        config,
        heading="Subscription confirmed",
        message="You will receive an email when an incident is posted or updated. Every email "
        "has a one-click unsubscribe link.",
    )


@router.get(
    "/status/unsubscribe",
    dependencies=[PUBLIC],
    summary="Show the unsubscribe button (public, HTML; a GET never unsubscribes).",
)
def unsubscribe_form(config: ConfigDep, token: str = "") -> HTMLResponse:
    return _page(
        config,
        heading="Unsubscribe",
        message="Stop receiving status updates at this address?",
        form="unsubscribe",
        token=token,
    )


@router.post(
    "/status/unsubscribe",
    dependencies=[PUBLIC],
    summary="Unsubscribe at once (RFC 8058 one-click; the token is the authority).",
)
def unsubscribe(
    request: Request, engine: EngineDep, config: ConfigDep, clock: ClockDep, token: str = ""
) -> HTMLResponse:
    try:
        with engine.begin() as conn:
            subscribers.unsubscribe(conn, token=token, now=clock.now(), origin=_origin(request))
    except InputError as exc:
        return _page(config, status=400, heading="Link not valid", error=str(exc))
    return _page(config, heading="Unsubscribed", message="You will receive no more updates.")
