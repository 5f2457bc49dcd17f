"""The ``channels`` section: one kind per channel; smtp, apprise and template keys, with the
exact error for each mistake."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsbook.config import loads
from opsbook.config.alerts import MessageTemplate
from opsbook.errors import ConfigError


def _load(channel: str) -> object:
    return loads(f"service: shop\nchannels:\n  ops: {channel}\n", file="opsbook.yaml")


@pytest.mark.parametrize(
    ("channel", "problem"),
    [
        ("{}", "channels.ops: set exactly one of webhook, smtp or apprise (found none)"),
        (
            '{smtp: {to: a@b.c}, apprise: "ntfys://topic"}',
            "channels.ops: set exactly one of webhook, smtp or apprise (found smtp, apprise)",
        ),
        ("{smtp: {}}", "channels.ops.smtp: missing required key 'to'"),
        ("{smtp: {to: []}}", "channels.ops.smtp.to: "),
        (
            '{smtp: {to: "Ops <ops@example.com>"}}',
            "channels.ops.smtp.to: 'Ops <ops@example.com>' is not an email address "
            "(use e.g. oncall@example.com)",
        ),
        (
            '{smtp: {to: a@b.c, from: "x\\r\\nBcc: y@z"}}',
            "channels.ops.smtp.from: 'x\\r\\nBcc: y@z' is not an email address",
        ),
        (
            "{smtp: {to: a@b.c, tls: true, starttls: true}}",
            "channels.ops.smtp: set tls (SMTPS, port 465) or starttls (upgrade on 25/587), "
            "not both",
        ),
        ("{smtp: {to: a@b.c, password: pw}}", "username is required with password"),
        ("{smtp: {to: a@b.c, username: me}}", "password is required with username"),
        ("{smtp: {to: a@b.c, port: 0}}", "channels.ops.smtp.port: "),
        ("{smtp: {to: a@b.c, timeout: 0s}}", "timeout must be longer than 0s"),
        (
            '{apprise: "not a url"}',
            "channels.ops.apprise: not an Apprise URL "
            "(use e.g. slack://TokenA/TokenB/TokenC, ntfys://topic)",
        ),
        (
            "{smtp: {to: a@b.c}, template: fancy}",
            "channels.ops.template: 'fancy' is not a shipped template (use chat, chat-update, "
            "email, status-update, or a mapping with subject and body)",
        ),
        (
            "{smtp: {to: a@b.c}, template: {subject: '{{ vaule }}'}}",
            "channels.ops.template.subject: unknown template variable vaule (use alerts, at, "
            "channel, external_url, group, names, reason, severity, status)",
        ),
        (
            '{webhook: {url: "https://h.example.com/"}, template: email}',
            "channels.ops.template: a webhook sends JSON, not a template",
        ),
        (
            '{webhook: {url: "https://h.example.com/"}, page_template: page}',
            "channels.ops.page_template: a webhook sends JSON, not a template",
        ),
        (
            "{smtp: {to: a@b.c}, incident_template: email}",
            "channels.ops.incident_template: 'email' is not a shipped incident template (use "
            "page, incident-chat, incident-email, status-update-minor, status-update-major, "
            "resolution, affected-users, or a mapping with subject and body)",
        ),
        (
            "{smtp: {to: a@b.c}, page_template: {body: '{{ names }}'}}",
            "channels.ops.page_template.body: unknown template variable names (use ack_link, "
            "alerts, at, channel, diagnosis, event, external_url, incident, kind, level, person, "
            "update)",
        ),
    ],
)
def test_it_refuses(channel: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(channel)
    assert problem in str(caught.value)
    assert str(caught.value).startswith("opsbook.yaml:3:")


def test_the_secrets_never_show_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        _load('{apprise: "tok-91b2c3d4e5f6"}')
    assert "tok-91b2c3d4e5f6" not in str(caught.value)


def test_smtp_defaults() -> None:
    config = loads(
        "service: shop\nchannels:\n  ops: {smtp: {to: ops@example.com}}\n"
        "  tls: {smtp: {to: [a@b.c, d@e.f], tls: true, username: me, password: pw}}\n",
        file="opsbook.yaml",
    )
    smtp = config.channels["ops"].smtp
    assert smtp is not None
    assert (smtp.to, smtp.from_, smtp.host, smtp.effective_port) == (
        ["ops@example.com"],
        "opsbook@localhost",
        "127.0.0.1",
        25,
    )
    assert (smtp.starttls, smtp.tls, smtp.timeout) == (False, False, timedelta(seconds=10))
    assert config.channels["ops"].kind == "smtp"
    tls = config.channels["tls"].smtp
    assert tls is not None and tls.effective_port == 465 and tls.to == ["a@b.c", "d@e.f"]
    assert tls.password is not None and tls.password.reveal() == "pw"


def test_apprise_and_templates_load() -> None:
    config = loads(
        "service: shop\nchannels:\n"
        '  chat: {apprise: "ntfys://ops-alerts", template: chat-update}\n'
        "  mail: {smtp: {to: a@b.c}, template: {body: '{{ names }}'}}\n",
        file="opsbook.yaml",
    )
    chat, mail = config.channels["chat"], config.channels["mail"]
    assert chat.kind == "apprise" and chat.template == "chat-update"
    assert chat.apprise is not None and chat.apprise.reveal() == "ntfys://ops-alerts"
    assert "ntfys" not in repr(chat)
    assert mail.template == MessageTemplate(body="{{ names }}")
