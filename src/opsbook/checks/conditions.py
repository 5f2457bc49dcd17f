"""Evaluate parsed conditions against one observation, with Gatus' results (pure; no I/O).

Equality tries ``pat()``/``any()``, then integers in Go's base-0 syntax, then exact text.
Ordering reads each side as a Go duration (ms), an integer, or a float truncated to an integer.
Deliberate differences from Gatus, each documented in docs/conditions.md: an operand that does
not resolve (``(INVALID)``) fails the condition whatever the operator, a placeholder value that
is not a number fails an ordering instead of reading as 0, ``[VALUE]`` numbers compare exactly,
and JSON numbers of 1e6 and more read as the integers they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from opsbook.checks.models import Observation, Value
from opsbook.config._gosyntax import (
    format_go_duration,
    parse_go_duration_ms,
    parse_go_float,
    parse_go_int,
    translate_glob,
)
from opsbook.config.conditions import (
    EQUALITY,
    AnyOf,
    Condition,
    Has,
    Length,
    Operand,
    Pattern,
    Placeholder,
    Text,
)

_PATTERN_SHOWN = 25
_INVALID = "(INVALID)"
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ConditionOutcome:
    """Whether the condition held, and its text with resolved values (``[STATUS] (500) == 200``)."""

    ok: bool
    rendered: str


class Subject:
    """An observation as conditions see it; the body's JSON is parsed once and shared.

    ``now`` is when the probe ran: [CERTIFICATE_EXPIRATION] counts the time left from there.
    """

    def __init__(self, observation: Observation, *, now: datetime) -> None:
        self.observation = observation
        self.now = now

    @cached_property
    def body(self) -> str:
        return (self.observation.body or "").strip()

    @cached_property
    def json(self) -> object:
        try:
            return json.loads(self.body, parse_constant=_no_constant)
        except ValueError:
            return _MISSING

    @cached_property
    def headers(self) -> Mapping[str, str]:
        return {k.lower(): v for k, v in self.observation.headers.items()}


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def evaluate(
    condition: Condition, observation: Observation | Subject, *, now: datetime | None = None
) -> ConditionOutcome:
    """Judge ``condition``; ``rendered`` always shows resolved values, whether it held or not.

    ``now`` is when the probe ran (it only matters to [CERTIFICATE_EXPIRATION]) and is required
    with an ``Observation``; a ``Subject`` carries its own. Pass a ``Subject`` to share one
    parsed body between conditions.
    """
    if isinstance(observation, Subject):
        subject = observation
    elif now is None:
        raise TypeError("evaluate() needs now= when given an Observation")
    else:
        subject = Subject(observation, now=now)
    if condition.operator in EQUALITY:
        return _equality(condition, subject)
    return _ordering(condition, subject)


def evaluate_all(
    conditions: Iterable[Condition], observation: Observation, *, now: datetime
) -> list[ConditionOutcome]:
    """Every condition against one observation, parsing its body at most once."""
    subject = Subject(observation, now=now)
    return [evaluate(c, subject) for c in conditions]


Evaluator = Callable[[Subject], ConditionOutcome]


def compile_condition(condition: Condition) -> Evaluator:
    """``evaluate`` for one condition with its constant side worked out once: what a check
    runs on every probe. Same outcomes and renderings as ``evaluate`` (a table test holds them
    to it); the common ``<placeholder> == <text>`` gets a lean path, the rest calls ``evaluate``."""
    left, right = condition.left, condition.right
    if (
        condition.operator not in EQUALITY
        or not isinstance(right, Text)
        or not isinstance(left, Placeholder | Length | Has)
    ):
        return lambda subject: evaluate(condition, subject)
    expected = right.text
    expected_int = parse_go_int(expected)
    equal = condition.operator == "=="
    operator = condition.operator
    is_status = isinstance(left, Placeholder) and left.name == "STATUS"

    def run(subject: Subject) -> ConditionOutcome:
        if is_status:
            status = subject.observation.status
            if status is None:
                return ConditionOutcome(False, f"{left.text} {_INVALID} {operator} {expected}")
            text = str(status)
            rendered = f"{left.text} ({text}) {operator} {expected}"
            # str() of an int reads back as that int: no parsing needed.
            same = status == expected_int if expected_int is not None else text == expected
            return ConditionOutcome(same == equal, rendered)
        value = resolve(left, subject)
        rendered = f"{_shown(left, value)} {operator} {expected}"
        if value is None:
            return ConditionOutcome(False, rendered)
        value_int = None if expected_int is None else parse_go_int(value)
        same = value_int == expected_int if value_int is not None else value == expected
        return ConditionOutcome(same == equal, rendered)

    return run


def _equality(condition: Condition, subject: Subject) -> ConditionOutcome:
    left, right = condition.left, condition.right
    if isinstance(left, Pattern | AnyOf):
        function, value, function_first = left, resolve(right, subject), True
    elif isinstance(right, Pattern | AnyOf):
        function, value, function_first = right, resolve(left, subject), False
    else:
        first, second = resolve(left, subject), resolve(right, subject)
        rendered = _render(condition, _shown(left, first), _shown(right, second))
        if first is None or second is None:
            return ConditionOutcome(False, rendered)
        first_int, second_int = parse_go_int(first), parse_go_int(second)
        if first_int is not None and second_int is not None:
            same = first_int == second_int
        else:
            same = first == second
        return ConditionOutcome(same == (condition.operator == "=="), rendered)
    other = right if function_first else left
    shown = _shown(other, value)
    if value is not None and len(value) > _PATTERN_SHOWN and isinstance(function, Pattern):
        shown = f"{other.text} ({value[:_PATTERN_SHOWN]}...(truncated))"
    pair = (function.text, shown) if function_first else (shown, function.text)
    rendered = _render(condition, *pair)
    if value is None:
        return ConditionOutcome(False, rendered)
    if isinstance(function, Pattern):
        matched = match_pattern(function.glob, value)
    else:
        matched = value in function.options
    return ConditionOutcome(matched == (condition.operator == "=="), rendered)


def _ordering(condition: Condition, subject: Subject) -> ConditionOutcome:
    sides = (condition.left, condition.right)
    exact = any(isinstance(s, Placeholder) and s.name == "VALUE" for s in sides)
    texts = [resolve(s, subject) for s in sides]
    numbers = [None if t is None else _number(t, exact=exact) for t in texts]
    shown = [
        _shown(side, text) if number is None else _shown(side, _format(side, number))
        for side, text, number in zip(sides, texts, numbers, strict=True)
    ]
    rendered = _render(condition, shown[0], shown[1])
    first, second = numbers
    if first is None or second is None:
        return ConditionOutcome(False, rendered)
    ok = {
        "<": first < second,
        "<=": first <= second,
        ">": first > second,
        ">=": first >= second,
    }[condition.operator]
    return ConditionOutcome(ok, rendered)


def _number(text: str, *, exact: bool) -> int | float | None:
    millis = parse_go_duration_ms(text)
    if millis is not None:
        return millis
    integer = parse_go_int(text)
    if integer is not None:
        return integer
    number = parse_go_float(text)
    if number is None:
        return None
    # Gatus truncates floats to integers (its issue #433); [VALUE] is ours, so it stays exact.
    return number if exact else int(number)


def _format(side: Operand, number: int | float) -> str:
    is_duration = isinstance(side, Placeholder) and side.name == "CERTIFICATE_EXPIRATION"
    if is_duration or (isinstance(side, Text) and parse_go_duration_ms(side.text) is not None):
        return format_go_duration(int(number))
    return go_number(number)


def _shown(side: Operand, value: str | None) -> str:
    if value is None:
        return f"{side.text} {_INVALID}"
    return side.text if value == side.text else f"{side.text} ({value})"


def _render(condition: Condition, left: str, right: str) -> str:
    return f"{left} {condition.operator} {right}"


def match_pattern(glob: str, value: str) -> bool:
    """Gatus' ``pattern.Match``: ``*`` alone matches anything, and every ``/`` is removed first."""
    if glob == "*":
        return True
    regex = translate_glob(glob.replace("/", ""))
    return regex is not None and regex.fullmatch(value.replace("/", "")) is not None


def resolve(operand: Operand, subject: Subject) -> str | None:
    """The operand's value as text, as Gatus would print it; None where Gatus says INVALID."""
    if isinstance(operand, Text | Pattern | AnyOf):
        return operand.text
    if isinstance(operand, Has):
        return "true" if _raw(operand.of, subject) not in (_MISSING, "") else "false"
    raw = _raw(operand.of if isinstance(operand, Length) else operand, subject)
    if raw is _MISSING:
        return None
    if isinstance(operand, Length):
        return str(_length(raw, operand.of, subject))
    return raw if isinstance(raw, str) else _go_value(raw)


def _raw(placeholder: Placeholder, subject: Subject) -> object:
    observation = subject.observation
    name = placeholder.name
    if name == "BODY":
        if not placeholder.path:
            return subject.body
        return _walk(subject.json, placeholder.path)
    if name == "HEADER":
        return subject.headers.get(placeholder.key or "", _MISSING)
    if name == "VALUE":
        value: Value = observation.values.get(placeholder.key or "")
        return _MISSING if value is None else value
    if name == "STATUS":
        return _MISSING if observation.status is None else str(observation.status)
    if name == "IP":
        return observation.ip or _MISSING
    if name == "DNS_RCODE":
        return observation.dns_rcode or _MISSING
    if name == "RESPONSE_TIME":
        return str(int(observation.latency_ms))
    if name == "CONNECTED":
        return "true" if observation.connected else "false"
    if name == "CERTIFICATE_EXPIRATION":
        expires = observation.certificate_expires_at
        if expires is None:
            return "0"
        return str(int((expires - subject.now).total_seconds() * 1000))
    raise AssertionError(f"placeholder {name} passed the parser but has no resolver")


def _walk(document: object, path: tuple[str | int, ...]) -> object:
    node = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
            node = node[step]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return _MISSING
    return _MISSING if node is None else node


def _length(raw: object, placeholder: Placeholder, subject: Subject) -> int:
    if placeholder.name == "BODY" and not placeholder.path:
        document = subject.json
        if isinstance(document, list):
            return len(document)
        return len((subject.observation.body or "").encode())
    if isinstance(raw, list):
        return len(raw)
    text = raw if isinstance(raw, str) else _go_value(raw)
    return len(text.encode())


def _go_value(value: object) -> str:
    """Go's ``%v`` for decoded JSON; objects at the top level re-marshal to minified JSON."""
    if isinstance(value, dict):
        return _marshal(value)
    return _go_v(value)


def _go_v(value: object) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, list):
        return "[" + " ".join(_go_v(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_v(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _marshal(value: object) -> str:
    # Go's json.Marshal sorts map keys and escapes <, > and & for safe embedding in HTML.
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_number(value: int | float) -> str:
    """A number as Go's ``%v`` prints a float64, except that whole numbers print in full.

    Gatus prints ``1e+06`` for a JSON ``1000000``, so ``[BODY].count == 1000000`` can never
    hold there; here it does.
    """
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int), "finite floats have integer exponents"
    mantissa = "".join(map(str, digits))
    point = len(mantissa) + exponent - 1
    prefix = "-" if sign else ""
    # strconv.FormatFloat(f, 'g', -1, 64) switches to %e below 1e-4 and from 1e6 up (1.5e+06).
    if point < -4 or point >= 6:
        head = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
        return f"{prefix}{head}e{'-' if point < 0 else '+'}{abs(point):02d}"
    if point < 0:
        return f"{prefix}0.{'0' * (-point - 1)}{mantissa}"
    whole = mantissa[: point + 1].ljust(point + 1, "0")
    fraction = mantissa[point + 1 :]
    return prefix + whole + ("." + fraction if fraction else "")
