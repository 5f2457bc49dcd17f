"""Fixtures of the alerts tests."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine


@pytest.fixture
def store(engine: Engine) -> Engine:
    """The migrated store (``engine`` in tests/conftest.py), under the name the alert engine
    tests give it: there ``engine`` is the ``AlertEngine``."""
    return engine
