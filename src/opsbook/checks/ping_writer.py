"""Pings written by group commit: the requests that arrive while one transaction runs share the
next one (``store/group_commit.py``), and each request's ``await`` returns after its commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from opsbook.checks.heartbeats_monitor import accept_pings
from opsbook.checks.models import ProbeResult
from opsbook.checks.pings import PingIn
from opsbook.config import Config
from opsbook.store.group_commit import GroupCommitter

_Job = tuple[PingIn, datetime]


class PingWriter:
    """Stores the pings of ``config``'s heartbeat checks: ``accept`` returns the results a ping
    caused once it, and they, are committed."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self._specs = {c: s.heartbeat for c, s in config.checks.items() if s.heartbeat is not None}
        self._intervals = {c: config.checks[c].every for c in self._specs}
        self._timezone = config.timezone
        self._committer: GroupCommitter[_Job, list[ProbeResult]] = GroupCommitter(
            engine, self._run, name="ping"
        )

    async def accept(self, ping_in: PingIn, at: datetime) -> list[ProbeResult]:
        """Raises ``ValueError`` for a check that is not a heartbeat of the config, and what the
        store raises."""
        if ping_in.check_id not in self._specs:
            raise ValueError(f"check {ping_in.check_id!r} is not a heartbeat")
        return await self._committer.submit((ping_in, at))

    def _run(self, conn: Connection, jobs: Sequence[_Job]) -> list[list[ProbeResult]]:
        accepted = accept_pings(
            conn, jobs, specs=self._specs, intervals=self._intervals, timezone=self._timezone
        )
        return [results for _, results in accepted]
