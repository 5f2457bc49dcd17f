"""``/alerts``: the alerts firing now, filtered by label matchers typed as amtool takes them
(``service="api", severity=~"sev[12]"``), each with a link that opens the silence form
prefilled with its labels. The list refreshes in place when an alert event is written
(``/ui/events``, static/ui/live.js); the filter box is outside the refreshed part."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from opsbook.alerts import service, silences
from opsbook.alerts.models import Alert, AlertStatus, Matcher
from opsbook.errors import InputError
from opsbook.web.deps import ClockDep, EngineDep
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.session import PageDep
from opsbook.web.ui.templating import Pages

SHOWN = service.MAX_LIMIT
FILTER_MAX_CHARS = 1000
# A comma ends a matcher unless it is inside a quoted value (which may hold \" escapes).
_PARTS = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*"?)+')


def split_matchers(text: str) -> list[str]:
    """``'{a="x,y", b=z}'`` -> ``['a="x,y"', 'b=z']``: amtool's list, braces optional."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    return [part.strip() for part in _PARTS.findall(body) if part.strip()]


def parse_filter(text: str) -> tuple[Matcher, ...]:
    """The filter box's matchers; ``InputError`` names ``filter[i]`` and never quotes it."""
    if len(text) > FILTER_MAX_CHARS:
        raise InputError(f"filter: at most {FILTER_MAX_CHARS} characters", field="filter")
    return silences.parse_matchers(split_matchers(text), field="filter")


def silence_link(labels: Mapping[str, str]) -> str:
    """``/silences/new?matchers=...``: one ``name="value"`` line per label of the alert."""
    lines = "\n".join(str(Matcher(name, value)) for name, value in sorted(labels.items()))
    return "/silences/new?" + urlencode({"matchers": lines})


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/alerts")
    def firing_alerts(
        request: Request,
        principal: PageDep,
        engine: EngineDep,
        clock: ClockDep,
        text: Annotated[str, Query(alias="filter")] = "",
    ) -> Response:
        error = None
        matchers: tuple[Matcher, ...] = ()
        try:
            matchers = parse_filter(text)
        except InputError as exc:
            error = exc.message
        with engine.begin() as conn:
            firing = service.list_alerts(conn, statuses={AlertStatus.FIRING}, limit=SHOWN)
            version, results = read_version(conn)
        shown: list[Alert] = [a for a in firing if silences.matches(matchers, a.labels)]
        if not matchers:
            shown = [] if error else firing
        return pages.render(
            request,
            "alerts.html",
            {
                "title": "Alerts",
                "now": clock.now(),
                "alerts": shown,
                "firing_total": len(firing),
                "filter": text if error is None else "",
                "error": error,
                "silence_link": silence_link,
                "mute_reason": service.mute_reason,
                # Not "version": that is the package's, which the footer shows.
                "live_version": version,
                "results_version": results,
            },
            principal=principal,
            status_code=400 if error else 200,
        )

    return routes
