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
