"""Hypothesis property tests: every parser of outside input ends in success or a clear error.

Inputs are hostile on purpose: lone surrogates, NULs, bidi and BOM characters, integers far
beyond 64 bits, NaN and infinities, and nesting deeper than any real payload. "A clear error"
is the parser's documented one: ``OpsbookError`` (``InputError`` / ``ConfigError``) for the
ingest payloads and the config loader, ``ValueError`` with the user-facing sentence for the
pure parsers (durations, conditions, alert expressions), which the config models turn into a
located ``ConfigError``. Anything else (``RecursionError``, ``TypeError``, a ``KeyError``) is a
500 or a crashed command waiting to happen.

The ``hostile`` profile is derandomized when ``CI`` is set, so CI runs the same cases each time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsbook.alerts.ingest_models import (
    decode_json,
    parse_pagerduty_event,
    parse_postable_alerts,
    parse_postable_silence,
    parse_webhook_alerts,
    parse_webhook_message,
)
from opsbook.checks.heartbeats import expected_at
from opsbook.config import loads, parse_duration
from opsbook.config.alert_expr import parse_alert_expr
from opsbook.config.checks import HeartbeatSpec
from opsbook.config.conditions import parse_condition
from opsbook.errors import ConfigError, OpsbookError

settings.register_profile(
    "hostile",
    max_examples=60,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hostile = settings.get_profile("hostile")

# Text: any code point, surrogates included (hypothesis leaves them out unless asked), mixed
# with the snippets that broke opsbook before.
SNIPPETS = ["\x00", "\ud800", "\udfff", "\ud83d", "\u202e", "\ufeff", "\u2028", "%s", "{{", "'\""]
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.lists(st.sampled_from(SNIPPETS) | st.text(max_size=5), min_size=1, max_size=6).map("".join),
)
NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([2**63, 2**64 + 1, -(2**63) - 1, 10**400, 10**4000]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def deep(depth: int, leaf: object = 1) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


DEEP = st.integers(min_value=100, max_value=5000).map(deep)
ANY = st.one_of(JSON, DEEP)
STRINGS = st.dictionaries(TEXT, TEXT | JSON, max_size=4)
TIME = st.one_of(
    TEXT,
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.just("0001-01-01T00:00:00Z"),
    st.just("9999-12-31T23:59:59.999999999+23:59"),
)


def maybe(
    value: st.SearchStrategy[object], anything: st.SearchStrategy[object] = ANY
) -> st.SearchStrategy[object]:
    """A right-shaped value most of the time, ``anything`` at all otherwise."""
    return st.one_of(value, value, anything)


def shaped(
    required: dict[str, st.SearchStrategy[object]],
    optional: dict[str, st.SearchStrategy[object]],
    *,
    anything: st.SearchStrategy[object] = ANY,
) -> st.SearchStrategy[object]:
    return st.fixed_dictionaries(
        {k: maybe(v, anything) for k, v in required.items()},
        optional={k: maybe(v, anything) for k, v in optional.items()},
    )


ALERT = shaped(
    {"labels": STRINGS},
    {"annotations": STRINGS, "startsAt": TIME, "endsAt": TIME, "generatorURL": TEXT},
)
STATE = st.sampled_from(["firing", "resolved"]) | TEXT
PAYLOADS: dict[str, tuple[Callable[[object], object], st.SearchStrategy[object]]] = {
    "alertmanager": (parse_postable_alerts, st.lists(maybe(ALERT), max_size=4)),
    "alertmanager_webhook": (
        parse_webhook_message,
        shaped(
            {
                "version": st.just("4"),
                "groupKey": TEXT,
                "status": STATE,
                "receiver": TEXT,
                "alerts": st.lists(
                    shaped({"status": STATE, "labels": STRINGS}, {"fingerprint": TEXT}), max_size=3
                ),
            },
            {"externalURL": TEXT, "notification_reason": TEXT, "commonLabels": STRINGS},
        ),
    ),
    "pagerduty": (
        parse_pagerduty_event,
        shaped(
            {
                "routing_key": st.text(min_size=32, max_size=32) | TEXT,
                "event_action": st.sampled_from(["trigger", "acknowledge", "resolve"]),
            },
            {
                "dedup_key": TEXT,
                "payload": shaped(
                    {
                        "summary": TEXT,
                        "source": TEXT,
                        "severity": st.sampled_from(["critical", "error", "warning", "info"]),
                    },
                    {"timestamp": TIME, "custom_details": JSON, "class": TEXT},
                ),
                "links": JSON,
                "client_url": TEXT,
            },
        ),
    ),
    "webhook": (
        lambda data: parse_webhook_alerts(data, severities=["SEV1", "SEV2"]),
        st.one_of(
            shaped({}, {"summary": TEXT, "status": STATE, "key": TEXT, "labels": STRINGS}),
            st.lists(shaped({"summary": TEXT}, {"severity": TEXT, "url": TEXT}), max_size=3),
        ),
    ),
    "silence": (
        parse_postable_silence,
        shaped(
            {
                "matchers": st.lists(
                    shaped({"name": TEXT, "value": TEXT}, {"isRegex": st.booleans()}), max_size=3
                ),
                "startsAt": TIME,
                "endsAt": TIME,
                "createdBy": TEXT,
                "comment": TEXT,
            },
            {"id": TEXT},
        ),
    ),
}


def strings_in(value: object) -> Iterator[str]:
    """Every string in a parsed payload: its dataclasses, mappings (keys too) and sequences."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            if item.name != "routing_key":  # a Secret, compared, never stored
                yield from strings_in(getattr(value, item.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_an_ingest_payload_is_parsed_or_refused_with_an_input_error(kind: str) -> None:
    parse, payloads = PAYLOADS[kind]

    @hostile
    @given(data=st.one_of(payloads, ANY))
    def check(data: object) -> None:
        try:
            parsed = parse(data)
        except OpsbookError:
            return
        # What is accepted is storable on both stores: UTF-8 text without NUL (issue 11).
        for text in strings_in(parsed):
            assert "\x00" not in text, text
            text.encode("utf-8")

    check()


BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    JSON.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)
HUGE_BODIES = st.one_of(
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(4300, 20_000).map(lambda n: b"[" + b"9" * n + b"]"),
)


@hostile
@given(body=BODIES)
def test_a_request_body_is_decoded_or_refused_with_an_input_error(body: bytes) -> None:
    with contextlib.suppress(OpsbookError):
        decode_json(body)


@hostile
@given(body=HUGE_BODIES)
def test_a_deep_or_huge_body_is_decoded_or_refused_with_an_input_error(body: bytes) -> None:
    with contextlib.suppress(OpsbookError):
        decode_json(body)


def yaml_text(value: object) -> str:
    return yaml.safe_dump(value, allow_unicode=True)


def shaped_config(
    required: dict[str, st.SearchStrategy[object]], optional: dict[str, st.SearchStrategy[object]]
) -> st.SearchStrategy[object]:
    """``shaped`` for YAML: PyYAML's dumper recurses, so deep nesting comes as text instead."""
    return shaped(required, optional, anything=JSON)


CHECK = shaped_config(
    {},
    {
        "http": shaped_config({"url": TEXT}, {"conditions": st.lists(TEXT, max_size=2)}),
        "heartbeat": shaped_config({}, {"period": TEXT, "schedule": TEXT, "grace": TEXT}),
        "every": TEXT,
        "timeout": TEXT,
    },
)
CONFIGS = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=200),
    shaped_config(
        {"service": TEXT},
        {
            "checks": st.dictionaries(TEXT, CHECK, max_size=2),
            "severities": st.dictionaries(
                TEXT, shaped_config({"respond_within": TEXT}, {}), max_size=2
            ),
            "timezone": TEXT,
            "alerts": st.dictionaries(
                TEXT, shaped_config({"when": TEXT}, {"for": TEXT}), max_size=2
            ),
        },
    ).map(yaml_text),
    st.integers(1, 50_000).map(lambda n: "service: " + "[" * n + "]" * n),
    st.integers(1, 5_000).map(lambda n: "a:\n" + "".join(f"{'  ' * i}b:\n" for i in range(1, n))),
)


@hostile
@given(text=CONFIGS)
def test_a_config_text_loads_or_is_refused_with_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        loads(text, environ={})


UNITS = st.sampled_from(["ms", "s", "m", "h", "d", "w", "", "us", "y"])
DURATIONS = st.one_of(
    SCALARS,
    st.lists(st.tuples(NUMBERS.map(str) | TEXT, UNITS), min_size=1, max_size=4).map(
        lambda parts: "".join(n + u for n, u in parts)
    ),
)


def test_a_duration_beyond_timedelta_is_refused_with_a_value_error() -> None:
    with pytest.raises(ValueError, match="'99999999999w' is too long a duration"):
        parse_duration("99999999999w")
    with pytest.raises(ConfigError, match=r"checks\.a\.heartbeat\.period"):
        loads("service: t\nchecks: {a: {heartbeat: {period: 99999999999w}}}\n", environ={})


@pytest.mark.parametrize(
    ("text", "where"),
    [("service: t\x08", "1:11"), ("service: t\nx: \ud800", "2:4"), ("a: \x00", "1:4")],
)
def test_a_character_yaml_refuses_is_a_config_error_naming_where(text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=rf"<string>:{where}: invalid YAML: character U\+"):
        loads(text, environ={})


def test_a_config_nested_too_deep_is_refused_with_a_config_error() -> None:
    with pytest.raises(ConfigError, match="1:1: invalid YAML: nested too deeply"):
        loads("service: " + "[" * 20_000 + "]" * 20_000, environ={})


@hostile
@given(value=DURATIONS)
def test_a_duration_is_parsed_or_refused_with_a_value_error(value: object) -> None:
    try:
        parsed = parse_duration(value)
    except ValueError:
        return
    assert isinstance(parsed, timedelta)


CONDITION_PARTS = st.sampled_from(
    [
        "[STATUS]", "[BODY]", "[BODY].a.b", "[RESPONSE_TIME]", "[CERTIFICATE_EXPIRATION]", "==",
        "!=", "<", ">=", "pat(", "len(", "any(", ")", "200", "1e400", "-0", "'x'", "\"", "&&",
        "||", " ", "*", "[", "]",
    ]
)  # fmt: skip
CONDITIONS = st.one_of(TEXT, st.lists(CONDITION_PARTS | TEXT, min_size=1, max_size=8).map("".join))


@hostile
@given(text=CONDITIONS)
def test_a_condition_is_parsed_or_refused_with_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_condition(text)


EXPR_PARTS = st.sampled_from(
    ["api", " ", "is", "down", "up", "latency_ms", "p95", ">", "<=", "500", "99.9%", "1e999",
     "for", "5m", "(", ")", "and", "or", "not", "."]
)  # fmt: skip


@hostile
@given(text=st.one_of(TEXT, st.lists(EXPR_PARTS | TEXT, min_size=1, max_size=8).map("".join)))
def test_an_alert_expression_is_parsed_or_refused_with_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_alert_expr(text)


CRON_FIELD = st.one_of(
    st.sampled_from(["*", "*/5", "0", "59", "60", "1-5", "5-1", "L", "31", "30", "29", "2", "?"]),
    st.sampled_from(
        ["MON", "sun", "7", "1#5", "5L", "LW", "15W", "JAN", "feb", "0-59/7", "9" * 30]
    ),
    TEXT,
)
CRONS = st.one_of(
    TEXT,
    st.lists(CRON_FIELD, min_size=5, max_size=5).map(" ".join),
    st.sampled_from(["0 0 30 2 *", "0 0 31 4 *", "0 0 29 2 1", "0 0 L 2 *", "0 0 * * 5L"]),
)


@hostile
@given(
    schedule=CRONS,
    last_ping_at=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe"]),
)
def test_a_cron_schedule_the_config_accepts_always_has_a_next_run(
    schedule: str, last_ping_at: datetime, zone: str
) -> None:
    try:
        spec = HeartbeatSpec.model_validate({"schedule": schedule})
    except ValueError:  # pydantic's ValidationError is one; the loader reports it located
        return
    due = expected_at(spec, last_ping_at=last_ping_at, timezone=zone)
    assert due > last_ping_at
