"""Condition strings parse once into an AST; nonsense Gatus would accept is refused (R12, R23)."""

from __future__ import annotations

import re
import textwrap

import pytest

from opsbook.config import loads
from opsbook.config._gosyntax import (
    format_go_duration,
    parse_go_duration_ms,
    parse_go_float,
    parse_go_int,
    translate_glob,
)
from opsbook.config.conditions import (
    AnyOf,
    Condition,
    Has,
    Length,
    Pattern,
    Placeholder,
    Text,
    parse_condition,
    suggest,
)
from opsbook.errors import ConfigError

STATUS = Placeholder("[STATUS]", "STATUS")


@pytest.mark.parametrize(
    ("text", "left", "operator", "right"),
    [
        ("[STATUS] == 200", STATUS, "==", Text("200")),
        ("  [STATUS] == 200  ", STATUS, "==", Text("200")),
        ("[status] != 500", Placeholder("[status]", "STATUS"), "!=", Text("500")),
        ("[STATUS] <= 299", STATUS, "<=", Text("299")),
        ("[STATUS] >= 0x1F4", STATUS, ">=", Text("0x1F4")),
        (
            "[RESPONSE_TIME] < 2s",
            Placeholder("[RESPONSE_TIME]", "RESPONSE_TIME"),
            "<",
            Text("2s"),
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            Placeholder("[CERTIFICATE_EXPIRATION]", "CERTIFICATE_EXPIRATION"),
            ">",
            Text("48h"),
        ),
        ("[BODY] == pong", Placeholder("[BODY]", "BODY"), "==", Text("pong")),
        (
            "[BODY].data.items[0].name == x",
            Placeholder("[BODY].data.items[0].name", "BODY", path=("data", "items", 0, "name")),
            "==",
            Text("x"),
        ),
        (
            "[BODY][1][0] == 3",
            Placeholder("[BODY][1][0]", "BODY", path=(1, 0)),
            "==",
            Text("3"),
        ),
        (
            "[BODY].Status-Code == UP",
            Placeholder("[BODY].Status-Code", "BODY", path=("Status-Code",)),
            "==",
            Text("UP"),
        ),
        (
            "len([BODY].data) > 0",
            Length("len([BODY].data)", Placeholder("[BODY].data", "BODY", path=("data",))),
            ">",
            Text("0"),
        ),
        (
            "has([BODY].errors) == false",
            Has("has([BODY].errors)", Placeholder("[BODY].errors", "BODY", path=("errors",))),
            "==",
            Text("false"),
        ),
        (
            "[IP] == pat(192.168.*)",
            Placeholder("[IP]", "IP"),
            "==",
            Pattern("pat(192.168.*)", "192.168.*"),
        ),
        ("pat(2*) == [STATUS]", Pattern("pat(2*)", "2*"), "==", STATUS),
        (
            "[STATUS] == any(200, 201,204)",
            STATUS,
            "==",
            AnyOf("any(200, 201,204)", ("200", "201", "204")),
        ),
        (
            "[BODY].msg == any(a < b, c)",
            Placeholder("[BODY].msg", "BODY", path=("msg",)),
            "==",
            AnyOf("any(a < b, c)", ("a < b", "c")),
        ),
        ("[CONNECTED] == true", Placeholder("[CONNECTED]", "CONNECTED"), "==", Text("true")),
        ("[DNS_RCODE] == NOERROR", Placeholder("[DNS_RCODE]", "DNS_RCODE"), "==", Text("NOERROR")),
        (
            "[HEADER].Content-Type == application/json",
            Placeholder("[HEADER].Content-Type", "HEADER", key="content-type"),
            "==",
            Text("application/json"),
        ),
        (
            "[VALUE].connections_pct > 80",
            Placeholder("[VALUE].connections_pct", "VALUE", key="connections_pct"),
            ">",
            Text("80"),
        ),
        ("raw == raw", Text("raw"), "==", Text("raw")),
        (
            "[BODY].tags == [hello world]",
            Placeholder("[BODY].tags", "BODY", path=("tags",)),
            "==",
            Text("[hello world]"),
        ),
        (
            "[BODY].one == [hello]",
            Placeholder("[BODY].one", "BODY", path=("one",)),
            "==",
            Text("[hello]"),
        ),
        (
            "[BODY].score > 1.5",
            Placeholder("[BODY].score", "BODY", path=("score",)),
            ">",
            Text("1.5"),
        ),
        ("[BODY].a == b <c", Placeholder("[BODY].a", "BODY", path=("a",)), "==", Text("b <c")),
        (
            "[BODY].fn == foo(bar)",
            Placeholder("[BODY].fn", "BODY", path=("fn",)),
            "==",
            Text("foo(bar)"),
        ),
    ],
)
def test_it_parses_accepted_conditions(
    text: str, left: object, operator: str, right: object
) -> None:
    condition = parse_condition(text)
    assert (condition.left, condition.operator, condition.right) == (left, operator, right)
    assert condition.text == text.strip()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the condition is empty (write e.g. [STATUS] == 200)"),
        ("   ", "the condition is empty (write e.g. [STATUS] == 200)"),
        (
            "[STATUS]==200",
            "'[STATUS]==200' needs a space on each side of '==': write '[STATUS] == 200'",
        ),
        (
            "[STATUS] ==200",
            "'[STATUS] ==200' needs a space on each side of '==': write '[STATUS] == 200'",
        ),
        (
            "[RESPONSE_TIME]<500",
            "'[RESPONSE_TIME]<500' needs a space on each side of '<': "
            "write '[RESPONSE_TIME] < 500'",
        ),
        ("[STATUS] = 200", "'=' is not an operator; write '[STATUS] == 200'"),
        ("[STATUS] ==", "the right side of '==' is empty (write e.g. [STATUS] == 200)"),
        ("== 200", "the left side of '==' is empty (write e.g. [STATUS] == 200)"),
        (
            "[STATUS] 200",
            "'[STATUS] 200' has no operator (use ==, !=, <, <=, > or >= with a space "
            "on each side, e.g. [STATUS] == 200)",
        ),
        (
            "has([BODY].x)",
            "'has([BODY].x)' has no operator (use ==, !=, <, <=, > or >= with a "
            "space on each side, e.g. [STATUS] == 200)",
        ),
        (
            "[STATUS] == 200 == 201",
            "'[STATUS] == 200 == 201' has 2 ' == '; a condition compares "
            "two operands (write one condition per list item; all of them must hold)",
        ),
        (
            "[STATUS] == 200 || [STATUS] > 300",
            "'[STATUS] == 200 || [STATUS] > 300' has two "
            "operators (' == ' and ' > '); a condition compares two operands (write one condition "
            "per list item; all of them must hold)",
        ),
        (
            "[RESPONSE_TIME] < potato",
            "'potato' is not a number or a duration; [RESPONSE_TIME] is "
            "in milliseconds, e.g. 500 or 2s",
        ),
        (
            "potato > [RESPONSE_TIME]",
            "'potato' is not a number or a duration; [RESPONSE_TIME] is "
            "in milliseconds, e.g. 500 or 2s",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 14d",
            "'14d' is not a number or a duration; "
            "[CERTIFICATE_EXPIRATION] is a duration, e.g. 336h (durations stop at hours)",
        ),
        ("[STATUS] < ok", "'ok' is not a number or a duration; [STATUS] is a number, e.g. 400"),
        (
            "len([BODY].items) >= some",
            "'some' is not a number or a duration; len([BODY].items) is a count, e.g. 0",
        ),
        ("[BODY].x > lots", "'lots' is not a number or a duration; use e.g. 100, 2.5 or 2s"),
        ("[STAUS] == 200", "unknown placeholder [STAUS] (did you mean [STATUS]?)"),
        (
            "[respnse_time] < 5",
            "unknown placeholder [respnse_time] (did you mean [RESPONSE_TIME]?)",
        ),
        (
            "[LATENCY] < 5",
            "unknown placeholder [LATENCY] (known: [STATUS], [IP], [RESPONSE_TIME], "
            "[BODY], [HEADER], [VALUE], [CONNECTED], [CERTIFICATE_EXPIRATION], [DNS_RCODE])",
        ),
        (
            "[DOMAIN_EXPIRATION] > 720h",
            "[DOMAIN_EXPIRATION] is not supported: opsbook has no "
            "WHOIS lookup; use a tls check for certificates",
        ),
        ("[CONTEXT].token == x", "[CONTEXT] is not supported: opsbook has no suites"),
        (
            "len([BODY].users == 100",
            "'len([BODY].users' is missing the closing ')' of len(; "
            "write 'len([BODY].users) == 100'",
        ),
        (
            "[BODY].users[x] == 1",
            "malformed path '[BODY].users[x]' (write keys after dots and "
            "indexes in brackets, e.g. [BODY].data.items[0].name)",
        ),
        (
            "[BODY]..a == 1",
            "malformed path '[BODY]..a' (write keys after dots and indexes in "
            "brackets, e.g. [BODY].data.items[0].name)",
        ),
        (
            "[BODY].a[0 == 1",
            "malformed path '[BODY].a[0' (write keys after dots and indexes in "
            "brackets, e.g. [BODY].data.items[0].name)",
        ),
        (
            "[BODY]status == UP",
            "malformed path '[BODY]status' (write keys after dots and indexes "
            "in brackets, e.g. [BODY].data.items[0].name)",
        ),
        ("[STATUS].code == 200", "[STATUS] takes no path or name, got '[STATUS].code'"),
        (
            "[HEADER] == x",
            "[HEADER] needs a name after a dot, e.g. [HEADER].content-type, got '[HEADER]'",
        ),
        ("[VALUE] > 1", "[VALUE] needs a name after a dot, e.g. [VALUE].depth, got '[VALUE]'"),
        ("[IP] > pat(10.*)", "pat() only works with == or !=, not >"),
        ("[STATUS] < any(200, 201)", "any() only works with == or !=, not <"),
        (
            "pat(a*) == any(a, b)",
            "compare pat() or any() with a placeholder, not with another function",
        ),
        (
            "[IP] == pat([a-)",
            "'pat([a-)' is not a valid pattern (use *, ? and [a-z]; close every '[')",
        ),
        ("[STATUS] == any()", "'any()' needs at least one value, e.g. any(200, 201)"),
        ("len(potato) > 0", "len() takes a placeholder, e.g. len([BODY].items), got 'potato'"),
        (
            "has([hello]) == true",
            "has() takes a placeholder, e.g. has([BODY].items), got '[hello]'",
        ),
        ("lenn([BODY]) > 0", "unknown function lenn() (did you mean len()?)"),
        (
            "age([HEADER].date) < 10m",
            "age() is not supported (compare [VALUE] or [BODY] values instead)",
        ),
        ("has([BODY].x) > 0", "has([BODY].x) is true or false; compare it with == or !="),
        ("[CONNECTED] > 0", "[CONNECTED] cannot be ordered; compare it with == or !="),
        ("[CONNECTED] == True", "[CONNECTED] is true or false, got 'True'"),
        ("[STATUS] == OK", "[STATUS] is a number such as 200, got 'OK'"),
        ("[DNS_RCODE] == noerror", "'noerror' is not a DNS response code (did you mean NOERROR?)"),
        (
            "[DNS_RCODE] == WHATEVER",
            "'WHATEVER' is not a DNS response code (one of NOERROR, "
            "FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, "
            "NOTZONE)",
        ),
    ],
)
def test_it_rejects_conditions_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_condition(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[BODY.status == healthy",
            "unclosed '[' in '[BODY.status == healthy' (did you mean '[BODY].status == healthy'?)",
        ),
        (
            "[body.items[0 == x",
            "unclosed '[' in '[body.items[0 == x' (a placeholder is written [NAME], "
            "e.g. [BODY].status)",
        ),
        (
            "[BODDY.status == up",
            "unclosed '[' in '[BODDY.status == up' (did you mean '[BODY].status == up'?)",
        ),
        ("STATUS] == 200", "unmatched ']' in 'STATUS] == 200' (did you mean '[STATUS] == 200'?)"),
        (
            "[BODY].tags == [a, b",
            "unclosed '[' in '[BODY].tags == [a, b' (a placeholder is written [NAME], "
            "e.g. [BODY].status)",
        ),
        (
            "[BODY].n == 1)",
            "unmatched ')' in '[BODY].n == 1)' (a function is written name(...), "
            "e.g. len([BODY].items))",
        ),
        (
            "[BODY].n == (1",
            "unclosed '(' in '[BODY].n == (1' (a function is written name(...), "
            "e.g. len([BODY].items))",
        ),
        ("[STATUS] = = 201", "'= =' is not an operator; write '[STATUS] == 201'"),
        ("[STATUS] =< 299", "'=<' is not an operator; write '[STATUS] <= 299'"),
        ("[STATUS] <> 500", "'<>' is not an operator; write '[STATUS] != 500'"),
        (
            "[CONNECTED] ! true",
            "'!' is not an operator (use ==, !=, <, <=, > or >= with a space on each side)",
        ),
        ("[STATUS] == = 201", "stray '=' in '[STATUS] == = 201'; write '[STATUS] == 201'"),
        (
            "[BODY.status==healthy",
            "'[BODY.status==healthy' needs a space on each side of '==': "
            "write '[BODY].status == healthy'",
        ),
        (
            "[STAUS]==200",
            "'[STAUS]==200' needs a space on each side of '==': write '[STATUS] == 200'",
        ),
        (
            "[STATUS] = OK",
            "'=' is not an operator (use ==, !=, <, <=, > or >= with a space on each side)",
        ),
        (
            "[STAUS] == OK",
            "unknown placeholder [STAUS] (known: [STATUS], [IP], [RESPONSE_TIME], [BODY], "
            "[HEADER], [VALUE], [CONNECTED], [CERTIFICATE_EXPIRATION], [DNS_RCODE])",
        ),
        ("lenn([BODY] > 0", "unknown function lenn() (did you mean 'len([BODY]) > 0'?)"),
        (
            "lenn([BODY]) > x",
            "unknown function lenn() (known: len(), has(), pat(), any())",
        ),
        (
            "[DNS_RCODE]==noerror",
            "'[DNS_RCODE]==noerror' needs a space on each side of '==': "
            "write '[DNS_RCODE] == NOERROR'",
        ),
    ],
)
def test_it_refuses_broken_brackets_and_operators_with_a_valid_suggestion(
    text: str, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        parse_condition(text)
    assert str(info.value) == message


# Conditions a person might type by mistake: every one is refused, and whatever correction the
# message offers is itself accepted (issue 10: a suggestion that is refused in turn misleads).
MALFORMED = [
    "[STATUS] = = 201",
    "[STATUS] = == 201",
    "[STATUS] == = 201",
    "[STATUS] === 201",
    "[STATUS] = 200",
    "[STATUS]=200",
    "[STATUS]==200",
    "[STATUS] ==200",
    "[STATUS]== 200",
    "[STATUS] =< 200",
    "[STATUS] => 200",
    "[STATUS] =! 200",
    "[STATUS] <> 200",
    "[STATUS] ! 200",
    "[STATUS] = OK",
    "[STATUS] == 200 =",
    "= [STATUS] == 200",
    "[STATUS] = =",
    "= = 200",
    "[BODY.status == healthy",
    "[BODY.status==healthy",
    "[BODY.status = healthy",
    "[body.status == up",
    "[BODDY.status == up",
    "[STAUS.code == 1",
    "[BODY.items[0 == x",
    "[BODY].items[0 == x",
    "[STATUS == 200",
    "STATUS] == 200",
    "[STATUS]] == 200",
    "[[STATUS] == 200",
    "[BODY].tags == [a, b",
    "[BODY].n == 1)",
    "[BODY].n == (1",
    "[STAUS] == 200",
    "[STAUS] == OK",
    "[STAUS]==200",
    "[respnse_time] < 5",
    "[RESPONSE_TIME] < 5 s",
    "[RESPONSE_TIME] <500",
    "[RESPONSE_TIME] < potato",
    "lenn([BODY]) > 0",
    "lenn([BODY] > 0",
    "len([BODY].users == 100",
    "len([BODY].users > x",
    "has([BODY].x == true",
    "any(200, 201 == [STATUS]",
    "[STATUS] == any(200, 201",
    "pat(2* == [STATUS]",
    "[DNS_RCODE] == noerror",
    "[DNS_RCODE]==noerror",
    "[DNS_RCODE] == NOERR",
    "[DNS_RCODE] == WHATEVER",
    "[CONNECTED] = true",
    "[CONNECTED] == True",
    "[CONNECTED] > 0",
    "[HEADER.content-type == x",
    "[VALUE.depth > 1",
    "[CERTIFICATE_EXPIRATION > 48h",
    "[CERTIFICATE_EXPIRATION] > 14d",
    "[IP] = pat(10.*)",
    "[IP] > pat(10.*)",
    "[BODY]status == UP",
    "[BODY]..a == 1",
    "[STATUS] == 200 == 201",
    "[STATUS] == 200 || [STATUS] > 300",
    "[STATUS]",
    "== 200",
    "",
]


def offered(message: str) -> list[str]:
    """The whole conditions a message proposes: after "write" or "did you mean", quoted."""
    return re.findall(r"(?:write|did you mean) '((?:[^'\\]|\\.)*)'", message)


@pytest.mark.parametrize("text", MALFORMED)
def test_every_suggestion_offered_is_a_valid_condition(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_condition(text)
    message = str(info.value)
    proposed = suggest(text)
    for candidate in offered(message):
        assert candidate == proposed
    if proposed is not None:
        parse_condition(proposed)  # raises if the suggestion is itself refused
        assert proposed in message or "did you mean [" in message or "(did you mean " in message


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("[STAUS] == 200", "[STATUS]"),
        ("lenn([BODY]) > 0", "len()"),
        ("[DNS_RCODE] == noerror", "NOERROR"),
    ],
)
def test_a_short_suggestion_is_offered_only_when_it_alone_makes_the_condition_valid(
    text: str, name: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(f"(did you mean {name}?)")):
        parse_condition(text)
    fixed = suggest(text)
    assert fixed is not None
    parse_condition(fixed)


def test_a_condition_keeps_its_source_and_equals_it() -> None:
    condition = parse_condition(" [STATUS] == 200 ")
    assert str(condition) == "[STATUS] == 200"
    assert condition == "[STATUS] == 200"
    assert condition == parse_condition("[STATUS] == 200")
    assert condition != parse_condition("[STATUS] == 201")
    assert hash(condition) == hash(parse_condition("[STATUS] == 200"))


def test_placeholders_lists_those_inside_functions() -> None:
    condition = parse_condition("len([BODY].a) > [VALUE].n")
    assert [p.name for p in condition.placeholders()] == ["BODY", "VALUE"]


def config_errors(checks: str) -> list[str]:
    text = "service: shop\nchecks:\n" + textwrap.indent(textwrap.dedent(checks).strip("\n"), "  ")
    with pytest.raises(ConfigError) as info:
        loads(text + "\n", file="x.yaml")
    return [str(p) for p in info.value.problems]


def test_config_parses_conditions_into_condition_objects() -> None:
    config = loads(
        "service: shop\nchecks:\n  api:\n    http: {url: 'http://api/'}\n"
        "    conditions: ['[STATUS] == 200']\n    degraded_when: ['[RESPONSE_TIME] > 300']\n",
        file="x.yaml",
    )
    api = config.checks["api"]
    assert isinstance(api.conditions[0], Condition)
    assert api.conditions == ["[STATUS] == 200"]
    assert api.degraded_when[0].operator == ">"
    assert api.model_dump()["conditions"] == ["[STATUS] == 200"]


def test_config_locates_a_bad_condition_at_its_list_item() -> None:
    assert config_errors("""
        api:
          http: {url: "http://api/"}
          conditions:
            - "[STATUS] == 200"
            - "[STATUS]==200"
          degraded_when: ["[RESPONSE_TIME] > slow"]
    """) == [
        "x.yaml:7:9: checks.api.conditions[1]: '[STATUS]==200' needs a space on each side of "
        "'==': write '[STATUS] == 200'",
        "x.yaml:8:21: checks.api.degraded_when[0]: 'slow' is not a number or a duration; "
        "[RESPONSE_TIME] is in milliseconds, e.g. 500 or 2s",
    ]


@pytest.mark.parametrize(
    ("kind", "condition", "message"),
    [
        (
            "http: {url: 'http://api/'}",
            "[DNS_RCODE] == NOERROR",
            "a http check does not measure "
            "[DNS_RCODE] (it measures [STATUS], [IP], [RESPONSE_TIME], [BODY], [HEADER], [VALUE], "
            "[CONNECTED], [CERTIFICATE_EXPIRATION])",
        ),
        (
            "tcp: {host: db, port: 5432}",
            "[STATUS] == 200",
            "a tcp check does not measure "
            "[STATUS] (it measures [IP], [RESPONSE_TIME], [CONNECTED])",
        ),
        (
            "tcp: {host: db, port: 5432}",
            "[CERTIFICATE_EXPIRATION] > 48h",
            "a tcp check does not "
            "measure [CERTIFICATE_EXPIRATION] (it measures [IP], [RESPONSE_TIME], [CONNECTED])",
        ),
        (
            "dns: {name: example.com}",
            "[HEADER].server == x",
            "a dns check does not measure "
            "[HEADER] (it measures [IP], [RESPONSE_TIME], [BODY], [CONNECTED], [DNS_RCODE])",
        ),
        (
            "tls: {host: example.com}",
            "[BODY] == x",
            "a tls check does not measure [BODY] (it "
            "measures [IP], [RESPONSE_TIME], [VALUE], [CONNECTED], [CERTIFICATE_EXPIRATION])",
        ),
        (
            "postgres: {dsn: 'postgresql://db/x'}",
            "len([BODY].a) > 0",
            "a postgres check does "
            "not measure [BODY] (it measures [RESPONSE_TIME], [VALUE], [CONNECTED])",
        ),
        (
            "command: {run: 'true'}",
            "[IP] == pat(10.*)",
            "a command check does not measure [IP] "
            "(it measures [STATUS], [RESPONSE_TIME], [BODY], [VALUE], [CONNECTED])",
        ),
    ],
)
def test_config_rejects_placeholders_the_kind_never_measures(
    kind: str, condition: str, message: str
) -> None:
    assert config_errors(f"""
        c:
          {kind}
          every: 1m
          conditions:
            - "[RESPONSE_TIME] < 500"
            - "{condition}"
    """) == [f"x.yaml:8:9: checks.c.conditions[1]: {message}"]


def test_config_locates_a_kind_mismatch_in_degraded_when() -> None:
    assert config_errors("""
        db:
          tcp: {host: db, port: 5432}
          degraded_when: ["[RESPONSE_TIME] > 100", "[STATUS] != 200"]
    """) == [
        "x.yaml:5:46: checks.db.degraded_when[1]: a tcp check does not measure [STATUS] "
        "(it measures [IP], [RESPONSE_TIME], [CONNECTED])"
    ]


def test_config_refuses_conditions_on_a_heartbeat() -> None:
    assert config_errors("""
        nightly:
          heartbeat: {period: 1d}
          conditions: ["[CONNECTED] == true"]
    """) == [
        "x.yaml:5:18: checks.nightly.conditions[0]: a heartbeat check takes no conditions: "
        "it is up while pings arrive on time"
    ]


def test_config_accepts_measured_placeholders_for_every_polled_kind() -> None:
    config = loads(
        textwrap.dedent("""
        service: shop
        checks:
          d: {dns: {name: example.com}, conditions: ["[DNS_RCODE] == NXDOMAIN", "[BODY] == x"]}
          t: {tls: {host: example.com}, conditions: ["[CERTIFICATE_EXPIRATION] > 336h"]}
          r: {redis: {url: "redis://r"}, conditions: ["[VALUE].memory_pct < 80"]}
          m: {metric: {url: "http://m/metrics"}, conditions: ["[VALUE].x < 1"]}
          c: {command: {run: "true"}, conditions: ["[STATUS] == 0", "[BODY] == pat(*ok*)"]}
        """),
        file="x.yaml",
    )
    assert sorted(config.checks) == ["c", "d", "m", "r", "t"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("200", 200),
        ("-5", -5),
        ("+5", 5),
        ("0x1F", 31),
        ("0X1f", 31),
        ("0o17", 15),
        ("0b101", 5),
        ("010", 8),
        ("0_7", 7),
        ("1_000", 1000),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("08", None),
        ("1__0", None),
        ("_1", None),
        ("1.0", None),
        (" 1", None),
        ("١٢", None),
        ("0x", None),
        ("--1", None),
        ("", None),
    ],
)
def test_go_parse_int_uses_base_zero(text: str, expected: int | None) -> None:
    assert parse_go_int(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48h", 172_800_000),
        ("1h30m", 5_400_000),
        ("1.5s", 1500),
        (".5s", 500),
        ("-2s", -2000),
        ("300ms", 300),
        ("1500us", 1),
        ("999µs", 0),
        ("0s", None),
        ("0", None),
        ("500", None),
        ("14d", None),
        (".s", None),
        ("1h 30m", None),
        ("3000000h", None),
    ],
)
def test_go_parse_duration_gives_milliseconds(text: str, expected: int | None) -> None:
    assert parse_go_duration_ms(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("1.5", 1.5), ("1e3", 1000.0), ("-.5", -0.5), ("1.", 1.0), ("nan", None)]
)
def test_go_parse_float(text: str, expected: float | None) -> None:
    assert parse_go_float(text) == expected


@pytest.mark.parametrize(
    ("millis", "expected"),
    [
        (0, "0s"),
        (999, "0s"),
        (45_000, "45s"),
        (5_400_000, "1h30m"),
        (1_209_600_000, "336h"),
        (3_610_000, "1h10s"),
        (-86_400_000, "-24h"),
    ],
)
def test_durations_display_without_zero_units(millis: int, expected: str) -> None:
    assert format_go_duration(millis) == expected


@pytest.mark.parametrize(
    ("glob", "value", "matches"),
    [
        ("192.168.*", "192.168.1.1", True),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("*.example.com", "api.example.com", True),
        ("a.c", "abc", False),
    ],
)
def test_globs_follow_go_filepath_match(glob: str, value: str, matches: bool) -> None:
    regex = translate_glob(glob)
    assert regex is not None
    assert (regex.fullmatch(value) is not None) is matches


@pytest.mark.parametrize("glob", ["[", "[]", "[a-", "[z-a]", "x\\", "[-a]"])
def test_malformed_globs_are_refused(glob: str) -> None:
    assert translate_glob(glob) is None


def test_config_refuses_a_condition_that_is_not_text() -> None:
    assert config_errors("""
        api:
          http: {url: "http://api/"}
          conditions: [200]
    """) == [
        "x.yaml:5:18: checks.api.conditions[0]: expected a condition string such as "
        "'[STATUS] == 200'"
    ]
