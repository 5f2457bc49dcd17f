"""The ``shop`` fixture: ``statuspage_helpers.Shop`` on a store migrated to head (SQLite and
PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from statuspage_helpers import Shop, shop_config

from opsbook.config import Config


@pytest.fixture
def shop(engine: Engine) -> Shop:
    return Shop(engine, Config.model_validate(shop_config()))
