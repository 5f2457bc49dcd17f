"""The overview's contents, read and rendered once and served to every viewer until something
they show changes.

With 1,000 checks the checks table is about a megabyte of HTML and takes tens of milliseconds
to read and render; twenty browsers reloading the page each doing that would queue behind one
another (bench/ui_overview.py: p99 2.8 s). Nothing on it but the header depends on who looks,
so one reading serves them all, and a request costs two small queries (its session and
``read_version``'s change markers):

* A check changing state, an alert or incident event (every alert transition and incident
  change writes one) or a maintenance window opening or closing reads and renders it again
  before the page is answered, so a check turns red, and an alert or incident appears, at once.
* A check changing state also reads its own rollup figures again (``StatsCache``), so a
  check shown down is never shown beside the availability from before it went down.
* New results alone (a last error's text), new rollup figures (``StatsCache``) and the passing
  of time (the "for 3m" spans, a shift ending) refresh it every ``PAGE_TTL_S``: one request
  reads and renders while the others keep the previous one. The live page asks for new results
  alone at most every 30 s anyway (``live.js``), and the spans count minutes, so 15 s rather
  than 5 s shows nobody anything later; it is a third of the renders, each of which holds the
  GIL for some 70 ms with 1,000 checks and so delays every request in flight
  (bench/ui_overview.py: p99 105 -> 59 ms with the figures' 60 s).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.web.ui.overview_data import (
    CheckRow,
    Overview,
    StatsCache,
    count_states,
    in_maintenance,
    read_checks,
    read_overview,
    read_states,
    state_marks,
)
from opsbook.web.ui.overview_gzip import Deflated

PAGE_TTL_S = 15.0

RenderTable = Callable[[Sequence[CheckRow], datetime], str]
"""Renders the checks table's HTML at a time (the spans are counted from it)."""


@dataclass(frozen=True)
class ChecksTable:
    html: bytes
    """UTF-8, escaped by the template; spliced into the page as bytes (``overview.py``)."""
    deflated: Deflated
    """``html`` deflated once, for every request that accepts gzip (``overview_gzip.py``)."""
    counts: dict[str, int]
    """How many checks are in each state (``up``, ``down``, ..., ``no data``)."""
    total: int


@dataclass(frozen=True)
class Contents:
    overview: Overview
    table: ChecksTable


@dataclass(frozen=True)
class _Entry:
    contents: Contents
    version: str
    held: frozenset[str]
    at_monotonic: float


class OverviewCache:
    """The last ``Contents`` and the change marker they were read at."""

    def __init__(
        self,
        *,
        render_table: RenderTable,
        stats: StatsCache,
        clock: Clock,
        ttl_s: float = PAGE_TTL_S,
    ) -> None:
        self.render_table = render_table
        self.stats = stats
        self.clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entry: _Entry | None = None

    def get(self, conn: Connection, *, config: Config, now: datetime, version: str) -> Contents:
        """The contents for the store at ``version`` (``read_version``'s first marker).

        Reads and renders only when the cached contents are out of date (module docstring),
        and makes the request wait for that only when a change must show at once.
        """
        held = frozenset(in_maintenance(config, now))
        seen = self._entry
        if seen is not None and (seen.version, seen.held) == (version, held):
            if self.clock.monotonic() - seen.at_monotonic < self.ttl_s:
                return seen.contents
            if not self._lock.acquire(blocking=False):
                return seen.contents  # another request is reading them
        else:
            self._lock.acquire()
        try:
            entry = self._entry
            # Another request may have read them while this one waited for the lock.
            if entry is None or entry is seen or (entry.version, entry.held) != (version, held):
                entry = _Entry(self._read(conn, config, now), version, held, self.clock.monotonic())
                self._entry = entry
            return entry.contents
        finally:
            self._lock.release()

    def _read(self, conn: Connection, config: Config, now: datetime) -> Contents:
        states = read_states(conn, config)
        stats = self.stats.get(conn, config=config, now=now, states=state_marks(states.values()))
        rows = read_checks(config=config, now=now, states=states, stats=stats)
        html = self.render_table(rows, now).encode()
        table = ChecksTable(
            html=html,
            deflated=Deflated.of(html),
            counts=count_states(rows),
            total=len(rows),
        )
        return Contents(read_overview(conn, config=config, now=now), table)
