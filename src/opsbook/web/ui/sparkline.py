"""A latency sparkline as SVG geometry, drawn on the server (no chart library, no script).

Pure: points in, a polyline's ``points`` attribute out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH = 120
HEIGHT = 28
PAD = 2


@dataclass(frozen=True)
class Sparkline:
    points: str
    """``"x,y x,y ..."`` for ``<polyline points>``; one point draws as a dot."""
    last: tuple[float, float] | None
    low_ms: float | None
    high_ms: float | None

    @property
    def is_empty(self) -> bool:
        return self.last is None


EMPTY = Sparkline(points="", last=None, low_ms=None, high_ms=None)


def sparkline(
    samples: Sequence[tuple[datetime, float]], *, start: datetime, end: datetime
) -> Sparkline:
    """Place ``(time, latency_ms)`` samples on a ``WIDTH`` x ``HEIGHT`` canvas: time across
    ``[start, end]``, latency from 0 (bottom) to the highest sample (top)."""
    if not samples or end <= start:
        return EMPTY
    span_s = (end - start).total_seconds()
    high = max(value for _, value in samples)
    scale = (HEIGHT - 2 * PAD) / high if high > 0 else 0.0
    coords = []
    for at, value in sorted(samples):
        fraction = min(max((at - start).total_seconds() / span_s, 0.0), 1.0)
        x = PAD + fraction * (WIDTH - 2 * PAD)
        y = HEIGHT - PAD - value * scale
        coords.append((round(x, 1), round(y, 1)))
    return Sparkline(
        points=" ".join(f"{x:g},{y:g}" for x, y in coords),
        last=coords[-1],
        low_ms=min(value for _, value in samples),
        high_ms=high,
    )
