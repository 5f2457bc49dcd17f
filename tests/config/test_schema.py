"""A valid file loads into frozen, typed values with the documented defaults."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest

from opsbook.config import CheckSpec, Config, load, loads
from opsbook.config.checks import HeartbeatSpec, HttpSpec, TcpSpec
from opsbook.redaction import Secret

FULL = """
service: levqor
timezone: Europe/Berlin
server: {host: 0.0.0.0, port: 9000, public_url: "https://status.levqor.example"}
store: {url: "${DATABASE_URL:-sqlite:///ops.db}"}
severities:
  P0: {respond_within: 15m, page: true, status_impact: major_outage, description: all down}
  P1: {respond_within: 1h}
components:
  api: {name: API, group: Core, checks: [api-uptime, db]}
checks:
  api-uptime:
    http:
      url: "https://levqor.example/ops/uptime"
      method: post
      headers: {Accept: application/json}
      body: "{}"
      bearer_token: "${API_TOKEN}"
    every: 30s
    timeout: 5s
    retry_every: 5s
    conditions: ["[STATUS] == 200", "[RESPONSE_TIME] < 500"]
    degraded_when: ["[RESPONSE_TIME] > 300"]
    slo: {p50: 10ms, p95: 50ms, p99: 100ms, availability: 99.9%}
    labels: {team: core}
  db: {postgres: {dsn: "postgresql://app:pw@db:5432/app"}}
  cache: {redis: {url: "redis://cache:6379/0", queues: [default, mail]}}
  port: {tcp: {host: db, port: 5432}, every: 1m}
  nightly-backup: {heartbeat: {schedule: "0 3 * * *", grace: 30m, timezone: UTC}}
  worker: {heartbeat: {period: 5m}}
"""


def test_it_loads_every_documented_key() -> None:
    config = loads(FULL, environ={"API_TOKEN": "tok-1234"})
    assert (config.service, config.timezone) == ("levqor", "Europe/Berlin")
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.store.url == Secret("sqlite:///ops.db")
    assert config.severities["P0"].status_impact == "major_outage"
    assert config.severities["P1"].respond_within == timedelta(hours=1)
    assert config.components["api"].checks == ["api-uptime", "db"]
    api = config.checks["api-uptime"]
    assert isinstance(api.http, HttpSpec)
    assert (api.kind, api.http.method, api.http.bearer_token) == (
        "http",
        "POST",
        Secret("tok-1234"),
    )
    assert (api.every, api.timeout, api.retry_every) == (
        timedelta(seconds=30),
        timedelta(seconds=5),
        timedelta(seconds=5),
    )
    assert api.slo.p95 == timedelta(milliseconds=50)
    assert api.slo.availability == 99.9
    assert api.conditions == ["[STATUS] == 200", "[RESPONSE_TIME] < 500"]
    assert {c: s.kind for c, s in config.checks.items()} == {
        "api-uptime": "http",
        "db": "postgres",
        "cache": "redis",
        "port": "tcp",
        "nightly-backup": "heartbeat",
        "worker": "heartbeat",
    }


def test_it_fills_in_defaults() -> None:
    config = loads("service: shop\nchecks:\n  db: {tcp: {host: db, port: 5432}}\n", environ={})
    assert config.timezone == "UTC"
    assert (config.server.host, config.server.port, config.server.public_url) == (
        "127.0.0.1",
        8080,
        None,
    )
    assert config.store.url is None
    assert config.components == {}
    check = config.checks["db"]
    assert (check.every, check.timeout, check.retry_every) == (
        timedelta(seconds=30),
        timedelta(seconds=10),
        None,
    )
    assert (check.conditions, check.labels, check.slo.p95) == ([], {}, None)


def test_it_defaults_to_the_seed_severities() -> None:
    severities = loads("service: shop\n", environ={}).severities
    assert {n: (s.respond_within, s.page, s.status_impact) for n, s in severities.items()} == {
        "SEV1": (timedelta(minutes=15), True, "major_outage"),
        "SEV2": (timedelta(hours=1), True, "partial_outage"),
        "SEV3": (timedelta(hours=4), False, "none"),
        "SEV4": (timedelta(days=1), False, "none"),
    }


def test_it_defaults_http_settings() -> None:
    spec = loads("service: s\nchecks:\n  a: {http: {url: 'http://x'}}\n", environ={}).checks["a"]
    assert spec.http == HttpSpec(url="http://x")
    assert spec.http is not None
    assert (spec.http.method, spec.http.follow_redirects, spec.http.verify_tls) == (
        "GET",
        True,
        True,
    )


def test_heartbeat_grace_defaults_to_an_hour() -> None:
    spec = loads("service: s\nchecks:\n  a: {heartbeat: {period: 1d}}\n", environ={}).checks["a"]
    assert spec.heartbeat == HeartbeatSpec(period=timedelta(days=1), grace=timedelta(hours=1))


def test_it_interpolates_defaults_and_keeps_escaped_references() -> None:
    config = loads(
        "service: ${NAME:-shop}\nchecks:\n  a: {http: {url: 'https://${HOST}/$${literal}'}}\n",
        environ={"HOST": "example.org"},
    )
    assert config.service == "shop"
    assert config.checks["a"].http == HttpSpec(url="https://example.org/${literal}")


def test_it_reads_os_environ_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOOK_TEST_SERVICE", "from-env")
    assert loads("service: ${OPSBOOK_TEST_SERVICE}\n").service == "from-env"


def test_it_accepts_yaml_anchors_under_x_keys_and_merges() -> None:
    config = loads(
        textwrap.dedent("""
            service: shop
            x-fast: &fast {every: 10s, timeout: 2s}
            checks:
              a: {<<: *fast, tcp: {host: a, port: 1}}
              b: {<<: *fast, tcp: {host: b, port: 1}, every: 20s}
        """),
        environ={},
    )
    assert config.checks["a"].every == timedelta(seconds=10)
    assert config.checks["b"].every == timedelta(seconds=20)
    assert config.checks["b"].timeout == timedelta(seconds=2)


def test_it_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text("service: shop\n")
    assert load(path, environ={}) == load(str(path), environ={})


def test_config_is_frozen() -> None:
    config = loads("service: shop\n", environ={})
    with pytest.raises(pydantic.ValidationError):
        config.service = "other"  # type: ignore[misc]


def test_python_callers_get_the_same_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown check 'nope'"):
        Config(service="s", components={"api": {"name": "API", "checks": ["nope"]}})  # type: ignore[dict-item]
    with pytest.raises(pydantic.ValidationError, match="exactly one kind key"):
        CheckSpec()


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        (
            CheckSpec(http=HttpSpec(url="https://x.example/up?token=abc")),
            "https://x.example/up?token=***",
        ),
        (
            CheckSpec(http=HttpSpec(url="https://x.example/", method="HEAD")),
            "HEAD https://x.example/",
        ),
        (CheckSpec(tcp=TcpSpec(host="db", port=5432)), "db:5432"),
        (
            CheckSpec.model_validate({"postgres": {"dsn": "postgresql://app:pw@db/app"}}),
            "postgresql://app:***@db/app",
        ),
        (
            CheckSpec.model_validate({"redis": {"url": "redis://:pw@cache:6379/0"}}),
            "redis://***@cache:6379/0",
        ),
        (
            CheckSpec(heartbeat=HeartbeatSpec(schedule="0 3 * * *", timezone="Europe/Berlin")),
            "cron '0 3 * * *' Europe/Berlin, grace 1h",
        ),
        (
            CheckSpec(heartbeat=HeartbeatSpec(period=timedelta(minutes=5))),
            "ping every 5m, grace 1h",
        ),
    ],
)
def test_it_shows_each_target_without_credentials(spec: CheckSpec, target: str) -> None:
    assert spec.target_display() == target


def test_a_dump_validates_back_to_the_same_config() -> None:
    config = loads(FULL, environ={"API_TOKEN": "tok-1234"})
    again = Config.model_validate_json(config.model_dump_json())
    assert again.checks["api-uptime"].slo == config.checks["api-uptime"].slo
    assert again.checks["port"] == config.checks["port"]
