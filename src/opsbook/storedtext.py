"""Repair of text read back from the store, for whoever shows or sends it.

Ingest refuses or repairs bad text at the edge, but a row written by an older version or
straight into the store may still hold a lone surrogate (``"x\\ud800"``: SQLite keeps it inside
JSON) or a NUL. Such a string cannot be encoded as UTF-8, so every reader that writes it out (a
JSON answer, an email, a terminal, another table) would raise. Readers repair it with U+FFFD,
the way a UTF-8 decoder shows bytes it cannot read, so one bad row never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from opsbook.types import JSONValue

REPLACEMENT = "\ufffd"
# Every surrogate code point in a str is unpaired (a JSON pair decodes to one code point), and
# PostgreSQL stores no NUL in text.
_BAD = re.compile("[\ud800-\udfff\x00]")


def repair(text: str) -> str:
    """``text`` with each lone surrogate and NUL replaced by U+FFFD; the same object if clean."""
    return _BAD.sub(REPLACEMENT, text) if _BAD.search(text) else text


def repair_json(value: JSONValue) -> JSONValue:
    """``value`` with every string in it (keys too) repaired."""
    if isinstance(value, str):
        return repair(value)
    if isinstance(value, Mapping):
        return {repair(str(k)): repair_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [repair_json(v) for v in value]
    return value


def repair_map(value: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """A stored JSON object (labels, annotations, values) with its strings repaired."""
    return {repair(str(k)): repair_json(v) for k, v in value.items()}
