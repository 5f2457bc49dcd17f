"""Gatus-compatible condition strings (``[STATUS] == 200``), parsed once at config load.

The grammar follows Gatus' ``config/endpoint/condition.go``: the operator is found by a substring
search for `` == ``, `` != ``, `` <= ``, `` >= ``, `` > ``, `` < `` in that order, and the two sides
are placeholders, ``len()``/``has()`` of a placeholder, ``pat()``, ``any()`` or literals. Where
Gatus quietly accepts nonsense (a missing space, ``< potato``, ``[STAUS]``) this module refuses it
with a sentence saying what would be accepted. Nothing here is ever ``eval``-ed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from opsbook.config._gosyntax import is_go_number, parse_go_int, translate_glob

Operator: TypeAlias = Literal["==", "!=", "<=", ">=", ">", "<"]
OPERATORS: tuple[Operator, ...] = get_args(Operator)
EQUALITY = frozenset({"==", "!="})
SIDES = ("left", "right")

PLACEHOLDERS = (
    "STATUS",
    "IP",
    "RESPONSE_TIME",
    "BODY",
    "HEADER",
    "VALUE",
    "CONNECTED",
    "CERTIFICATE_EXPIRATION",
    "DNS_RCODE",
)
_NO_PATH = frozenset(PLACEHOLDERS) - {"BODY", "HEADER", "VALUE"}
_GATUS_ONLY = {
    "DOMAIN_EXPIRATION": "opsbook has no WHOIS lookup; use a tls check for certificates",
    "CONTEXT": "opsbook has no suites",
}
# RFC 1035 section 4.1.1 and RFC 6895 section 2.3, spelled as Go's miekg/dns RcodeToString.
DNS_RCODES = (
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
)
FUNCTIONS = ("len", "has", "pat", "any")

_HEAD = re.compile(r"\[([A-Za-z_]+)\]")
_KEY = r"[^.\[\]()\s]+"
_PATH = re.compile(rf"(?:\.{_KEY}|\[\d+\])*")
_STEP = re.compile(rf"\.({_KEY})|\[(\d+)\]")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_VALUE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_FUNCTION = re.compile(r"([A-Za-z_]+)\(")
_BARE_OPERATOR = re.compile(r"==|!=|<=|>=|<|>|=")

PathStep: TypeAlias = str | int


@dataclass(frozen=True, slots=True)
class Placeholder:
    """``[NAME]`` with an optional JSON path (``[BODY]``) or key (``[HEADER]``, ``[VALUE]``)."""

    text: str
    name: str
    path: tuple[PathStep, ...] = ()
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Length:
    text: str
    of: Placeholder


@dataclass(frozen=True, slots=True)
class Has:
    text: str
    of: Placeholder


@dataclass(frozen=True, slots=True)
class Pattern:
    """``pat(glob)``: Go ``filepath.Match`` after every ``/`` is removed from both sides."""

    text: str
    glob: str


@dataclass(frozen=True, slots=True)
class AnyOf:
    text: str
    options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Text:
    """A literal: anything that is not a placeholder or a function, compared as written."""

    text: str


Operand: TypeAlias = Placeholder | Length | Has | Pattern | AnyOf | Text


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    """One parsed condition. It keeps its source ``text`` and compares equal to it."""

    text: str
    left: Operand
    operator: Operator
    right: Operand

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Condition | str):
            return self.text == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def placeholders(self) -> Iterator[Placeholder]:
        for side in (self.left, self.right):
            if isinstance(side, Placeholder):
                yield side
            elif isinstance(side, Length | Has):
                yield side.of

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            _coerce,
            core_schema.is_instance_schema(cls),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "examples": ["[STATUS] == 200"]}


def _coerce(value: object) -> object:
    if isinstance(value, str):
        return parse_condition(value)
    if isinstance(value, Condition):
        return value
    raise ValueError("expected a condition string such as '[STATUS] == 200'")


def parse_condition(text: str) -> Condition:
    """Parse ``text``; raises ``ValueError`` whose message is the whole user-facing sentence."""
    source = text.strip()
    if not source:
        raise ValueError("the condition is empty (write e.g. [STATUS] == 200)")
    operator = next((op for op in OPERATORS if f" {op} " in source), None)
    if operator is None:
        raise ValueError(_missing_operator(source))
    parts = source.split(f" {operator} ")
    if len(parts) > 2:
        raise ValueError(
            f"{source!r} has {len(parts) - 1} ' {operator} '; a condition compares two operands "
            "(write one condition per list item; all of them must hold)"
        )
    left, right = (
        _operand(p.strip(), operator, side) for p, side in zip(parts, SIDES, strict=True)
    )
    for side in (left, right):
        other = next((op for op in OPERATORS if f" {op} " in side.text), None)
        if other is not None and not isinstance(side, Pattern | AnyOf):
            raise ValueError(
                f"{source!r} has two operators (' {operator} ' and ' {other} '); a condition "
                "compares two operands (write one condition per list item; all of them must hold)"
            )
    _check_pair(left, operator, right)
    return Condition(source, left, operator, right)


def _missing_operator(source: str) -> str:
    match = _BARE_OPERATOR.search(source)
    if match is None:
        return (
            f"{source!r} has no operator (use ==, !=, <, <=, > or >= with a space on each side, "
            "e.g. [STATUS] == 200)"
        )
    op = match.group()
    before, after = source[: match.start()].strip(), source[match.end() :].strip()
    if not before or not after:
        side = "left" if not before else "right"
        return f"the {side} side of {op!r} is empty (write e.g. [STATUS] == 200)"
    fixed = f"{before} {'==' if op == '=' else op} {after}"
    if op == "=":
        return f"'=' is not an operator; write {fixed!r}"
    return f"{source!r} needs a space on each side of {op!r}: write {fixed!r}"


def _operand(text: str, operator: Operator, side: str) -> Operand:
    if not text:
        raise ValueError(f"the {side} side of {operator!r} is empty (write e.g. [STATUS] == 200)")
    function = _FUNCTION.match(text)
    if function is not None:
        return _function(text, function.group(1))
    head = _HEAD.match(text)
    if head is not None:
        return _placeholder(text, head)
    return Text(text)


def _function(text: str, name: str) -> Operand:
    if name not in FUNCTIONS:
        close = difflib.get_close_matches(name, FUNCTIONS, n=1)
        if close:
            raise ValueError(f"unknown function {name}() (did you mean {close[0]}()?)")
        if name == "age":
            raise ValueError("age() is not supported (compare [VALUE] or [BODY] values instead)")
        return Text(text)
    if not text.endswith(")"):
        raise ValueError(f"{text!r} is missing the closing ')' of {name}(")
    inner = text[len(name) + 1 : -1].strip()
    if name == "pat":
        if translate_glob(inner) is None:
            raise ValueError(
                f"{text!r} is not a valid pattern (use *, ? and [a-z]; close every '[')"
            )
        return Pattern(text, inner)
    if name == "any":
        options = tuple(o.strip() for o in inner.split(","))
        if not inner:
            raise ValueError(f"{text!r} needs at least one value, e.g. any(200, 201)")
        return AnyOf(text, options)
    head = _HEAD.match(inner)
    of = None if head is None else _placeholder(inner, head)
    if not isinstance(of, Placeholder):
        raise ValueError(f"{name}() takes a placeholder, e.g. {name}([BODY].items), got {inner!r}")
    return Length(text, of) if name == "len" else Has(text, of)


def _placeholder(text: str, head: re.Match[str]) -> Operand:
    written = head.group(1)
    name = written.upper()
    rest = text[head.end() :]
    if name in _GATUS_ONLY:
        raise ValueError(f"[{written}] is not supported: {_GATUS_ONLY[name]}")
    if name not in PLACEHOLDERS:
        close = difflib.get_close_matches(name, PLACEHOLDERS, n=1, cutoff=0.7)
        if close:
            raise ValueError(f"unknown placeholder [{written}] (did you mean [{close[0]}]?)")
        if written.isupper():
            known = ", ".join(f"[{p}]" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder [{written}] (known: {known})")
        return Text(text)  # e.g. "[hello]", an array literal as Gatus prints one
    if name in _NO_PATH:
        if rest:
            raise ValueError(f"[{name}] takes no path or name, got {text!r}")
        return Placeholder(text, name)
    if name == "BODY":
        if not _PATH.fullmatch(rest):
            raise ValueError(
                f"malformed path {text!r} (write keys after dots and indexes in brackets, "
                "e.g. [BODY].data.items[0].name)"
            )
        steps = tuple(
            int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _STEP.finditer(rest)
        )
        return Placeholder(text, name, path=steps)
    pattern, example = (
        (_HEADER_NAME, "[HEADER].content-type")
        if name == "HEADER"
        else (_VALUE_NAME, "[VALUE].depth")
    )
    key = rest[1:] if rest.startswith(".") else ""
    if not pattern.fullmatch(key):
        raise ValueError(f"[{name}] needs a name after a dot, e.g. {example}, got {text!r}")
    return Placeholder(text, name, key=key.lower() if name == "HEADER" else key)


def _check_pair(left: Operand, operator: Operator, right: Operand) -> None:
    functions = [s for s in (left, right) if isinstance(s, Pattern | AnyOf)]
    if functions and operator not in EQUALITY:
        name = "pat()" if isinstance(functions[0], Pattern) else "any()"
        raise ValueError(f"{name} only works with == or !=, not {operator}")
    if len(functions) == 2:
        raise ValueError("compare pat() or any() with a placeholder, not with another function")
    for side, other in ((left, right), (right, left)):
        if isinstance(side, Text):
            _check_literal(side.text, operator, other)
        if operator not in EQUALITY and isinstance(side, Has):
            raise ValueError(f"{side.text} is true or false; compare it with == or !=")
        placeholder = _name(side)
        if operator not in EQUALITY and placeholder in ("CONNECTED", "IP", "DNS_RCODE"):
            raise ValueError(f"[{placeholder}] cannot be ordered; compare it with == or !=")


def _name(operand: Operand) -> str | None:
    return operand.name if isinstance(operand, Placeholder) else None


def _check_literal(text: str, operator: Operator, other: Operand) -> None:
    name = _name(other)
    if operator not in EQUALITY:
        if not is_go_number(text):
            raise ValueError(f"{text!r} is not a number or a duration; {_unit_hint(other)}")
        return
    if name == "CONNECTED" and text not in ("true", "false"):
        raise ValueError(f"[CONNECTED] is true or false, got {text!r}")
    if name == "STATUS" and parse_go_int(text) is None:
        raise ValueError(f"[STATUS] is a number such as 200, got {text!r}")
    if name == "DNS_RCODE" and text not in DNS_RCODES:
        close = difflib.get_close_matches(text.upper(), DNS_RCODES, n=1)
        hint = f"did you mean {close[0]}?" if close else f"one of {', '.join(DNS_RCODES)}"
        raise ValueError(f"{text!r} is not a DNS response code ({hint})")


def _unit_hint(other: Operand) -> str:
    name = _name(other)
    if name == "RESPONSE_TIME":
        return "[RESPONSE_TIME] is in milliseconds, e.g. 500 or 2s"
    if name == "CERTIFICATE_EXPIRATION":
        return "[CERTIFICATE_EXPIRATION] is a duration, e.g. 336h (durations stop at hours)"
    if name == "STATUS":
        return "[STATUS] is a number, e.g. 400"
    if isinstance(other, Length):
        return f"{other.text} is a count, e.g. 0"
    return "use e.g. 100, 2.5 or 2s"


MEASURED: dict[str, frozenset[str]] = {
    "http": frozenset(PLACEHOLDERS) - {"DNS_RCODE"},
    "tcp": frozenset({"CONNECTED", "RESPONSE_TIME", "IP"}),
    "dns": frozenset({"DNS_RCODE", "BODY", "IP", "RESPONSE_TIME", "CONNECTED"}),
    "tls": frozenset({"CERTIFICATE_EXPIRATION", "CONNECTED", "RESPONSE_TIME", "IP", "VALUE"}),
    "postgres": frozenset({"CONNECTED", "RESPONSE_TIME", "VALUE"}),
    "redis": frozenset({"CONNECTED", "RESPONSE_TIME", "VALUE"}),
    "metric": frozenset({"CONNECTED", "RESPONSE_TIME", "VALUE"}),
    "command": frozenset({"CONNECTED", "RESPONSE_TIME", "VALUE", "BODY", "STATUS"}),
    "heartbeat": frozenset(),
}
"""Which placeholders each check kind fills in; the rest would always read empty."""


def kind_condition_problem(kind: str, **lists: Sequence[Condition]) -> tuple[str, str, int] | None:
    """The first condition in ``lists`` (by field name) using a placeholder ``kind`` never
    measures, as ``(message, field, index)``; None when all are measurable."""
    measured = MEASURED.get(kind)
    if measured is None:
        return None
    for field, conditions in lists.items():
        for index, condition in enumerate(conditions):
            if not measured:
                return (
                    f"a {kind} check takes no conditions: it is up while pings arrive on time",
                    field,
                    index,
                )
            for placeholder in condition.placeholders():
                if placeholder.name not in measured:
                    names = ", ".join(f"[{p}]" for p in PLACEHOLDERS if p in measured)
                    return (
                        f"a {kind} check does not measure [{placeholder.name}] "
                        f"(it measures {names})",
                        field,
                        index,
                    )
    return None
