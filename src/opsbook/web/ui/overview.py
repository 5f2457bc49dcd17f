"""``/``: the overview. Every check's state, its latency over the last day, p95 against its SLO
and availability; alerts firing; open incidents; who is on call now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.web.auth import credentials_of, resolve_principal
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep
from opsbook.web.ui.overview_cache import OverviewCache
from opsbook.web.ui.overview_data import CheckRow, StatsCache, read_version
from opsbook.web.ui.overview_gzip import accepts_gzip, gzip_parts
from opsbook.web.ui.session import LoginRequired, login_redirect_target
from opsbook.web.ui.sparkline import HEIGHT, WIDTH
from opsbook.web.ui.templating import Pages

TABLE_MARK = Markup("<!--opsbook:checks-table-->")
NOT_GZIPPED = ((b"vary", b"accept-encoding"),)
GZIPPED = ((b"content-encoding", b"gzip"), *NOT_GZIPPED)


class PartsResponse(Response):
    """``like``'s status and headers with ``parts`` as the body, sent one after the other."""

    def __init__(
        self, parts: Sequence[bytes], *, like: Response, extra: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        super().__init__(status_code=like.status_code)
        self.parts = parts
        self.raw_headers = [
            *((k, v) for k, v in like.raw_headers if k != b"content-length"),
            *extra,
            (b"content-length", str(sum(map(len, parts))).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        for i, part in enumerate(self.parts, start=1):
            await send(
                {"type": "http.response.body", "body": part, "more_body": i < len(self.parts)}
            )


def router(pages: Pages, cache: StatsCache) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    table_template = pages.env.get_template("overview_checks.html")

    def render_table(rows: Sequence[CheckRow], now: datetime) -> str:
        return table_template.render(rows=rows, now=now, spark_w=WIDTH, spark_h=HEIGHT)

    contents = OverviewCache(render_table=render_table, stats=cache, clock=cache.clock)

    @routes.get("/")
    async def overview(
        request: Request, config: ConfigDep, engine: EngineDep, clock: ClockDep
    ) -> Response:
        # The busiest page: who is asking and what changed are read in one transaction on one
        # pool thread, where PageDep and a sync route took two of each (see docs/benchmarks.md).
        return await run_in_threadpool(answer, request, config, engine, clock)

    def answer(request: Request, config: Config, engine: Engine, clock: Clock) -> Response:
        now = clock.now()
        bearer, cookie = credentials_of(request)
        with engine.begin() as conn:
            principal = resolve_principal(conn, request, bearer=bearer, cookie=cookie, now=now)
            if principal is None:
                raise LoginRequired(login_redirect_target(request))
            version, results_version = read_version(conn)
            found = contents.get(conn, config=config, now=now, version=version)
        table = found.table
        response = pages.render(
            request,
            "overview.html",
            {
                "title": "Overview",
                "o": found.overview,
                "t": table,
                "table_html": TABLE_MARK,
                "live_version": version,
                "live_results": results_version,
            },
            principal=principal,
        )
        # The table is already UTF-8: sending it as it is saves encoding and copying a megabyte
        # (1,000 checks) on every request. Nothing escaped can contain the mark ("<" is escaped).
        assert isinstance(response.body, bytes)  # HTMLResponse encodes the rendered str
        head, _, tail = response.body.partition(TABLE_MARK.encode())
        # Sent compressed or not, the page varies with Accept-Encoding (RFC 9110 §12.5.5).
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            # About 30 KB: one body message costs less than three through the middleware.
            body = b"".join(gzip_parts(head, table.deflated, tail))
            return PartsResponse((body,), like=response, extra=GZIPPED)
        return PartsResponse((head, table.html, tail), like=response, extra=NOT_GZIPPED)

    return routes
