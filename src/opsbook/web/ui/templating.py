"""The UI's Jinja2 environment and its helpers: one place that renders pages.

Autoescaping is on for every template. Times are shown in the config's timezone (UTC inside,
DESIGN.md). Static files carry the package version in their URL, so a new release is never
served a stale stylesheet from the browser's cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from opsbook import __version__
from opsbook.accounts import Principal
from opsbook.web.deps import get_config

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

NAV: tuple[tuple[str, str], ...] = (
    ("Overview", "/"),
    ("Incidents", "/incidents"),
    ("Alerts", "/alerts"),
    ("Silences", "/silences"),
    ("On-call", "/oncall"),
    ("Runbooks", "/runbooks"),
    ("Runs", "/runs"),
    ("Notifications", "/notifications"),
    ("Audit", "/audit"),
    ("Status page", "/status/"),
)


def static_url(name: str) -> str:
    return f"/static/ui/{name}?v={__version__}"


NONE = "\u2013"
"""What a missing figure shows as (an en dash)."""


def format_ms(value: float | None) -> str:
    """``1234.5`` -> ``1.23 s``; ``42.31`` -> ``42 ms``; ``0.42`` -> ``0.4 ms``; None: NONE."""
    if value is None:
        return NONE
    if value >= 1000:
        return f"{value / 1000:.3g} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def format_percent(value: float | None) -> str:
    """Availability to the precision an SLO needs: ``99.95 %``; 100 stays ``100 %``."""
    if value is None:
        return NONE
    if value >= 100:
        return "100 %"
    return f"{min(value, 99.999):.3f}".rstrip("0").rstrip(".") + " %"


def format_span(delta: timedelta) -> str:
    """A short human duration: ``45s``, ``12m``, ``3h 5m``, ``2d 4h``."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes}m"
    if hours < 48:
        rest = minutes - hours * 60
        return f"{hours}h {rest}m" if rest else f"{hours}h"
    rest_h = hours - days * 24
    return f"{days}d {rest_h}h" if rest_h else f"{days}d"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html", "svg")),
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates ship in the package: checking each file's mtime on every render cost
        # a stat() per template per request (py-spy: 2 % of the overview's CPU).
        auto_reload=False,
    )
    env.filters["ms"] = format_ms
    env.filters["percent"] = format_percent
    env.filters["span"] = format_span
    env.globals["static_url"] = static_url
    env.globals["nav"] = NAV
    env.globals["version"] = __version__
    return env


class Pages:
    """Renders a template with what every page needs (who is logged in, the CSRF token, the
    clock's now, the display timezone, the nav)."""

    def __init__(self, env: Environment | None = None) -> None:
        self.env = env if env is not None else make_environment()

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any],
        *,
        principal: Principal | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        config = get_config(request)
        zone = ZoneInfo(config.timezone)

        def local(at: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
            return at.astimezone(zone).strftime(fmt) if at is not None else NONE

        page = {
            "request_path": request.url.path,
            "principal": principal,
            "csrf_token": getattr(request.state, "csrf", "") if principal else "",
            "service": config.service,
            "timezone": config.timezone,
            "local": local,
            **context,
        }
        html = self.env.get_template(name).render(page)
        response = HTMLResponse(html, status_code=status_code, headers=headers)
        # Pages show who is logged in and live data: never from a shared cache.
        response.headers.setdefault("Cache-Control", "no-store")
        return response
