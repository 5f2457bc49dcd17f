"""``/silences``: active, pending and recently expired silences; ``/silences/new``, the form that
creates one (``?matchers=`` prefills it, as the alerts page's "Silence" link does); and expiring
one. Writes need the responder role, as ``POST``/``DELETE /api/v1/silences`` do, and are audited
with origin ``ui <address>``; the silence's ``created_by`` is the person logged in.

The list carries the change markers of ``/ui/events``. They move when a silence starts or stops
muting a firing alert (the alert engine writes a ``silenced``/``unsilenced`` event), not when a
silence that mutes nothing is created or expired, nor when one starts or ends by the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from opsbook.accounts import Principal, Role
from opsbook.alerts import silences
from opsbook.alerts.models import Matcher, Silence
from opsbook.config import parse_duration
from opsbook.errors import InputError
from opsbook.web.api.params import silence_in_path
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep
from opsbook.web.ui.actions import back_to, ui_origin
from opsbook.web.ui.alerts import split_matchers
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.session import FormDep, PageDep, needs_role
from opsbook.web.ui.templating import Pages

EXPIRED_SHOWN = 50
DEFAULT_DURATION = "2h"
PREFILL_MAX_CHARS = 4000


def parse_matcher_lines(text: str) -> tuple[Matcher, ...]:
    """One matcher per line (or several, comma-separated); ``InputError`` names
    ``matchers[i]``."""
    parts = [part for line in text.splitlines() for part in split_matchers(line)]
    return silences.parse_matchers(parts)


def parse_end(form: dict[str, str], *, starts_at: datetime, zone: ZoneInfo) -> datetime:
    """``ends_at`` (a local date and time in ``zone``) when given, else ``starts_at`` plus
    ``duration``. ``InputError`` names the field and does not repeat it."""
    ends_raw = form.get("ends_at", "").strip()
    if ends_raw:
        try:
            ends_at = datetime.fromisoformat(ends_raw)
        except ValueError:
            raise InputError(
                "ends_at: not a date and time (e.g. 2026-11-22T18:00)", field="ends_at"
            ) from None
        return ends_at.replace(tzinfo=zone) if ends_at.tzinfo is None else ends_at
    try:
        length = parse_duration(form.get("duration", "").strip())
    except ValueError:
        raise InputError(
            "duration: not a duration (use e.g. 30m, 2h, 1d), or set an end", field="duration"
        ) from None
    if length <= timedelta():
        raise InputError("duration: must be longer than 0s", field="duration")
    return starts_at + length


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    def render_form(
        request: Request,
        principal: Principal,
        *,
        matchers: str,
        error: str | None = None,
        field: str | None = None,
    ) -> Response:
        return pages.render(
            request,
            "silence_new.html",
            {
                "title": "New silence",
                "matchers": matchers,
                "duration": DEFAULT_DURATION,
                "error": error,
                "error_field": field,
                "can_write": principal.role.allows(Role.RESPONDER),
            },
            principal=principal,
            status_code=400 if error else 200,
        )

    @routes.get("/silences")
    def list_silences(
        request: Request, principal: PageDep, engine: EngineDep, clock: ClockDep
    ) -> Response:
        now = clock.now()
        with engine.begin() as conn:
            found = silences.list_silences(conn, now=now, include_expired=True)
            version, results = read_version(conn)
        by_state: dict[str, list[Silence]] = {"active": [], "pending": [], "expired": []}
        for item in found:
            by_state[item.state(now)].append(item)
        expired = by_state["expired"]
        return pages.render(
            request,
            "silences.html",
            {
                "title": "Silences",
                "now": now,
                "active": by_state["active"],
                "pending": by_state["pending"],
                "expired": expired[:EXPIRED_SHOWN],
                "expired_total": len(expired),
                "can_write": principal.role.allows(Role.RESPONDER),
                "live_version": version,
                "results_version": results,
            },
            principal=principal,
        )

    @routes.get("/silences/new")
    def new_silence(
        request: Request,
        principal: PageDep,
        matchers: Annotated[str, Query(max_length=PREFILL_MAX_CHARS)] = "",
    ) -> Response:
        return render_form(request, principal, matchers=matchers)

    @routes.post("/silences/new")
    def create_silence(
        request: Request,
        principal: FormDep,
        config: ConfigDep,
        engine: EngineDep,
        clock: ClockDep,
    ) -> Response:
        needs_role(principal, Role.RESPONDER)
        form: dict[str, str] = request.state.form
        now = clock.now()
        try:
            matchers = parse_matcher_lines(form.get("matchers", ""))
            ends_at = parse_end(form, starts_at=now, zone=ZoneInfo(config.timezone))
            with engine.begin() as conn:
                silences.create_silence(
                    conn,
                    matchers=matchers,
                    starts_at=now,
                    ends_at=ends_at,
                    created_by=principal.person or principal.actor,
                    comment=form.get("comment", ""),
                    now=now,
                    origin=ui_origin(request),
                    actor=principal.actor,
                )
        except InputError as exc:
            # The form comes back empty: an error page never repeats what was sent (a
            # secret pasted into the wrong box must not be shown, logged or cached again).
            return render_form(request, principal, matchers="", error=exc.message, field=exc.field)
        return back_to("/silences")

    @routes.post("/silences/{silence_id}/expire")
    def expire_silence(
        silence_id: str,
        request: Request,
        principal: FormDep,
        engine: EngineDep,
        clock: ClockDep,
    ) -> Response:
        needs_role(principal, Role.RESPONDER)
        with silence_in_path(), engine.begin() as conn:
            silences.expire_silence(
                conn,
                silence_id,
                now=clock.now(),
                actor=principal.actor,
                origin=ui_origin(request),
            )
        return back_to("/silences")

    return routes
