"""Probe slots: how many probes run at once, and who goes first when they are all taken.

A target that accepts connections and never answers keeps each probe against it for its whole
timeout. With one global queue, 100 such checks held all 64 slots and a healthy check waited
behind them (issue 11: a 2 s check got 32 results in 88 s). Two rules keep that from spreading:

- **Per target.** At most ``per_target`` probes to one ``host:port`` run at once; the rest of
  that target's checks wait for that target's own slots, holding none of the shared ones.
- **Quick checks first, and a reserve.** A check whose previous probe finished within
  ``QUICK`` gets a free slot before checks that were slow, timed out or have no result yet
  (within each group, first come, first served), and the last eighth of the slots is kept for
  quick checks only. Hanging probes tend to start and end together (each takes a slot the
  moment one frees); without the reserve a quick check would wait for the next such wave.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from datetime import timedelta

from opsbook.checks.models import Check

# A probe that finished within this is "quick": its check goes first for a slot next time.
QUICK = timedelta(seconds=1)


def target_key(check: Check) -> str | None:
    """The ``host:port`` a check's probe connects to, or None when it has none (``command``,
    ``dns`` at the system resolver). Internal only: never logged or shown (a DSN is a secret)."""
    try:
        return _target_key(check)
    except ValueError:
        # A target the parser cannot split shares no limit; the probe reports the error itself.
        return None


def _target_key(check: Check) -> str | None:
    spec = check.spec
    # Each probe module is imported only for a kind in use (STYLE.md R2).
    url = spec.http.url if spec.http is not None else spec.metric.url if spec.metric else None
    if url is not None:
        from opsbook.checks.probes.http import target_of as url_target

        return url_target(str(url))
    if spec.tcp is not None:
        return _host_port(spec.tcp.host, spec.tcp.port)
    if spec.tls is not None:
        return _host_port(spec.tls.host, spec.tls.port)
    if spec.dns is not None and spec.dns.server is not None:
        from opsbook.config.checks import dns_server_address

        address = dns_server_address(spec.dns.server)
        return _host_port(*address) if address is not None else None
    if spec.postgres is not None:
        from opsbook.checks.probes.postgres import target_of as dsn_target

        return dsn_target(spec.postgres.dsn.reveal())
    if spec.redis is not None:
        from opsbook.checks.probes.redis import target_of as redis_target

        return redis_target(spec.redis.url.reveal())
    return None


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ProbeSlots:
    """At most ``limit`` probes at once, at most ``per_target`` of them to one target, and
    at most ``limit - limit // 8`` for checks that are not known to be quick.

    ``hold(target=..., quick=...)`` waits for a slot and keeps it for the ``async with`` block.
    A waiter that is cancelled leaves its queue (or gives back a slot it was just handed).
    """

    def __init__(self, *, limit: int, per_target: int) -> None:
        self._limit = max(1, limit)
        # Slow checks may fill all but these; 0 below 8 slots, so a small cap is not halved.
        self._slow_limit = self._limit - self._limit // 8
        self._per_target = max(1, per_target)
        self._targets: dict[str, asyncio.Semaphore] = {}
        self._quick: deque[asyncio.Future[None]] = deque()
        self._slow: deque[asyncio.Future[None]] = deque()
        self.running = 0

    @contextlib.asynccontextmanager
    async def hold(self, *, target: str | None, quick: bool) -> AsyncIterator[None]:
        await self.acquire(target=target, quick=quick)
        try:
            yield
        finally:
            self.release(target=target)

    async def acquire(self, *, target: str | None, quick: bool) -> None:
        """Wait for a slot; each call is paired with one ``release(target=...)``, also when
        the caller is cancelled after this returns. A cancelled wait holds nothing."""
        # The target's slot first: a check waiting on a busy target holds no shared slot.
        target_slot = self._target_slot(target)
        if target_slot is not None:
            await target_slot.acquire()
        try:
            await self._acquire(quick=quick)
        except BaseException:
            if target_slot is not None:
                target_slot.release()
            raise

    def release(self, *, target: str | None) -> None:
        self._release()
        if target is not None:
            self._targets[target].release()

    def _target_slot(self, target: str | None) -> asyncio.Semaphore | None:
        if target is None:
            return None
        slot = self._targets.get(target)
        if slot is None:
            # One per configured target; the scheduler is rebuilt when the config changes.
            slot = self._targets[target] = asyncio.Semaphore(self._per_target)
        return slot

    async def _acquire(self, *, quick: bool) -> None:
        for queue in (self._quick, self._slow):
            # Waiters cancelled while queued stay until they reach the front; drop them here.
            while queue and queue[0].done():
                queue.popleft()
        ahead = self._quick if quick else (self._quick or self._slow)
        if self.running < (self._limit if quick else self._slow_limit) and not ahead:
            self.running += 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._quick if quick else self._slow).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                # Handed a slot in the same instant as the cancel: pass it on.
                self._release()
            raise

    def _release(self) -> None:
        self.running -= 1
        for queue, limit in ((self._quick, self._limit), (self._slow, self._slow_limit)):
            while queue and self.running < limit:
                granted = queue.popleft()
                if granted.done():  # its waiter was cancelled
                    continue
                self.running += 1
                granted.set_result(None)
