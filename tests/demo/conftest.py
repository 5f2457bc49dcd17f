"""A demo app on a real local socket per test, with a frozen clock so bodies are exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from opsbook.clock import FrozenClock
from opsbook.demo import DemoState, create_demo_app


@pytest.fixture
def state() -> DemoState:
    return DemoState(clock=FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.fixture
async def client(state: DemoState) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(create_demo_app(state))) as client:
        yield client
