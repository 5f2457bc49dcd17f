"""A SQL step's text as statements psycopg can run with bound parameters. Pure.

The text is split at ``;`` outside quotes, comments and dollar quotes, so each statement runs
on its own with only its own parameters (PostgreSQL prepares one statement at a time).
``{{ name }}`` becomes ``%(name)s`` and a literal ``%`` becomes ``%%``. A placeholder inside a
string literal is bound too: ``'{{ x }}'`` is the value itself and ``'%{{ x }}%'`` becomes
``('%%' || %(x)s || '%%')``, so a value is never parsed as SQL. Placeholders inside comments
and dollar-quoted bodies are left as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opsbook.runbooks.shell import PLACEHOLDER

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Statement:
    sql: str
    """For ``cursor.execute(sql, params)``: placeholders as ``%(name)s``, ``%`` doubled."""
    names: tuple[str, ...]
    source: str
    """The statement as written (for showing)."""


def split_statements(text: str) -> list[Statement]:
    """The statements of ``text`` in order; comment-only pieces are dropped."""
    statements: list[Statement] = []
    out: list[str] = []
    names: list[str] = []
    start = 0
    has_code = False
    i = 0

    def finish(end: int) -> None:
        nonlocal out, names, has_code, start
        if has_code:
            source = text[start:end].strip()
            statements.append(Statement("".join(out).strip(), tuple(dict.fromkeys(names)), source))
        out, names, has_code, start = [], [], False, end + 1

    while i < len(text):
        char = text[i]
        match = PLACEHOLDER.match(text, i)
        if match:
            out.append(f"%({match.group(1)})s")
            names.append(match.group(1))
            has_code = True
            i = match.end()
        elif text.startswith("--", i):
            end = _end_of(text, "\n", i)
            out.append(_percent(text[i:end]))
            i = end
        elif text.startswith("/*", i):
            end = _end_of(text, "*/", i + 2)
            out.append(_percent(text[i:end]))
            i = end
        elif char == "'":
            i = _literal(text, i, out, names)
            has_code = True
        elif char == '"':
            end = _end_of(text, '"', i + 1)
            out.append(_percent(text[i:end]))
            has_code = True
            i = end
        elif char == "$" and (dollar := _DOLLAR.match(text, i)) and not _in_word(text, i):
            end = _end_of(text, dollar.group(0), dollar.end())
            out.append(_percent(text[i:end]))
            has_code = True
            i = end
        elif char == ";":
            finish(i)
            i += 1
        else:
            out.append("%%" if char == "%" else char)
            has_code = has_code or not char.isspace()
            i += 1
    finish(len(text))
    return statements


def _literal(text: str, i: int, out: list[str], names: list[str]) -> int:
    """Copy the string literal at ``i`` (``''`` is a quote inside it), binding placeholders."""
    parts: list[tuple[str, str]] = []  # ("text", s) or ("param", name)
    buf: list[str] = []
    j = i + 1
    while j < len(text):
        match = PLACEHOLDER.match(text, j)
        if match:
            parts.append(("text", "".join(buf)))
            parts.append(("param", match.group(1)))
            buf = []
            j = match.end()
            continue
        if text[j] == "'":
            if text.startswith("''", j):
                buf.append("''")
                j += 2
                continue
            j += 1
            break
        buf.append(text[j])
        j += 1
    parts.append(("text", "".join(buf)))
    params = [value for kind, value in parts if kind == "param"]
    if not params:
        out.append(_percent(text[i:j]))
        return j
    names.extend(params)
    pieces = [f"%({v})s" if kind == "param" else f"'{_percent(v)}'" for kind, v in parts if v]
    out.append(pieces[0] if len(pieces) == 1 else "(" + " || ".join(pieces) + ")")
    return j


def _end_of(text: str, closing: str, start: int) -> int:
    end = text.find(closing, start)
    return len(text) if end < 0 else end + len(closing)


def _in_word(text: str, i: int) -> bool:
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def _percent(text: str) -> str:
    return text.replace("%", "%%")


def sql_literal(value: str | None) -> str:
    """``value`` as a SQL literal, for showing a rendered statement (never for running one)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"
