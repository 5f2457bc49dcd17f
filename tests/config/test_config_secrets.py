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


TOKEN_PATH = "T0ABC/B0DEF/XyZsEcReTpAtH"


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (  # issue 10: a URL without a scheme was echoed whole
            f"webhook: {{url: 'hooks.slack.com/services/{TOKEN_PATH}'}}",
            "channels.c.webhook.url: not an http:// or https:// URL (write it with its scheme, "
            "e.g. https://hooks.example/...; the value is not shown: it may hold a token)",
        ),
        (
            f"webhook: {{url: 'ftp://hooks.example/services/{TOKEN_PATH}'}}",
            "channels.c.webhook.url: 'ftp://hooks.example/...' is not an http:// or https:// "
            "URL (the rest is not shown: it may hold a token)",
        ),
        (
            "webhook: {url: '${HOOK}'}",
            "channels.c.webhook.url: not an http:// or https:// URL (write it with its scheme, "
            "e.g. https://hooks.example/...; the value is not shown: it may hold a token)",
        ),
        (
            f"webhook: 'hooks.slack.com/services/{TOKEN_PATH}'",
            "channels.c.webhook: expected a mapping, got a value that is hidden here",
        ),
        (
            f"'hooks.slack.com/services/{TOKEN_PATH}'",
            "channels.c: expected a mapping, got a value that is hidden here",
        ),
        (
            f"{{webhook: {{url: 'https://hooks.example/{TOKEN_PATH}', headers: {{X: [a]}}}}}}",
            "channels.c.webhook.headers.X: expected a string, got a list",
        ),
        (
            f"apprise: 'slack/{TOKEN_PATH}'",
            "channels.c.apprise: not an Apprise URL "
            "(use e.g. slack://TokenA/TokenB/TokenC, ntfys://topic)",
        ),
        (
            f"smtp: {{to: ops@x.example, username: u, password: [{TOKEN_PATH}]}}",
            "channels.c.smtp.password: expected a string, got a list",
        ),
        (
            f"smtp: {{to: ops@x.example, host: 'smtp://u:{TOKEN_PATH}@mail', port: x}}",
            "channels.c.smtp.port: expected an integer, got 'x'",
        ),
    ],
)
def test_channel_urls_are_never_echoed(channel: str, expected: str) -> None:
    body = channel if channel.startswith(("{", "'")) else f"{{{channel}}}"
    text = f"service: s\nchannels:\n  c: {body}\n"
    environ = {"HOOK": f"hooks.slack.com/services/{TOKEN_PATH}"}
    with pytest.raises(ConfigError) as info:
        loads(text, file="f.yaml", environ=environ)
    messages = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert messages == [expected]
    for secret in (TOKEN_PATH, "XyZsEcReT", *TOKEN_PATH.split("/")):
        assert secret not in str(info.value)


def test_a_channel_url_pasted_where_its_name_belongs_is_not_echoed() -> None:
    text = (
        "service: s\n"
        "channels:\n  slack: {webhook: {url: 'https://hooks.example/x'}}\n"
        f"alerting:\n  notify: ['https://hooks.slack.com/services/{TOKEN_PATH}']\n"
        "checks:\n  api: {http: {url: 'https://api.example/'}}\n"
        f"alerts:\n  api-down: {{when: api down, notify: ['hooks.example/{TOKEN_PATH}']}}\n"
    )
    with pytest.raises(ConfigError) as info:
        loads(text, file="f.yaml", environ={})
    message = (
        "is a URL, not an id (name an entry instead, e.g. a channel defined under channels; "
        "the value is not shown: it may hold a token)"
    )
    assert [f"{p.path}: {p.message}" for p in info.value.problems] == [
        f"alerting.notify[0]: {message}",
        f"alerts.api-down.notify[0]: {message}",
    ]


def test_a_channel_url_is_masked_in_whatever_message_repeats_it() -> None:
    url = f"https://hooks.example/{TOKEN_PATH}"
    text = f"service: s\ntimezone: '{url}'\nchannels:\n  slack: {{webhook: {{url: '{url}'}}}}\n"
    with pytest.raises(ConfigError) as info:
        loads(text, file="f.yaml", environ={})
    assert [f"{p.path}: {p.message}" for p in info.value.problems] == [
        "timezone: '***' is not a timezone (use an IANA name such as UTC or Europe/Berlin)"
    ]
