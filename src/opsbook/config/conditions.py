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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, TypeAlias, get_args

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


class _Refused(ValueError):
    """A refusal that can propose a repaired condition.

    ``fix`` is a candidate text, not yet known to be valid; ``say`` builds the sentence from the
    suggestion that ``parse_condition`` found valid (None when there is none) and whether that
    suggestion is ``fix`` itself (then a short form, such as a placeholder's name, may do).
    """

    def __init__(self, say: Callable[[str | None, bool], str], *, fix: str | None) -> None:
        super().__init__(say(None, False))
        self.say = say
        self.fix = fix

    def rebuilt(self, rebuild: Callable[[str], str]) -> _Refused:
        """This refusal with an operand's ``fix`` turned into a whole condition's."""
        return _Refused(self.say, fix=None if self.fix is None else rebuild(self.fix))


_MAX_REPAIRS = 4


def parse_condition(text: str) -> Condition:
    """Parse ``text``; raises ``ValueError`` whose message is the whole user-facing sentence.

    A message proposes a corrected condition only when that condition parses (a suggestion that
    is itself refused would send the user round in circles): each repair is parsed in turn, and
    a refusal of the repaired text may propose the next repair, a few times at most.
    """
    try:
        return _parse(text)
    except _Refused as refused:
        suggestion, direct = _valid_repair(refused.fix)
        raise ValueError(refused.say(suggestion, direct)) from None


def suggest(text: str) -> str | None:
    """The corrected condition ``parse_condition``'s message proposes for ``text``, if any."""
    try:
        _parse(text)
    except _Refused as refused:
        return _valid_repair(refused.fix)[0]
    except ValueError:
        return None
    return None


def _valid_repair(fix: str | None) -> tuple[str | None, bool]:
    candidate = fix
    for step in range(_MAX_REPAIRS):
        if candidate is None:
            return None, False
        try:
            _parse(candidate)
        except _Refused as again:
            candidate = again.fix
        except ValueError:
            return None, False
        else:
            return candidate, step == 0
    return None, False


def _parse(text: str) -> Condition:
    source = text.strip()
    if not source:
        raise ValueError("the condition is empty (write e.g. [STATUS] == 200)")
    operator = next((op for op in OPERATORS if f" {op} " in source), None)
    if operator is None:
        _missing_operator(source)
    parts = source.split(f" {operator} ")
    if len(parts) > 2:
        raise ValueError(
            f"{source!r} has {len(parts) - 1} ' {operator} '; a condition compares two operands "
            "(write one condition per list item; all of them must hold)"
        )
    texts = [p.strip() for p in parts]
    for index, part in enumerate(texts):
        _stray_operator(source, part, rebuild=_rebuild(texts, operator, index))
    sides: list[Operand] = []
    for index, (part, name) in enumerate(zip(texts, SIDES, strict=True)):
        try:
            sides.append(_operand(part, operator, name))
        except _Refused as refused:
            raise refused.rebuilt(_rebuild(texts, operator, index)) from None
    left, right = sides
    for index, operand in enumerate(sides):
        if isinstance(operand, Text):
            _balanced(source, operand.text, rebuild=_rebuild(texts, operator, index))
    for operand in sides:
        other = next((op for op in OPERATORS if f" {op} " in operand.text), None)
        if other is not None and not isinstance(operand, Pattern | AnyOf):
            raise ValueError(
                f"{source!r} has two operators (' {operator} ' and ' {other} '); a condition "
                "compares two operands (write one condition per list item; all of them must hold)"
            )
    _check_pair(left, operator, right, texts=texts)
    return Condition(source, left, operator, right)


def _rebuild(texts: Sequence[str], operator: str, index: int) -> Callable[[str], str]:
    def rebuild(operand: str) -> str:
        both = list(texts)
        both[index] = operand
        return f"{both[0]} {operator} {both[1]}"

    return rebuild


# A run of operator characters, possibly split by spaces ("= =", "=<", "==").
_OPERATOR_RUN = re.compile(r"[=!<>]+(?:\s+[=!<>]+)*")
# What a mistyped operator most likely meant.
_OPERATOR_TYPOS: dict[str, Operator] = {
    "=": "==",
    "===": "==",
    "=<": "<=",
    "=>": ">=",
    "=!": "!=",
    "<>": "!=",
}
_OPERATOR_LIST = "use ==, !=, <, <=, > or >= with a space on each side"


def _missing_operator(source: str) -> NoReturn:
    match = _OPERATOR_RUN.search(source)
    if match is None:
        raise ValueError(f"{source!r} has no operator ({_OPERATOR_LIST}, e.g. [STATUS] == 200)")
    written = match.group()
    joined = "".join(written.split())
    before, after = source[: match.start()].strip(), source[match.end() :].strip()
    if not before or not after:
        side = "left" if not before else "right"
        raise ValueError(f"the {side} side of {joined!r} is empty (write e.g. [STATUS] == 200)")
    meant = joined if joined in OPERATORS else _OPERATOR_TYPOS.get(joined)
    fix = None if meant is None else f"{before} {meant} {after}"
    if written in OPERATORS:

        def say(suggestion: str | None, direct: bool) -> str:
            lead = f"{source!r} needs a space on each side of {written!r}"
            return f"{lead}: write {suggestion!r}" if suggestion else lead

    else:

        def say(suggestion: str | None, direct: bool) -> str:
            lead = f"{written!r} is not an operator"
            return f"{lead}; write {suggestion!r}" if suggestion else f"{lead} ({_OPERATOR_LIST})"

    raise _Refused(say, fix=fix)


_OPENERS = {"[": "]", "(": ")"}
_CLOSERS = {"]": "[", ")": "("}
# "[BODY.status" and "STATUS]": a placeholder with one of its brackets left out.
_OPEN_NAME = re.compile(r"\[([A-Za-z_]+)(?=[.\[]|$)")
_CLOSE_NAME = re.compile(r"([A-Za-z_]+)\]")


def _balanced(source: str, text: str, *, rebuild: Callable[[str], str]) -> None:
    """Refuse a literal whose brackets do not pair up: it is almost always a placeholder typed
    wrong (``[BODY.status``), which Gatus would compare as text and never match."""
    stack: list[str] = []
    for char in text:
        if char in _OPENERS:
            stack.append(char)
        elif char in _CLOSERS:
            if not stack or stack[-1] != _CLOSERS[char]:
                _unbalanced(source, text, "unmatched", char, rebuild=rebuild)
            stack.pop()
    if stack:
        _unbalanced(source, text, "unclosed", stack[-1], rebuild=rebuild)


def _unbalanced(
    source: str, text: str, what: str, char: str, *, rebuild: Callable[[str], str]
) -> NoReturn:
    fix = None
    opened, closed = _OPEN_NAME.match(text), _CLOSE_NAME.match(text)
    if char == "[" and opened is not None and _placeholder_like(opened.group(1)):
        fix = rebuild(f"[{opened.group(1).upper()}]{text[opened.end() :]}")
    elif char == "]" and closed is not None and _placeholder_like(closed.group(1)):
        fix = rebuild(f"[{text}")

    hint = _BRACKET_HINTS[char]

    def say(suggestion: str | None, direct: bool) -> str:
        lead = f"{what} {char!r} in {source!r}"
        return f"{lead} (did you mean {suggestion!r}?)" if suggestion else f"{lead} ({hint})"

    raise _Refused(say, fix=fix)


_BRACKET_HINTS = {
    "[": "a placeholder is written [NAME], e.g. [BODY].status",
    "]": "a placeholder is written [NAME], e.g. [BODY].status",
    "(": "a function is written name(...), e.g. len([BODY].items)",
    ")": "a function is written name(...), e.g. len([BODY].items)",
}
# "[STATUS] == = 201": an operator typed twice leaves a stray one at the edge of an operand.
_STRAY_OPERATOR = re.compile(r"(?:([=!<>]+)\s+(?P<after>.+)|(?P<before>.+?)\s+([=!<>]+))")


def _stray_operator(source: str, text: str, *, rebuild: Callable[[str], str]) -> None:
    match = _STRAY_OPERATOR.fullmatch(text)
    if match is None:
        return
    stray = match.group(1) or match.group(4)
    kept = match.group("after") or match.group("before")

    def say(suggestion: str | None, direct: bool) -> str:
        lead = f"stray {stray!r} in {source!r}"
        return f"{lead}; write {suggestion!r}" if suggestion else f"{lead} ({_OPERATOR_LIST})"

    raise _Refused(say, fix=rebuild(kept))


def _placeholder_like(name: str) -> bool:
    upper = name.upper()
    return upper in PLACEHOLDERS or bool(difflib.get_close_matches(upper, PLACEHOLDERS, n=1))


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
            known = ", ".join(f"{f}()" for f in FUNCTIONS)

            def say_name(suggestion: str | None, direct: bool) -> str:
                lead = f"unknown function {name}()"
                if suggestion and direct:
                    return f"{lead} (did you mean {close[0]}()?)"
                if suggestion:
                    return f"{lead} (did you mean {suggestion!r}?)"
                return f"{lead} (known: {known})"

            raise _Refused(say_name, fix=close[0] + text[len(name) :])
        if name == "age":
            raise ValueError("age() is not supported (compare [VALUE] or [BODY] values instead)")
        return Text(text)
    if not text.endswith(")"):

        def say_close(suggestion: str | None, direct: bool) -> str:
            lead = f"{text!r} is missing the closing ')' of {name}("
            return f"{lead}; write {suggestion!r}" if suggestion else lead

        raise _Refused(say_close, fix=f"{text})")
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
        if close or written.isupper():
            known = ", ".join(f"[{p}]" for p in PLACEHOLDERS)

            def say(suggestion: str | None, direct: bool) -> str:
                lead = f"unknown placeholder [{written}]"
                if suggestion and direct:
                    return f"{lead} (did you mean [{close[0]}]?)"
                if suggestion:
                    return f"{lead} (did you mean {suggestion!r}?)"
                return f"{lead} (known: {known})"

            raise _Refused(say, fix=f"[{close[0]}]{rest}" if close else None)
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


def _check_pair(left: Operand, operator: Operator, right: Operand, *, texts: Sequence[str]) -> None:
    functions = [s for s in (left, right) if isinstance(s, Pattern | AnyOf)]
    if functions and operator not in EQUALITY:
        name = "pat()" if isinstance(functions[0], Pattern) else "any()"
        raise ValueError(f"{name} only works with == or !=, not {operator}")
    if len(functions) == 2:
        raise ValueError("compare pat() or any() with a placeholder, not with another function")
    for index, (side, other) in enumerate(((left, right), (right, left))):
        if isinstance(side, Text):
            try:
                _check_literal(side.text, operator, other)
            except _Refused as refused:
                raise refused.rebuilt(_rebuild(texts, operator, index)) from None
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
        codes = ", ".join(DNS_RCODES)

        def say(suggestion: str | None, direct: bool) -> str:
            lead = f"{text!r} is not a DNS response code"
            if suggestion and direct:
                return f"{lead} (did you mean {close[0]}?)"
            if suggestion:
                return f"{lead} (did you mean {suggestion!r}?)"
            return f"{lead} (one of {codes})"

        raise _Refused(say, fix=close[0] if close else None)


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
