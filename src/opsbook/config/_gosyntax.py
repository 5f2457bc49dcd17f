"""Go's number, duration and glob syntax, as Gatus applies them to condition operands.

Pasted Gatus conditions must give the same answers here, so these follow the Go standard library
(``strconv.ParseInt`` base 0, ``strconv.ParseFloat``, ``time.ParseDuration``, ``filepath.Match``)
rather than Python's own parsers, which differ on ``010``, ``1_000``, ``1h30m`` and ``[!a]``.
"""

from __future__ import annotations

import re
from fractions import Fraction

_INT64 = 2**63
_INT_TEXT = re.compile(r"[+-]?[0-9A-Za-z_]+")
# strconv.ParseFloat's decimal form; hex floats and inf/nan never appear in a health check.
_FLOAT_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")
_NANOS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``: ``0x1F``, ``0o7``, ``0b10``, and ``010`` is octal 8."""
    if not _INT_TEXT.fullmatch(text):
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    if len(digits) != len(text) - (text[0] in "+-"):
        return None
    try:
        if digits[:2].lower() in ("0x", "0o", "0b"):
            value = int(digits, 0)
        elif len(digits) > 1 and digits[0] == "0":
            value = int(digits, 8)
        else:
            value = int(digits, 10)
    except ValueError:
        return None
    value *= sign
    return value if -_INT64 <= value < _INT64 else None


def parse_go_float(text: str) -> float | None:
    if not _FLOAT_TEXT.fullmatch(text):
        return None
    return float(text)


def parse_go_duration_ms(text: str) -> int | None:
    """``time.ParseDuration(text).Milliseconds()``, or None if invalid or zero (Gatus skips 0)."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or body == "0":
        return None
    total = Fraction(0)
    pos = 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None or (not match.group(1) and not match.group(2)):
            return None
        whole, fraction, unit = match.groups()
        number = Fraction(int(whole or "0")) + (
            Fraction(int(fraction), 10 ** len(fraction)) if fraction else Fraction(0)
        )
        total += number * _NANOS[unit]
        pos = match.end()
    if total >= _INT64 or total == 0:
        return None
    millis = int(total / 1_000_000)  # Go's Duration.Milliseconds truncates toward zero
    return -millis if text[0] == "-" else millis


def is_go_number(text: str) -> bool:
    """Whether Gatus' ordering operators read ``text`` as a value rather than as 0."""
    return (
        parse_go_duration_ms(text) is not None
        or parse_go_int(text) is not None
        or parse_go_float(text) is not None
    )


def format_go_duration(millis: int) -> str:
    """Whole seconds, units that are zero left out: ``336h``, ``1h30m``, ``45s``, ``0s``."""
    sign = "-" if millis < 0 else ""
    seconds = abs(millis) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return sign + "".join(parts) if parts else "0s"


def translate_glob(pattern: str) -> re.Pattern[str] | None:
    """Go ``filepath.Match`` syntax as a regex: ``*``, ``?``, ``[a-z]``, ``[^a]``, ``\\`` escapes.

    Returns None for a pattern Go calls malformed (``ErrBadPattern``), which never matches.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\":
            if i + 1 == len(pattern):
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            parsed = _char_class(pattern, i + 1)
            if parsed is None:
                return None
            regex, i = parsed
            out.append(regex)
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _char_class(pattern: str, start: int) -> tuple[str, int] | None:
    i = start
    negated = i < len(pattern) and pattern[i] == "^"
    i += negated
    ranges: list[str] = []
    while True:
        if i >= len(pattern):
            return None
        if pattern[i] == "]" and ranges:
            break
        low, i = _class_char(pattern, i)
        if low is None:
            return None
        high = low
        if i < len(pattern) and pattern[i] == "-":
            upper, i = _class_char(pattern, i + 1)
            if upper is None or upper < low:
                return None
            high = upper
        ranges.append(re.escape(low) + ("-" + re.escape(high) if high != low else ""))
    return ("[" + ("^" if negated else "") + "".join(ranges) + "]", i + 1)


def _class_char(pattern: str, i: int) -> tuple[str | None, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        return None, i
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None, i
    return pattern[i], i + 1
