"""Fixtures for in-process app tests: a fresh registry and app per test, on both store backends."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from auth_helpers import authorize
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.web import create_app

SECRET = "S3cretPw-9z"


def make_config(**fields: Any) -> Config:
    return Config.model_validate({"service": "t", **fields})


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def secret() -> str:
    """A password that must never appear in any output."""
    return SECRET


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def make_app(registry: CollectorRegistry, clock: FrozenClock) -> Iterator[Callable[..., FastAPI]]:
    """Build an app of ``config`` (``service: t`` by default) on store ``url``, with this test's
    registry and frozen clock by default.

    Engines are disposed at teardown too, for tests that never run the app's lifespan.
    """
    built: list[FastAPI] = []

    def build(url: str, *, config: Config | None = None, **kwargs: Any) -> FastAPI:
        kwargs.setdefault("registry", registry)
        kwargs.setdefault("clock", clock)
        config = config if config is not None else make_config()
        app = create_app(config, environ={"OPSBOOK_DATABASE_URL": url}, **kwargs)
        built.append(app)
        return app

    yield build
    for app in built:
        app.state.services.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., FastAPI], store_url: str) -> FastAPI:
    """An app on ``store_url``: at head on both backends unless the test is marked
    ``empty_store``, so start-up only checks the revision (``test_app.py`` tests the migration
    at start-up)."""
    return make_app(store_url)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A started app's client, sending an admin token (every /api/v1 route needs one)."""
    with TestClient(app) as client:
        yield authorize(client)
