"""Conditions give Gatus' answers on observations, and render failures with resolved values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsbook.checks.conditions import (
    Subject,
    compile_condition,
    evaluate,
    evaluate_all,
    go_number,
    match_pattern,
)
from opsbook.checks.models import Observation
from opsbook.config.conditions import parse_condition

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BODY = json.dumps(
    {
        "status": "UP",
        "data": [],
        "users": [{"name": "ann", "age": 18, "adult": True}, {"name": "bob"}],
        "tags": ["hello", "world", "Whatever"],
        "nested": [[1, 2], [3, {"k": None}]],
        "db": {"status": "UP", "latency": 5, "note": "<ok>"},
        "count": 1000000,
        "big": 1.5e6,
        "ratio": 0.25,
        "tiny": 0.00001,
        "score": 7.9,
        "none": None,
        "text": "héllo",
        "flag": False,
        "octal": "010",
        "path": "/var/lib/app",
        "long": "abcdefghijklmnopqrstuvwxyz0123",
    }
)


def observe(**fields: Any) -> Observation:
    fields.setdefault("latency_ms", 42.9)
    fields.setdefault("connected", True)
    return Observation(**fields)


HTTP = {
    "status": 200,
    "body": f"  {BODY}\n",
    "ip": "192.168.1.17",
    "headers": {"Content-Type": "application/json", "X-Version": "1.2.3"},
    "certificate_expires_at": NOW + timedelta(hours=24, minutes=30),
}


@pytest.mark.parametrize(
    ("condition", "fields", "ok", "rendered"),
    [
        # [STATUS], integers in Go's base-0 syntax
        ("[STATUS] == 200", HTTP, True, "[STATUS] (200) == 200"),
        ("[STATUS] == 200", {"status": 500}, False, "[STATUS] (500) == 200"),
        ("[STATUS] != 200", {"status": 500}, True, "[STATUS] (500) != 200"),
        ("[STATUS] == 0xC8", HTTP, True, "[STATUS] (200) == 0xC8"),
        ("[STATUS] == 0o310", HTTP, True, "[STATUS] (200) == 0o310"),
        ("[STATUS] == 0b11001000", HTTP, True, "[STATUS] (200) == 0b11001000"),
        ("[status] < 300", HTTP, True, "[status] (200) < 300"),
        ("[STATUS] < 400", {"status": 404}, False, "[STATUS] (404) < 400"),
        ("[STATUS] >= 200", HTTP, True, "[STATUS] (200) >= 200"),
        ("[STATUS] <= 199", HTTP, False, "[STATUS] (200) <= 199"),
        ("[STATUS] == 200", {}, False, "[STATUS] (INVALID) == 200"),
        ("[STATUS] == any(200, 201)", {"status": 201}, True, "[STATUS] (201) == any(200, 201)"),
        ("[STATUS] == any(200, 201)", {"status": 500}, False, "[STATUS] (500) == any(200, 201)"),
        ("any(500, 502) != [STATUS]", HTTP, True, "any(500, 502) != [STATUS] (200)"),
        ("[STATUS] == pat(2*)", {"status": 204}, True, "[STATUS] (204) == pat(2*)"),
        ("[STATUS] == pat(2*)", {"status": 503}, False, "[STATUS] (503) == pat(2*)"),
        # leading-zero literals are octal in Go: "010" is 8 and "08" is text
        ("[BODY].octal == 8", HTTP, True, "[BODY].octal (010) == 8"),
        ("[BODY].octal == 10", HTTP, False, "[BODY].octal (010) == 10"),
        ("010 == 8", {}, True, "010 == 8"),
        ("08 == 8", {}, False, "08 == 8"),
        ("raw == raw", {}, True, "raw == raw"),
        # [RESPONSE_TIME] in whole milliseconds; durations read as milliseconds
        ("[RESPONSE_TIME] < 500", {"latency_ms": 812.7}, False, "[RESPONSE_TIME] (812) < 500"),
        ("[RESPONSE_TIME] < 500", HTTP, True, "[RESPONSE_TIME] (42) < 500"),
        ("[RESPONSE_TIME] < 1s", {"latency_ms": 999.9}, True, "[RESPONSE_TIME] (999) < 1s"),
        ("[RESPONSE_TIME] < 1s", {"latency_ms": 1000}, False, "[RESPONSE_TIME] (1000) < 1s"),
        ("[RESPONSE_TIME] <= 1.9", {"latency_ms": 1.2}, True, "[RESPONSE_TIME] (1) <= 1.9 (1)"),
        ("[RESPONSE_TIME] > 0x10", {"latency_ms": 17}, True, "[RESPONSE_TIME] (17) > 0x10 (16)"),
        ("[RESPONSE_TIME] < 90m", {"latency_ms": 5}, True, "[RESPONSE_TIME] (5) < 90m (1h30m)"),
        # [CERTIFICATE_EXPIRATION]: milliseconds left, shown as a duration; 0 without a certificate
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            HTTP,
            False,
            "[CERTIFICATE_EXPIRATION] (24h30m) > 48h",
        ),
        ("[CERTIFICATE_EXPIRATION] > 24h", HTTP, True, "[CERTIFICATE_EXPIRATION] (24h30m) > 24h"),
        ("[CERTIFICATE_EXPIRATION] > 1", {}, False, "[CERTIFICATE_EXPIRATION] (0s) > 1"),
        (
            "[CERTIFICATE_EXPIRATION] > 0",
            {"certificate_expires_at": NOW - timedelta(hours=2)},
            False,
            "[CERTIFICATE_EXPIRATION] (-2h) > 0",
        ),
        # [BODY] is trimmed; paths re-marshal maps, print arrays Go-style
        ("[BODY] == pong", {"body": " pong\n"}, True, "[BODY] (pong) == pong"),
        ("[BODY] == pong", {"body": "ping"}, False, "[BODY] (ping) == pong"),
        ("[BODY].status == UP", HTTP, True, "[BODY].status (UP) == UP"),
        ("[BODY].status == UP", {"body": '{"status":"DOWN"}'}, False, "[BODY].status (DOWN) == UP"),
        ("[body].db.status == UP", HTTP, True, "[body].db.status (UP) == UP"),
        (
            "[BODY].db == x",
            HTTP,
            False,
            '[BODY].db ({"latency":5,"note":"\\u003cok\\u003e","status":"UP"}) == x',
        ),
        (
            "[BODY].tags == [hello world Whatever]",
            HTTP,
            True,
            "[BODY].tags ([hello world Whatever]) == [hello world Whatever]",
        ),
        ("[BODY].users[0].name == ann", HTTP, True, "[BODY].users[0].name (ann) == ann"),
        ("[BODY].users[1].age == 1", HTTP, False, "[BODY].users[1].age (INVALID) == 1"),
        ("[BODY].users[5].name == x", HTTP, False, "[BODY].users[5].name (INVALID) == x"),
        ("[BODY].nested[1][0] == 3", HTTP, True, "[BODY].nested[1][0] (3) == 3"),
        ("[BODY].nested[1] == x", HTTP, False, "[BODY].nested[1] ([3 map[k:<nil>]]) == x"),
        ("[BODY].users[0].adult == true", HTTP, True, "[BODY].users[0].adult (true) == true"),
        ("[BODY].flag == false", HTTP, True, "[BODY].flag (false) == false"),
        ("[BODY].ratio == 0.25", HTTP, True, "[BODY].ratio (0.25) == 0.25"),
        ("[BODY].tiny == x", HTTP, False, "[BODY].tiny (1e-05) == x"),
        ("[BODY].score > 7", HTTP, False, "[BODY].score (7) > 7"),
        # the 1e6 fix: Gatus prints 1e+06 and would fail these two
        ("[BODY].count == 1000000", HTTP, True, "[BODY].count (1000000) == 1000000"),
        ("[BODY].big == 1500000", HTTP, True, "[BODY].big (1500000) == 1500000"),
        # missing and null fail whatever the operator
        ("[BODY].missing == x", HTTP, False, "[BODY].missing (INVALID) == x"),
        ("[BODY].missing != x", HTTP, False, "[BODY].missing (INVALID) != x"),
        ("[BODY].none != x", HTTP, False, "[BODY].none (INVALID) != x"),
        ("[BODY].missing < 5", HTTP, False, "[BODY].missing (INVALID) < 5"),
        ("[BODY].status.deeper == x", HTTP, False, "[BODY].status.deeper (INVALID) == x"),
        ("[BODY].a == x", {"body": "not json"}, False, "[BODY].a (INVALID) == x"),
        ("[BODY].status > 5", HTTP, False, "[BODY].status (UP) > 5"),
        # len() and has()
        ("len([BODY].data) > 0", HTTP, False, "len([BODY].data) (0) > 0"),
        ("len([BODY].tags) == 3", HTTP, True, "len([BODY].tags) (3) == 3"),
        ("len([BODY].users[0]) == 36", HTTP, True, "len([BODY].users[0]) (36) == 36"),
        ("len([BODY].text) == 6", HTTP, True, "len([BODY].text) (6) == 6"),
        ("len([BODY].count) == 7", HTTP, True, "len([BODY].count) (7) == 7"),
        ("len([BODY].missing) == 0", HTTP, False, "len([BODY].missing) (INVALID) == 0"),
        ("len([BODY]) == 3", {"body": "[1, 2, 3]"}, True, "len([BODY]) (3) == 3"),
        ("len([BODY]) == 6", {"body": "pong\n\n"}, True, "len([BODY]) (6) == 6"),
        ("len([STATUS]) == 3", HTTP, True, "len([STATUS]) (3) == 3"),
        ("has([BODY].db) == true", HTTP, True, "has([BODY].db) (true) == true"),
        ("has([BODY].errors) == false", HTTP, True, "has([BODY].errors) (false) == false"),
        ("has([BODY].none) == true", HTTP, False, "has([BODY].none) (false) == true"),
        ("has([BODY]) == true", {"body": "  \n"}, False, "has([BODY]) (false) == true"),
        ("has([BODY]) == true", {"body": "x"}, True, "has([BODY]) (true) == true"),
        # pat(): filepath.Match, slashes removed, long values truncated in the display
        ("[BODY].path == pat(*lib*)", HTTP, True, "[BODY].path (/var/lib/app) == pat(*lib*)"),
        ("[BODY].path == pat(/var/*)", HTTP, True, "[BODY].path (/var/lib/app) == pat(/var/*)"),
        ("[BODY].status == pat(*)", HTTP, True, "[BODY].status (UP) == pat(*)"),
        ("[BODY].status == pat(U?)", HTTP, True, "[BODY].status (UP) == pat(U?)"),
        ("[BODY].status != pat(D*)", HTTP, True, "[BODY].status (UP) != pat(D*)"),
        (
            "[BODY].long == pat(x*)",
            HTTP,
            False,
            "[BODY].long (abcdefghijklmnopqrstuvwxy...(truncated)) == pat(x*)",
        ),
        ("[BODY].missing == pat(*)", HTTP, False, "[BODY].missing (INVALID) == pat(*)"),
        # [IP], [CONNECTED], [DNS_RCODE]
        ("[IP] == pat(192.168.*)", HTTP, True, "[IP] (192.168.1.17) == pat(192.168.*)"),
        ("[IP] == 10.0.0.1", HTTP, False, "[IP] (192.168.1.17) == 10.0.0.1"),
        ("[CONNECTED] == true", {}, True, "[CONNECTED] (true) == true"),
        ("[CONNECTED] == true", {"connected": False}, False, "[CONNECTED] (false) == true"),
        (
            "[DNS_RCODE] == NOERROR",
            {"dns_rcode": "NOERROR"},
            True,
            "[DNS_RCODE] (NOERROR) == NOERROR",
        ),
        (
            "[DNS_RCODE] == NOERROR",
            {"dns_rcode": "NXDOMAIN"},
            False,
            "[DNS_RCODE] (NXDOMAIN) == NOERROR",
        ),
        # [HEADER] (case-insensitive names) and [VALUE] (exact numbers)
        (
            "[HEADER].content-type == application/json",
            HTTP,
            True,
            "[HEADER].content-type (application/json) == application/json",
        ),
        ("[HEADER].X-VERSION == pat(1.*)", HTTP, True, "[HEADER].X-VERSION (1.2.3) == pat(1.*)"),
        ("[HEADER].x-missing == x", HTTP, False, "[HEADER].x-missing (INVALID) == x"),
        (
            "has([HEADER].x-missing) == false",
            HTTP,
            True,
            "has([HEADER].x-missing) (false) == false",
        ),
        (
            "[VALUE].connections_pct > 80",
            {"values": {"connections_pct": 80.5}},
            True,
            "[VALUE].connections_pct (80.5) > 80",
        ),
        (
            "[VALUE].connections_pct > 80",
            {"values": {"connections_pct": 80}},
            False,
            "[VALUE].connections_pct (80) > 80",
        ),
        ("[VALUE].depth < 1000", {"values": {"depth": 1500}}, False, "[VALUE].depth (1500) < 1000"),
        ("[VALUE].depth == 0", {"values": {"depth": 0}}, True, "[VALUE].depth (0) == 0"),
        ("[VALUE].depth < 1000", {"values": {}}, False, "[VALUE].depth (INVALID) < 1000"),
        ("[VALUE].lag < 5", {"values": {"lag": None}}, False, "[VALUE].lag (INVALID) < 5"),
        (
            "[VALUE].replica == true",
            {"values": {"replica": True}},
            True,
            "[VALUE].replica (true) == true",
        ),
        (
            "[VALUE].role == primary",
            {"values": {"role": "primary"}},
            True,
            "[VALUE].role (primary) == primary",
        ),
    ],
)
@pytest.mark.parametrize("compiled", [False, True], ids=["evaluate", "compiled"])
def test_it_evaluates_like_gatus(
    condition: str, fields: dict[str, Any], ok: bool, rendered: str, compiled: bool
) -> None:
    # A check's probes run compile_condition's evaluator: the same table holds it to Gatus.
    parsed = parse_condition(condition)
    if compiled:
        outcome = compile_condition(parsed)(Subject(observe(**fields), now=NOW))
    else:
        outcome = evaluate(parsed, observe(**fields), now=NOW)
    assert (outcome.ok, outcome.rendered) == (ok, rendered)


def test_the_body_is_parsed_once_for_all_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_loads = json.loads

    def counting_loads(text: str, **kwargs: Any) -> Any:
        calls.append(text)
        return real_loads(text, **kwargs)

    monkeypatch.setattr("opsbook.checks.conditions.json.loads", counting_loads)
    conditions = [parse_condition(c) for c in ("[BODY].status == UP", "len([BODY].data) == 0")]
    outcomes = evaluate_all(conditions, observe(**HTTP), now=NOW)
    assert [o.ok for o in outcomes] == [True, True]
    assert len(calls) == 1


def test_a_subject_shares_one_parse_between_evaluations() -> None:
    subject = Subject(observe(**HTTP), now=NOW)
    evaluate(parse_condition("[BODY].status == UP"), subject)
    first = subject.json
    evaluate(parse_condition("[BODY].db.status == UP"), subject)
    assert subject.json is first


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1, "1"),
        (1000000, "1000000"),
        (2**63, "9223372036854775808"),
        (1.0, "1"),
        (1e6, "1000000"),
        (0.1, "0.1"),
        (123456.5, "123456.5"),
        (1234567.5, "1.2345675e+06"),
        (-0.00001, "-1e-05"),
        (0.0001, "0.0001"),
        (1e300, "1e+300"),
        (float("inf"), "+Inf"),
    ],
)
def test_numbers_print_like_go_except_whole_numbers(value: float, shown: str) -> None:
    assert go_number(value) == shown


@pytest.mark.parametrize(
    ("glob", "value", "matches"),
    [("*", "a/b", True), ("a*", "a/b/c", True), ("a/b", "ab", True), ("[", "[", False)],
)
def test_patterns_drop_slashes_like_gatus(glob: str, value: str, matches: bool) -> None:
    assert match_pattern(glob, value) is matches
