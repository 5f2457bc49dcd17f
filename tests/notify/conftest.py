"""Fixtures of the notify tests: a real webhook receiver on 127.0.0.1 and a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from notify_helpers import T0, Sink

from opsbook.clock import FrozenClock


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    recorder = Sink()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    recorder.url = f"http://{host}:{port}"
    yield recorder
    await runner.cleanup()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)
