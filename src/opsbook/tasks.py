"""Helpers for the server's background tasks, shared by every domain that runs one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

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
