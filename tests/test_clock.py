from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsbook.clock import SYSTEM_CLOCK, FrozenClock


def test_system_clock_is_aware_utc() -> None:
    assert SYSTEM_CLOCK.now().tzinfo is UTC
    assert SYSTEM_CLOCK.monotonic() <= SYSTEM_CLOCK.monotonic()


def test_frozen_clock_moves_only_when_advanced() -> None:
    start = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    clock = FrozenClock(start)
    assert clock.now() == start
    clock.advance(timedelta(minutes=2))
    assert clock.now() == start + timedelta(minutes=2)
    assert clock.monotonic() == 120.0


def test_frozen_clock_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2026, 1, 1))
