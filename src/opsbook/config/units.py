"""The one place that turns ``"30s"``, ``"99.9%"`` and ``"512MiB"`` into typed values (STYLE.md R7).

Each parser raises ``ValueError`` whose text is the whole user-facing sentence; the annotated
types at the bottom plug the parsers into pydantic so YAML strings validate directly.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

_DURATION_UNITS: dict[str, timedelta] = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)")
_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def _show(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return repr(text[:40] + "…" if len(text) > 40 else text)


def parse_duration(value: object) -> timedelta:
    """``"1h30m"`` -> ``timedelta(minutes=90)``. Units: ms, s, m, h, d, w, largest first.

    Bare numbers are refused: ``30`` could mean seconds or minutes, and the runbooks mean both.
    Raises ``ValueError`` with the user-facing sentence.
    """
    error = ValueError(f"{_show(value)} is not a duration (use e.g. 30s, 5m, 1h)")
    if not isinstance(value, str):
        raise error
    text = value.strip()
    total = timedelta()
    pos = 0
    previous = timedelta.max
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise error
        unit = _DURATION_UNITS[match.group(2)]
        # "5m1h" and "1m1m" are almost certainly typos, so each unit appears once, largest first.
        if unit >= previous:
            raise error
        previous = unit
        try:
            total += unit * float(match.group(1))
        except OverflowError:  # past timedelta's range: no schedule means it
            raise ValueError(f"{_show(value)} is too long a duration") from None
        pos = match.end()
    if pos == 0:
        raise error
    return total


def format_duration(value: timedelta) -> str:
    """The shortest unit string that ``parse_duration`` reads back to ``value`` (``"1h30m"``)."""
    if value <= timedelta():
        return "0s"
    rest = value
    parts: list[str] = []
    for name, unit in _DURATION_UNITS.items():
        count, rest = divmod(rest, unit)
        if count:
            parts.append(f"{count}{name}")
    return "".join(parts) or "0s"


def format_elapsed(value: timedelta) -> str:
    """A measured time as people read it: rounded to the second (``3m18s`` for 3m17.924s,
    ``42s``, ``1h5m``, ``0s`` under half a second); negative is ``0s``.

    ``format_duration`` keeps every millisecond so that a configured ``1500ms`` reads back the
    same; a time somebody took (MTTA, "acknowledged after") has no such duty, and
    ``3m17s924ms`` is noise.
    """
    seconds = (value + timedelta(milliseconds=500)) // timedelta(seconds=1)
    return format_duration(timedelta(seconds=max(0, seconds)))


def parse_percent(value: object) -> float:
    """``"99.9%"`` -> ``99.9``, between 0 and 100 inclusive.

    The ``%`` sign is required: a bare ``0.999`` or ``99.9`` is ambiguous, so it is refused.
    """
    match = _PERCENT.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{_show(value)} is not a percentage (use e.g. 99.9%)")
    number = float(match.group(1))
    if number > 100:
        raise ValueError(f"{_show(value)} is more than 100%")
    return number


def parse_size(value: object) -> int:
    """``"10KB"`` -> 10000, ``"512MiB"`` -> 536870912 bytes. KB is 1000 bytes, KiB is 1024."""
    error = ValueError(f"{_show(value)} is not a size (use e.g. 512B, 10KB, 64MiB)")
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise error
    factor = _SIZE_UNITS.get(match.group(2).lower())
    if factor is None:
        raise error
    size = float(match.group(1)) * factor
    if size != int(size):
        raise error
    return int(size)


def _duration(value: object) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(value)


def _format_percent(value: float) -> str:
    return f"{value:g}%"


def _size(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else parse_size(value)


if TYPE_CHECKING:
    # What the annotated types are to a type checker; at run time they also carry the parsers.
    Duration = timedelta
    Percent = float
    Size = int
else:

    def __getattr__(name: str) -> Any:
        # Built on first use (PEP 562), so that importing the parsers above imports no
        # pydantic: the CLI formats durations without it (issue 15).
        if name not in ("Duration", "Percent", "Size"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from pydantic import BeforeValidator, PlainSerializer

        duration = PlainSerializer(format_duration, return_type=str)
        percent = PlainSerializer(_format_percent, return_type=str)
        globals().update(
            Duration=Annotated[timedelta, BeforeValidator(_duration), duration],
            # Floats are refused even from Python: a dump serializes back to "99.9%", so round
            # trips still work.
            Percent=Annotated[float, BeforeValidator(parse_percent), percent],
            Size=Annotated[int, BeforeValidator(_size)],
        )
        return globals()[name]
