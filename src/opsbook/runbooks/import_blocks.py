"""Markdown read into the blocks the importer works on: ATX headings, fenced blocks (also inside
list items) and other lines. Never fails: an unterminated fence runs to the end of the text."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")


@dataclass(frozen=True)
class Heading:
    line: int
    level: int
    text: str


@dataclass(frozen=True)
class Fence:
    line: int
    lang: str
    body: tuple[str, ...]


@dataclass(frozen=True)
class Line:
    line: int
    text: str


Block = Heading | Fence | Line


def read_blocks(text: str) -> list[Block]:
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        opened = _FENCE_OPEN.match(raw)
        if opened and not (opened.group(2)[0] == "`" and "`" in opened.group(3)):
            indent = len(opened.group(1).expandtabs(4))
            marker = opened.group(2)
            info = opened.group(3).strip()
            close = re.compile(
                r"^[ \t]*" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$"
            )
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                body.append(_dedent(lines[j], indent))
                j += 1
            lang = re.split(r"[\s{]", info, maxsplit=1)[0].lower() if info else ""
            blocks.append(Fence(line=i + 1, lang=lang, body=tuple(body)))
            i = j + 1
            continue
        heading = _HEADING.match(raw)
        if heading:
            blocks.append(
                Heading(
                    line=i + 1, level=len(heading.group(1)), text=(heading.group(2) or "").strip()
                )
            )
        else:
            blocks.append(Line(line=i + 1, text=raw))
        i += 1
    return blocks


def _dedent(line: str, indent: int) -> str:
    expanded = line.expandtabs(4)
    strip = min(indent, len(expanded) - len(expanded.lstrip(" ")))
    return expanded[strip:]
