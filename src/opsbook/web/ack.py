"""``/ack/{token}``: the page's one-click acknowledge link (issue 12), public by design because
the signed token is the credential (``opsbook.accounts.links``).

GET only shows the incident and an "Acknowledge" button; POST acknowledges. Mail scanners
(Microsoft Defender Safe Links, Proofpoint) and chat link previews fetch every link in a message:
acknowledging on GET would let a robot acknowledge the incident, or burn the single-use link
before the person sees it.

The incident comes only from the signed payload, so a link for one incident cannot act on
another. The person need not have an account: pages go to whoever is on call, as PagerDuty's
links do. Every bad link (forged, mistyped, expired, used) gets the same 410 page, which never
repeats the token.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection

from opsbook.accounts.links import ActionLink, signing_key, use, verify
from opsbook.config import Config
from opsbook.errors import Conflict, NotFound, Unauthenticated
from opsbook.incidents import Incident
from opsbook.incidents import service as incidents
from opsbook.notify.incident_render import ACK_ACTION
from opsbook.web.auth import PUBLIC, client_address
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, get_services

router = APIRouter(dependencies=[PUBLIC], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

INVALID_STATUS = 410
"""Gone, for every bad link alike: a 401 would invite a login the link cannot take."""

STYLE = (
    "body{font:1.05rem/1.5 system-ui,sans-serif;margin:0 auto;max-width:36rem;padding:1rem}"
    "h1{font-size:1.4rem}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
    "dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}"
    "button{width:100%;padding:1rem;font-size:1.25rem;font-weight:700;border:0;"
    "border-radius:.5rem;background:#b3261e;color:#fff;cursor:pointer}"
    "button:focus-visible{outline:3px solid currentColor;outline-offset:3px}"
)
"""The page's whole style, inline so the page stands alone; the policy allows it by hash."""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

# The URL holds the credential: no Referer carries it to the log-in page or elsewhere, and no
# cache or search engine keeps the page. The policy is stricter than the UI's (web/security.py
# leaves a route's own alone): no script at all, and only this style.
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}


def _page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("incident", None)
    context.setdefault("ask", False)
    context["style"] = STYLE
    return templates.TemplateResponse(
        request, "ack.html", context, status_code=status_code, headers=HEADERS
    )


def _invalid(request: Request, exc: Unauthenticated) -> HTMLResponse:
    return _page(request, INVALID_STATUS, title="Link not valid", message=str(exc), login=True)


def _link(conn: Connection, token: str, *, now: datetime) -> ActionLink:
    """The verified acknowledge link ``token`` stands for; ``Unauthenticated`` otherwise."""
    link = verify(signing_key(conn, now=now), token, now=now)
    if link.action != ACK_ACTION:
        raise Unauthenticated("this link is not an acknowledge link; log in to act instead")
    return link


def _person_name(config: Config, person: str) -> str:
    found = config.oncall.people.get(person)
    return found.name if found is not None else person


def _state(incident: Incident) -> str:
    """Why the incident cannot be acknowledged, or "" when it can."""
    if incident.merged_into is not None:
        return f"It was merged into incident {incident.merged_into}."
    if not incident.is_open:
        return "It is resolved; there is nothing to acknowledge."
    if incident.acknowledged_at is not None:
        return f"It was already acknowledged at {incident.acknowledged_at:%Y-%m-%d %H:%M UTC}."
    return ""


@router.get("/ack/{token}", response_class=HTMLResponse)
def show(
    token: str, request: Request, engine: EngineDep, config: ConfigDep, clock: ClockDep
) -> HTMLResponse:
    """The incident and a button; nothing changes (see the module docstring for why)."""
    now = clock.now()
    try:
        with engine.begin() as conn:
            link = _link(conn, token, now=now)
            incident = incidents.get_incident(conn, link.incident_id)
    except Unauthenticated as exc:
        return _invalid(request, exc)
    except NotFound:
        return _page(request, 404, title="Incident not found", message="It no longer exists.")
    state = _state(incident)
    return _page(
        request,
        title=f"Incident {incident.id}",
        incident=incident,
        person=_person_name(config, link.person),
        message=state,
        ask=not state,
    )


@router.post("/ack/{token}", response_class=HTMLResponse)
def acknowledge(
    token: str, request: Request, engine: EngineDep, config: ConfigDep, clock: ClockDep
) -> HTMLResponse:
    """Acknowledge the link's incident as its person, and use the link up, in one transaction:
    a refusal (already acknowledged, resolved, merged) leaves the link unused."""
    now = clock.now()
    try:
        with engine.begin() as conn:
            link = _link(conn, token, now=now)
            try:
                use(conn, link, now=now)
            except Unauthenticated:
                # The signature is good, so saying why tells its holder nothing new.
                raise Unauthenticated(
                    "this link was already used (it works once); log in to act instead"
                ) from None
            incident = incidents.acknowledge(
                conn,
                link.incident_id,
                actor=f"user:{link.person}",
                now=now,
                origin=f"link {client_address(request)}",
            )
    except Unauthenticated as exc:
        return _invalid(request, exc)
    except NotFound:
        return _page(request, 404, title="Incident not found", message="It no longer exists.")
    except Conflict as exc:
        return _page(request, 409, title="Nothing to acknowledge", message=str(exc))
    # Wake the incidents task after the commit, so the escalation stops paging now.
    task = get_services(request).incidents
    if task is not None:
        task.wake()
    return _page(
        request,
        title="Acknowledged",
        incident=incident,
        person=_person_name(config, link.person),
        message="Acknowledged: the escalation stops paging.",
        done=True,
    )
