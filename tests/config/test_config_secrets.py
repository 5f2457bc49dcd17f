"""A known secret fed in through DSNs, tokens and the environment never shows (STYLE.md R18)."""

from __future__ import annotations

import pytest

from opsbook.config import loads
from opsbook.errors import ConfigError

SECRET = "s3cr3t-Tok3n-xyz"
ENV = {"TOKEN": SECRET, "REDIS_URL": f"redis://:{SECRET}@cache:6379/0"}

VALID = f"""
service: shop
store: {{url: "postgresql://ops:{SECRET}@db/ops"}}
checks:
  api:
    http:
      url: "https://api.example/health"
      bearer_token: "{SECRET}"
  auth:
    http:
      url: "https://api.example/login"
      basic_auth: {{username: ops, password: "${{TOKEN}}"}}
  db: {{postgres: {{dsn: "postgresql://app:{SECRET}@db:5432/app"}}}}
  kw: {{postgres: {{dsn: "host=db user=app password={SECRET}"}}}}
  cache: {{redis: {{url: "${{REDIS_URL}}"}}}}
"""


def test_a_valid_config_never_shows_its_secrets() -> None:
    config = loads(VALID, environ=ENV)
    assert config.checks["db"].postgres is not None
    assert config.checks["db"].postgres.dsn.reveal() == f"postgresql://app:{SECRET}@db:5432/app"
    shown = [
        repr(config),
        str(config),
        config.model_dump_json(),
        str(config.model_dump()),
        *(spec.target_display() for spec in config.checks.values()),
    ]
    for text in shown:
        assert SECRET not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"service: s\nchecks:\n  db: {{postgres: {{dsn: {{url: '{SECRET}'}}}}}}\n",
            "checks.db.postgres.dsn: expected a string, got a mapping",
        ),
        (
            "service: s\nchecks:\n  db: {postgres: {dsn: 12345678}}\n",
            "checks.db.postgres.dsn: expected a string, got a number",
        ),
        (
            f"service: s\nchecks:\n  a: {{http: {{url: 'https://x', bearer_token: [{SECRET}]}}}}\n",
            "checks.a.http.bearer_token: expected a string, got a list",
        ),
        (
            "service: s\nserver: {port: '${TOKEN}'}\n",
            "server.port: expected an integer, got '***'",
        ),
        (
            f"service: s\nserver: {{public_url: 'ftp://u:{SECRET}@x'}}\n",
            "server.public_url: 'ftp://u:***@x' is not an http:// or https:// URL",
        ),
        (
            "service: s\nchecks:\n  a: {http: {url: 'gopher://h/?token=${TOKEN}'}}\n",
            "checks.a.http.url: 'gopher://h/?token=***' is not an http:// or https:// URL",
        ),
        (
            "service: s\ntimezone: ${TOKEN}\n",
            "timezone: '***' is not a timezone (use an IANA name such as UTC or Europe/Berlin)",
        ),
    ],
)
def test_errors_never_echo_a_secret(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads(text, file="f.yaml", environ=ENV)
    messages = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert messages == [expected]
    assert SECRET not in str(info.value)
