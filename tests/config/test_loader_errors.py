"""Every mistake names file:line:column, the dotted path, and what would be accepted (R12)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from opsbook.config import load
from opsbook.errors import ConfigError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def errors(text: str, environ: dict[str, str] | None = None) -> list[str]:
    Path("opsbook.yaml").write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(ConfigError) as info:
        load("opsbook.yaml", environ=environ or {})
    return [str(p) for p in info.value.problems]


TCP = "tcp: {host: db, port: 5432}"


def test_it_suggests_the_key_you_meant() -> None:
    assert errors(f"""
        service: shop
        checks:
          api:
            {TCP}
            evry: 30s
    """) == ["opsbook.yaml:5:5: checks.api.evry: unknown key 'evry' (did you mean 'every'?)"]


def test_it_lists_accepted_keys_when_nothing_is_close() -> None:
    assert errors("service: shop\nserver: {zzz: 1}\n") == [
        "opsbook.yaml:2:10: server.zzz: unknown key 'zzz' (expected one of: host, port, public_url)"
    ]


def test_it_rejects_a_bad_duration() -> None:
    assert errors(f"""
        service: shop
        checks:
          api-uptime:
            {TCP}
            every: 30x
    """) == [
        "opsbook.yaml:5:12: checks.api-uptime.every: '30x' is not a duration (use e.g. 30s, 5m, 1h)"
    ]


def test_it_reports_an_unset_environment_variable_once() -> None:
    assert errors("""
        service: shop
        checks:
          db:
            postgres: {dsn: "${DATABASE_URL}"}
    """) == [
        "opsbook.yaml:4:21: checks.db.postgres.dsn: environment variable DATABASE_URL is not set "
        "(use ${DATABASE_URL:-default} for a default)"
    ]


def test_it_reports_a_duplicate_key_with_the_first_line() -> None:
    assert errors(f"""
        service: shop
        checks:
          api:
            {TCP}
            every: 30s
            timeout: 5s
            every: 1m
    """) == ["opsbook.yaml:7:5: checks.api.every: duplicate key 'every' (first defined at line 5)"]


def test_it_reports_a_duplicate_check_id() -> None:
    assert errors(f"""
        service: shop
        checks:
          api: {{{TCP}}}
          api: {{{TCP}}}
    """) == ["opsbook.yaml:4:3: checks.api: duplicate key 'api' (first defined at line 3)"]


def test_it_names_the_expected_type() -> None:
    assert errors("service: shop\nserver:\n  port: abc\n") == [
        "opsbook.yaml:3:9: server.port: expected an integer, got 'abc'"
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("port: 0", "2:16: server.port: must be at least 1, got 0"),
        ("port: 70000", "2:16: server.port: must be at most 65535, got 70000"),
        # A mapping or list in the wrong place is reported at its key.
        ("port: [1]", "2:10: server.port: expected an integer, got a list"),
        ("host: {a: 1}", "2:10: server.host: expected a string, got a mapping"),
        (
            "public_url: ftp://x",
            "2:22: server.public_url: 'ftp://x' is not an http:// or https:// URL",
        ),
    ],
)
def test_it_rejects_bad_server_values(line: str, message: str) -> None:
    assert errors(f"service: shop\nserver: {{{line}}}\n") == [f"opsbook.yaml:{message}"]


def test_it_reports_a_missing_key_at_the_enclosing_mapping() -> None:
    assert errors("""
        timezone: UTC
        checks:
          db:
            postgres: {}
    """) == [
        "opsbook.yaml:1:1: missing required key 'service'",
        "opsbook.yaml:4:5: checks.db.postgres: missing required key 'dsn'",
    ]


def test_it_rejects_an_unknown_timezone() -> None:
    assert errors("service: shop\ntimezone: Mars/Olympus\n") == [
        "opsbook.yaml:2:11: timezone: 'Mars/Olympus' is not a timezone "
        "(use an IANA name such as UTC or Europe/Berlin)"
    ]


def test_it_rejects_a_component_naming_an_unknown_check() -> None:
    assert errors(f"""
        service: shop
        components:
          api:
            name: API
            checks: [api-uptime, api-uptme, nope]
        checks:
          api-uptime: {{{TCP}}}
          worker: {{{TCP}}}
    """) == [
        "opsbook.yaml:5:26: components.api.checks[1]: unknown check 'api-uptme' "
        "(did you mean 'api-uptime'?)",
        "opsbook.yaml:5:37: components.api.checks[2]: unknown check 'nope' "
        "(known checks: api-uptime, worker)",
    ]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            "{tcp: {host: db, port: 1}, postgres: {dsn: x}}",
            "a check needs exactly one kind key, got tcp and postgres "
            "(accepted: http, tcp, dns, tls, postgres, redis, heartbeat, metric, command)",
        ),
        (
            "{every: 5m}",
            "a check needs exactly one kind key "
            "(http, tcp, dns, tls, postgres, redis, heartbeat, metric, command)",
        ),
    ],
)
def test_it_wants_exactly_one_kind_per_check(check: str, message: str) -> None:
    assert errors(f"service: shop\nchecks:\n  db: {check}\n") == [
        f"opsbook.yaml:3:3: checks.db: {message}"
    ]


def test_it_reports_the_kind_error_alongside_other_errors_in_the_check() -> None:
    assert errors("service: shop\nchecks:\n  db: {every: 5x}\n") == [
        "opsbook.yaml:3:3: checks.db: a check needs exactly one kind key "
        "(http, tcp, dns, tls, postgres, redis, heartbeat, metric, command)",
        "opsbook.yaml:3:15: checks.db.every: '5x' is not a duration (use e.g. 30s, 5m, 1h)",
    ]


def test_it_reports_a_yaml_syntax_error_at_its_mark() -> None:
    assert errors("service: shop\nchecks:\n  api: {tcp: [\n") == [
        "opsbook.yaml:4:1: invalid YAML: expected the node content, but found '<stream end>'"
    ]


def test_it_reports_a_tab_indent_as_a_syntax_error() -> None:
    assert errors("service: shop\n\tport: 1\n") == [
        "opsbook.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "opsbook.yaml:1:1: the file is empty (it needs at least 'service:')"),
        ("# nothing yet\n", "opsbook.yaml:1:1: the file is empty (it needs at least 'service:')"),
        ("- a\n- b\n", "opsbook.yaml:1:1: expected a mapping of keys, got a list"),
        ("shop\n", "opsbook.yaml:1:1: expected a mapping of keys, got a single value"),
        (
            "service: a\n---\nservice: b\n",
            "opsbook.yaml:2:1: invalid YAML: expected a single document in the stream, "
            "but found another document",
        ),
    ],
)
def test_it_rejects_a_file_that_is_not_one_mapping(text: str, problem: str) -> None:
    assert errors(text) == [problem]


def test_it_reports_a_missing_file_without_a_traceback() -> None:
    with pytest.raises(ConfigError) as info:
        load("nowhere.yaml", environ={})
    assert str(info.value) == "nowhere.yaml: no such file"


def test_it_reports_every_problem_together_in_file_order() -> None:
    assert errors(f"""
        service: shop
        timezone: Nowhere
        severities:
          SEVX: {{respond_within: 1h}}
          SEV1: {{respond_within: soon}}
        checks:
          api:
            {TCP}
            timeout: 1m
          db:
            postgres: {{dsn: "${{DATABASE_URL}}"}}
            evry: 30s
    """) == [
        "opsbook.yaml:2:11: timezone: 'Nowhere' is not a timezone "
        "(use an IANA name such as UTC or Europe/Berlin)",
        "opsbook.yaml:4:3: severities.SEVX: 'SEVX' is not a severity name "
        "(use SEV1..SEV9 or P0..P9)",
        "opsbook.yaml:5:26: severities.SEV1.respond_within: 'soon' is not a duration "
        "(use e.g. 30s, 5m, 1h)",
        "opsbook.yaml:9:14: checks.api.timeout: timeout (1m) must be shorter than every (30s)",
        "opsbook.yaml:11:21: checks.db.postgres.dsn: environment variable DATABASE_URL is not set "
        "(use ${DATABASE_URL:-default} for a default)",
        "opsbook.yaml:12:5: checks.db.evry: unknown key 'evry' (did you mean 'every'?)",
    ]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            "{heartbeat: {period: 1h, schedule: '0 3 * * *'}}",
            "3:8: checks.hb.heartbeat: set exactly one of period or schedule",
        ),
        (
            "{heartbeat: {schedule: '0 3 * *'}}",
            "3:30: checks.hb.heartbeat.schedule: '0 3 * *' is not a cron schedule "
            "(use 5 fields: minute hour day month weekday, e.g. '0 3 * * *')",
        ),
        (
            "{http: {url: 'https://x', method: FETCH}}",
            "3:41: checks.hb.http.method: 'FETCH' is not an HTTP method "
            "(use one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
        ),
        (
            "{tcp: {host: x, port: 1}, slo: {availability: 99.9}}",
            "3:53: checks.hb.slo.availability: '99.9' is not a percentage (use e.g. 99.9%)",
        ),
        (
            "{tcp: {host: x, port: 1}, slo: {p50: 1s, p95: 10ms}}",
            "3:53: checks.hb.slo.p95: p95 (10ms) is below p50 (1s)",
        ),
        (
            "{tcp: {host: x, port: 1}, every: 0s}",
            "3:40: checks.hb.every: every must be longer than 0s",
        ),
        (
            "{http: {url: 'https://x', bearer_token: t, basic_auth: {username: u, password: p}}}",
            "3:50: checks.hb.http.basic_auth: set bearer_token or basic_auth, not both",
        ),
    ],
)
def test_it_validates_check_settings(check: str, message: str) -> None:
    assert errors(f"service: shop\nchecks:\n  hb: {check}\n") == [f"opsbook.yaml:{message}"]


def test_it_rejects_a_check_id_that_is_not_a_slug() -> None:
    assert errors(f"service: shop\nchecks:\n  API Up: {{{TCP}}}\n") == [
        "opsbook.yaml:3:3: checks.API Up: 'API Up' is not a valid id "
        "(use lowercase letters, digits, '-' and '_', starting with a letter or digit)"
    ]


def test_it_rejects_an_unsupported_tag() -> None:
    assert errors("service: shop\nstore: !vault secret/db\n") == [
        "opsbook.yaml:2:8: store: invalid YAML: could not determine a constructor "
        "for the tag '!vault'"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("service: shop\nseverities: {}\n", "opsbook.yaml:2:1: severities: must not be empty"),
        (
            "service: shop\nchecks:\n  a:\n",
            "opsbook.yaml:3:5: checks.a: expected a mapping, got an empty value",
        ),
        (
            "service: shop\nchecks: [a]\n",
            "opsbook.yaml:2:1: checks: expected a mapping, got a list",
        ),
        (
            "service: my shop\n",
            "opsbook.yaml:1:10: service: 'my shop' is not a valid service name "
            "(use letters, digits, '.', '-' and '_')",
        ),
        (
            "service: shop\nchecks:\n  a: {tcp: {host: '', port: 1}}\n",
            "opsbook.yaml:3:19: checks.a.tcp.host: must not be empty",
        ),
        (
            "service: shop\na: &a [*a]\n",
            "opsbook.yaml:2:1: a: unknown key 'a' (expected one of: "
            "service, timezone, server, store, severities, components, checks, "
            "scheduler, retention, pings, alerts, alerting, maintenance, integrations, channels, "
            "oncall, incidents, runbooks, status_page)",
        ),
    ],
)
def test_it_explains_other_shapes(text: str, problem: str) -> None:
    assert errors(text)[0] == problem


def test_two_heartbeats_cannot_share_a_ping_uuid() -> None:
    assert errors(
        """
        service: shop
        checks:
          backup:
            heartbeat: {period: 1d, uuid: 5f0c1a52-3d3e-4b8e-9a57-1c2d3e4f5a6b}
          report:
            heartbeat:
              period: 1d
              uuid: 5f0c1a52-3d3e-4b8e-9a57-1c2d3e4f5a6b
        """
    ) == [
        "opsbook.yaml:8:13: checks.report.heartbeat.uuid: uuid "
        "5f0c1a52-3d3e-4b8e-9a57-1c2d3e4f5a6b is already used by check 'backup'; "
        "each heartbeat needs its own ping URL"
    ]
