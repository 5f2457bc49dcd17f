"""``/checks/{check_id}``: one check over a chosen window (1h, 24h, 7d, 30d): its state, latency
p50/p95/p99 as a uPlot chart (fed from a ``data-series`` attribute by ``static/ui/check-chart.js``;
the figures for the whole window are in a table, readable without JavaScript), availability bars
drawn server-side as SVG, recent failures with the condition that failed, and the maintenance
windows that cover the check now or in the next 7 days.

The state, figures, bars, failures and windows refresh in place (``/ui/events``,
static/ui/live.js): at once on a state change, at most every 30 s for new results alone. The
chart is outside the refreshed parts: check-chart.js draws into its box once (and observes that
box's size), so a swapped-in box would hold only the no-JavaScript text; it shows the window as
loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from opsbook.alerts.maintenance import OpenWindow, covers, open_windows, upcoming_windows
from opsbook.checks import service
from opsbook.checks.tables import check_result
from opsbook.config import CheckSpec, Config
from opsbook.errors import InputError, NotFound
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep
from opsbook.web.ui.check_series import WINDOWS, Point, chart_json, read_points
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.session import PageDep
from opsbook.web.ui.templating import Pages, static_url

DEFAULT_WINDOW = "24h"
FAILURES_SHOWN = 20
UPCOMING = timedelta(days=7)
BARS_WIDTH = 1000
"""The availability bars' SVG user units; the SVG scales to the page's width."""
DEFAULT_AVAILABILITY_TARGET = 99.9
PARTIAL_FLOOR = 95.0
"""A step below the check's availability objective but at least this is drawn as partial."""


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    css: str
    """``up``, ``partial``, ``down`` or ``no-data``."""
    label: str


@dataclass(frozen=True)
class Failure:
    at: datetime
    state: str
    error: str | None
    failed_conditions: list[str]
    status: int | None
    latency_ms: float | None


def bar_class(availability: float | None, *, target: float) -> str:
    if availability is None:
        return "no-data"
    if availability >= target:
        return "up"
    return "partial" if availability >= PARTIAL_FLOOR else "down"


def bars(found: list[Point], *, target: float, label_of: Callable[[datetime], str]) -> list[Bar]:
    """One bar per step, coloured by its availability against ``target`` (percent)."""
    width = BARS_WIDTH / max(len(found), 1)
    gap = min(width * 0.2, 2.0)
    out = []
    for i, point in enumerate(found):
        shown = "no data" if point.availability is None else f"{point.availability:.3g} %"
        when = label_of(point.start)
        out.append(
            Bar(
                x=round(i * width, 2),
                width=round(width - gap, 2),
                css=bar_class(point.availability, target=target),
                label=f"{when}: {shown}",
            )
        )
    return out


def recent_failures(conn: Connection, *, check_id: str, limit: int) -> list[Failure]:
    """The newest results that were not up (failures outlive plain results under retention)."""
    r = check_result.c
    rows = conn.execute(
        sa.select(r.started_at, r.state, r.error, r.failed_conditions, r.status, r.latency_ms)
        .where(r.check_id == check_id, r.state != "up")
        .order_by(r.id.desc())
        .limit(limit)
    )
    return [
        Failure(
            at=row.started_at,
            state=row.state,
            error=row.error,
            failed_conditions=list(row.failed_conditions or ()),
            status=row.status,
            latency_ms=row.latency_ms,
        )
        for row in rows
    ]


def windows_covering(config: Config, check_id: str, now: datetime) -> list[OpenWindow]:
    found = [*open_windows(config, now), *upcoming_windows(config, now, UPCOMING)]
    return [w for w in found if covers(config, w, {"check": check_id})]


def _spec(config: Config, check_id: str) -> CheckSpec:
    spec = config.checks.get(check_id)
    if spec is None:
        raise NotFound("no check with this id in the config", field="check_id")
    return spec


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/checks/{check_id}")
    def check_page(
        check_id: str,
        request: Request,
        principal: PageDep,
        config: ConfigDep,
        engine: EngineDep,
        clock: ClockDep,
        window: Annotated[str, Query(max_length=8)] = DEFAULT_WINDOW,
    ) -> Response:
        spec = _spec(config, check_id)
        chosen = WINDOWS.get(window)
        if chosen is None:
            raise InputError(
                f"window: use one of {', '.join(WINDOWS)}", field="window", location="query"
            )
        now = clock.now()
        with engine.begin() as conn:
            states = service.current_states(conn, check_ids=[check_id])
            stats = service.window(conn, check_id=check_id, start=now - chosen.length, end=now)
            found = read_points(conn, check_id=check_id, spec=chosen, now=now)
            failures = recent_failures(conn, check_id=check_id, limit=FAILURES_SHOWN)
            version, results = read_version(conn)
        target = spec.slo.availability or DEFAULT_AVAILABILITY_TARGET
        fmt = "%H:%M" if chosen.length <= timedelta(days=1) else "%d %b %H:%M"
        zone = ZoneInfo(config.timezone)

        def label_of(at: datetime) -> str:
            return at.astimezone(zone).strftime(fmt)

        covering = windows_covering(config, check_id, now)
        return pages.render(
            request,
            "check.html",
            {
                "title": f"Check {check_id}",
                "now": now,
                "check_id": check_id,
                "spec": spec,
                "target": spec.target_display(),
                "status": states[0] if states else None,
                "window": window,
                "windows": list(WINDOWS),
                "stats": stats,
                "series": chart_json(found),
                "bars": bars(found, target=target, label_of=label_of),
                "availability_target": target,
                "failures": failures,
                "maintenance": covering,
                "in_maintenance": any(w.start <= now < w.end for w in covering),
                "uplot_js": "/static/vendor/uplot/uPlot.iife.min.js",
                "uplot_css": "/static/vendor/uplot/uPlot.min.css",
                "chart_js": static_url("check-chart.js"),
                "bars_width": BARS_WIDTH,
                "live_version": version,
                "results_version": results,
            },
            principal=principal,
        )

    return routes
