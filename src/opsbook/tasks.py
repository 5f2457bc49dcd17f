"""Helpers for the server's background tasks, shared by every domain that runs one."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable
from typing import TypeVar

from opsbook.redaction import redact_text
from opsbook.textsafe import repair

_T = TypeVar("_T")


async def finish_then_cancel(work: Awaitable[_T]) -> _T:
    """Await ``work``; if cancelled meanwhile, let it finish first, then raise the cancellation.

    Store work runs in threads, which cannot be interrupted: without this, a shutdown would go
    on to dispose the engine while a thread still holds one of its connections.
    """
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # A shutdown may cancel us more than once (a parent's gather, then its own cleanup);
        # each one must still wait for the thread, or the engine is disposed under it.
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        raise


def set_from_any_thread(
    loop: asyncio.AbstractEventLoop | None, event: asyncio.Event | None
) -> None:
    """Set ``event``, which belongs to ``loop``, from whatever thread is calling: directly on
    the loop's own thread, through ``call_soon_threadsafe`` from any other. No-op before the
    loop runs or after it closed (a shutdown racing a wake has nothing left to wake)."""
    if loop is None or event is None or loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        event.set()
        return
    with contextlib.suppress(RuntimeError):  # the loop closed since the check above
        loop.call_soon_threadsafe(event.set)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` for a failure shown in /ready, the API or a timeline: the first line
    only, secrets masked, cut at 300 characters, and repaired (the message may quote bad text)."""
    lines = str(exc).strip().splitlines()
    first = redact_text(lines[0]) if lines else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return repair(text)[:300]


class TaskFailures:
    """How often each background task failed a whole pass, and how many single items (an
    alert, an incident, a notification) its passes could not handle; read by /metrics as
    ``opsbook_task_failures_total`` and ``opsbook_item_failures_total``. Thread-safe: passes
    run in worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.passes: dict[str, int] = {}
        self.items: dict[str, int] = {}

    def pass_failed(self, task: str) -> None:
        with self._lock:
            self.passes[task] = self.passes.get(task, 0) + 1

    def item_failed(self, task: str, n: int = 1) -> None:
        with self._lock:
            self.items[task] = self.items.get(task, 0) + n

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """(passes, items), copied under the lock for a scrape."""
        with self._lock:
            return dict(self.passes), dict(self.items)
