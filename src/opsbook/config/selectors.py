"""Prometheus series selectors (``name{label="v",label=~"re"}``), parsed once at config load.

The grammar is PromQL's instant-vector selector without offsets or ranges: a metric name, then
optional ``{...}`` matchers using ``=``, ``!=``, ``=~`` and ``!~``. Regexes are anchored at both
ends, as in PromQL (https://prometheus.io/docs/prometheus/latest/querying/basics/).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import PlainSerializer, PlainValidator

Op = Literal["=", "!=", "=~", "!~"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPS: tuple[Op, ...] = ("=~", "!~", "!=", "=")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
_EXAMPLE = 'use e.g. http_requests_total{code=~"5.."}'


@dataclass(frozen=True, slots=True)
class Matcher:
    label: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A missing label matches the empty string, as in PromQL.
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None, "regex matchers are compiled at parse time"
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector. ``str()`` gives back the text it was parsed from."""

    text: str
    name: str
    matchers: tuple[Matcher, ...] = ()

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        return name == self.name and self.matches_labels(labels)

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def __str__(self) -> str:
        return self.text


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        shown = self.text if len(self.text) <= 60 else self.text[:60] + "…"
        return ValueError(
            f"{shown!r} is not a metric selector: {what} at column {self.pos + 1} ({_EXAMPLE})"
        )

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def token(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip_space()
        match = pattern.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"expected {what}")
        self.pos = match.end()
        return match.group()

    def peek(self, literal: str) -> bool:
        self.skip_space()
        return self.text.startswith(literal, self.pos)

    def quoted(self) -> str:
        self.skip_space()
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ('"', "'"):
            raise self.fail("expected a quoted value")
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\":
                escaped = self.text[self.pos + 1 : self.pos + 2]
                if escaped not in _ESCAPES:
                    raise self.fail("unknown escape in a quoted value")
                out.append(_ESCAPES[escaped])
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        self.pos = start
        raise self.fail("unterminated quoted value")

    def matcher(self) -> Matcher:
        label = self.token(_LABEL, "a label name")
        self.skip_space()
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.fail("expected one of =, !=, =~, !~")
        self.pos += len(op)
        value_at = self.pos
        value = self.quoted()
        if op in ("=", "!="):
            return Matcher(label, op, value)
        try:
            pattern = re.compile(value)
        except re.error as exc:
            self.pos = value_at
            self.skip_space()
            raise self.fail(f"bad regular expression ({exc.msg})") from None
        return Matcher(label, op, value, pattern)

    def parse(self) -> Selector:
        name = self.token(_NAME, "a metric name")
        matchers: list[Matcher] = []
        if self.peek("{"):
            self.pos += 1
            while not self.peek("}"):
                matchers.append(self.matcher())
                if self.peek(","):
                    self.pos += 1
                elif not self.peek("}"):
                    raise self.fail("expected ',' or '}'")
            self.pos += 1
        self.skip_space()
        if self.pos != len(self.text):
            raise self.fail("unexpected text")
        return Selector(self.text, name, tuple(matchers))


def parse_selector(value: object) -> Selector:
    """``'up{job="api"}'`` -> ``Selector``. Raises ``ValueError`` with the user-facing sentence."""
    if isinstance(value, Selector):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a metric selector string ({_EXAMPLE})")
    return _Parser(value).parse()


MetricSelector = Annotated[Selector, PlainValidator(parse_selector), PlainSerializer(str)]
