"""Valid, storable text: what every string that enters opsbook must be, on both stores.

Python's ``str`` can hold what neither store can: a lone surrogate (``"\\ud800"``, which JSON
escapes allow) cannot be encoded as UTF-8, so SQLite's driver, Jinja, SMTP and every JSON
encoder downstream fail on it; PostgreSQL refuses NUL (``\\u0000``) in ``text`` and ``jsonb``,
and NaN or Infinity in ``jsonb``. ``problem`` says what is wrong with a string (to refuse it
with the field named); ``repair`` replaces the bad characters with U+FFFD (for free text whose
sender cannot fix it); ``repair_json`` does that through a decoded JSON value.

The same repair serves readers: ingest refuses or repairs bad text at the edge, but a row written
by an older version or straight into the store may still hold a lone surrogate (SQLite keeps one
inside JSON) or a NUL, and every reader that writes it out (a JSON answer, an email, a terminal)
would raise. Readers call ``repair`` and ``repair_map`` on what they read, so one bad row never
stops the others. Pure; imports only ``opsbook.types``, so any layer may use it.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from typing import cast

from opsbook.types import JSONValue

REPLACEMENT = "\ufffd"
"""U+FFFD REPLACEMENT CHARACTER: what a repaired character becomes."""

# A NUL, or any surrogate code point: in a decoded ``str`` a surrogate is always a lone one
# (a valid pair in JSON decodes to one astral character).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, as a phrase for an error message (``"contains a NUL
    character"``), or None when it can. Never quotes the text: it may be a secret."""
    # Fast path for the common case: an ASCII string holds no surrogate (str.isascii is O(1)).
    if text.isascii() and "\x00" not in text:
        return None
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not valid Unicode"


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def repair(text: str) -> str:
    """``text`` with each NUL and lone surrogate replaced by U+FFFD (the same object when there
    was nothing to replace)."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def repair_json(value: object, *, max_depth: int = 64) -> tuple[object, bool]:
    """``value`` (decoded JSON) made storable, and whether anything changed.

    Strings (keys too) are ``repair``-ed; a NaN or infinite float becomes its JSON-ish name as a
    string (``"NaN"``, ``"Infinity"``, ``"-Infinity"``), which ``jsonb`` and strict JSON accept.
    Raises ``ValueError`` if the value nests deeper than ``max_depth`` arrays and objects.
    Iterative, so a deep value cannot exhaust the stack.
    """
    changed = False

    def fix_scalar(item: object) -> object:
        nonlocal changed
        if isinstance(item, str):
            fixed = repair(item)
            changed = changed or fixed is not item
            return fixed
        if isinstance(item, float) and not math.isfinite(item):
            changed = True
            return "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
        return item

    if not isinstance(value, dict | list):
        return fix_scalar(value), changed
    root: dict[str, object] | list[object] = {} if isinstance(value, dict) else []
    stack: list[tuple[dict[object, object] | list[object], dict[str, object] | list[object], int]]
    stack = [(value, root, 1)]
    while stack:
        source, target, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"is nested deeper than {max_depth} levels")
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            child: object
            if isinstance(item, dict | list):
                container: dict[str, object] | list[object] = {} if isinstance(item, dict) else []
                stack.append((item, container, depth + 1))
                child = container
            else:
                child = fix_scalar(item)
            if isinstance(target, dict):
                target[str(fix_scalar(key))] = child
            else:
                target.append(child)
    return root, changed


def repair_map(value: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """A stored JSON object (labels, annotations, values) with its strings (keys too) repaired."""
    # A reader repairs whatever depth was stored; the limit is for what a request may send.
    repaired, _ = repair_json(dict(value), max_depth=sys.getrecursionlimit() * 100)
    return cast("dict[str, JSONValue]", repaired) if isinstance(repaired, dict) else {}
