"""``/``: the overview. Every check's state, its latency over the last day, p95 against its SLO
and availability; alerts firing; open incidents; who is on call now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsbook.web.deps import ClockDep, ConfigDep, EngineDep
from opsbook.web.ui.overview_data import StatsCache, read_overview
from opsbook.web.ui.session import PageDep
from opsbook.web.ui.sparkline import HEIGHT, WIDTH
from opsbook.web.ui.templating import Pages


def router(pages: Pages, cache: StatsCache) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/")
    def overview(
        request: Request,
        principal: PageDep,
        config: ConfigDep,
        engine: EngineDep,
        clock: ClockDep,
    ) -> Response:
        now = clock.now()
        with engine.begin() as conn:
            data = read_overview(conn, config=config, now=now, cache=cache)
        return pages.render(
            request,
            "overview.html",
            {"title": "Overview", "o": data, "spark_w": WIDTH, "spark_h": HEIGHT},
            principal=principal,
        )

    return routes
