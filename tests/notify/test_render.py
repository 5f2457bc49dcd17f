"""Message templates: the shipped defaults' exact text, named templates, a channel's own
template, a template that fails while rendering, and the package data."""

from __future__ import annotations

from typing import Any

import pytest
from notify_helpers import T0, make_alert, make_notice
from structlog.testing import capture_logs

from opsbook.alerts.models import AlertStatus
from opsbook.config import Config, loads
from opsbook.config.templates import MESSAGE_VARIABLES, SHIPPED_MESSAGES, check_template
from opsbook.errors import ConfigError
from opsbook.notify import OutboxEmitter, render

RESOLVED = make_notice(
    make_alert(status=AlertStatus.RESOLVED, resolved_at=T0),
    status="resolved",
    reason="all alerts resolved",
)
TWO = make_notice(
    make_alert(),
    make_alert(
        "db-slow",
        alert_id=2,
        labels={"severity": "SEV2"},
        severity="SEV2",
        annotations={"summary": "db p95 is 2.3s"},
        values={},
    ),
)


def _message(name: str | None, notice: Any = None, kind: str = "smtp") -> render.Message:
    values = render.variables(notice or make_notice(), severities=["SEV1", "SEV2"])
    return render.render(render.sources(kind, name), values)


def test_the_default_email_for_two_alerts() -> None:
    message = _message(None, TWO)
    assert message.subject == "[FIRING:2] SEV1 api-down, db-slow"
    assert message.body == (
        "FIRING: api-down, db-slow (SEV1), first notification.\n"
        "\n"
        "FIRING SEV1 api-down\n"
        "  api down: [STATUS] (500) == 200\n"
        "  values: status=500, latency_ms=12.5\n"
        "  since: 2026-11-22 13:09:10 UTC\n"
        "  runbook: site-down\n"
        "  https://ops.example.com/alerts/1\n"
        "\n"
        "FIRING SEV2 db-slow\n"
        "  db p95 is 2.3s\n"
        "  since: 2026-11-22 13:09:10 UTC\n"
        "  https://ops.example.com/alerts/2\n"
        "\n"
        "Sent by opsbook to oncall at 2026-11-22 13:09:10 UTC.\n"
    )


def test_the_default_email_when_resolved() -> None:
    message = _message(None, RESOLVED)
    assert message.subject == "[RESOLVED] SEV1 api-down"
    assert "  since: 2026-11-22 13:09:10 UTC, resolved at 2026-11-22 13:09:10 UTC\n" in (
        message.body
    )
    assert message.body.startswith("RESOLVED: api-down (SEV1), all alerts resolved.\n")


def test_the_default_chat_message_without_a_public_url() -> None:
    message = _message(None, make_notice(external_url=None), kind="apprise")
    assert message.subject == "[FIRING] SEV1 api-down"
    assert message.body == (
        "api-down FIRING: api down: [STATUS] (500) == 200\n"
        "values: status=500, latency_ms=12.5\n"
        "runbook: site-down\n"
    )


@pytest.mark.parametrize(
    ("notice", "subject", "body"),
    [
        (
            TWO,
            "[Investigating] api-down, db-slow",
            "We're investigating api down: [STATUS] (500) == 200; db p95 is 2.3s. "
            "We'll update this status as we learn more.\n\nPosted: 2026-11-22 13:09:10 UTC\n",
        ),
        (
            RESOLVED,
            "[Resolved] api-down",
            "The issue affecting api-down has been resolved. We're monitoring closely to "
            "ensure stability.\n\nPosted: 2026-11-22 13:09:10 UTC\n",
        ),
    ],
)
def test_the_status_update_template(notice: Any, subject: str, body: str) -> None:
    assert _message("status-update", notice) == render.Message(subject, body)


def test_the_chat_update_template_lists_each_runbook_once() -> None:
    message = _message("chat-update", TWO)
    assert message == render.Message(
        "SEV1 FIRING: api-down, db-slow",
        "Severity: SEV1\n"
        "Status: FIRING\n"
        "Impact: api down: [STATUS] (500) == 200; db p95 is 2.3s\n"
        "Runbook: site-down\n"
        "Link: https://ops.example.com/alerts/1\n"
        "Link: https://ops.example.com/alerts/2\n",
    )


def _config(**channel: Any) -> Config:
    smtp = {"to": "oncall@example.com"}
    return Config.model_validate(
        {"service": "shop", "channels": {"oncall": {"smtp": smtp, **channel}}}
    )


def test_a_channels_own_template_replaces_the_default() -> None:
    config = _config(
        template={
            "subject": "{{ severity }} {{ names | upper }}",
            "body": "{% for a in alerts %}{{ a.name }}={{ a.values.status }}\n{% endfor %}",
        }
    )
    payload = OutboxEmitter(config).payload(config.channels["oncall"], make_notice())
    assert payload == {
        "subject": "SEV1 API-DOWN",
        "body": "api-down=500\n",
        "to": ["oncall@example.com"],
    }


def test_a_part_left_out_is_the_default() -> None:
    config = _config(template={"subject": "alert: {{ names }}"})
    payload = OutboxEmitter(config).payload(config.channels["oncall"], make_notice())
    assert payload["subject"] == "alert: api-down"
    assert payload["body"] == _message(None).body


def test_a_template_failing_while_rendering_falls_back_to_the_default() -> None:
    config = _config(template={"subject": "{{ alerts[3].name }}"})
    with capture_logs() as logs:
        payload = OutboxEmitter(config).payload(config.channels["oncall"], make_notice())
    assert payload["subject"] == "[FIRING:1] SEV1 api-down"
    [event] = [e for e in logs if e["event"] == "notification_template_failed"]
    assert event["error"].startswith("the subject template failed: UndefinedError")


def test_a_broken_template_is_refused_at_load_with_the_line() -> None:
    text = """service: shop
channels:
  oncall:
    smtp: {to: oncall@example.com}
    template:
      subject: "{{ names }}"
      body: "{% for a in alerts %}{{ a.name }}"
"""
    with pytest.raises(ConfigError) as caught:
        loads(text, file="opsbook.yaml")
    assert str(caught.value) == (
        "opsbook.yaml:7:13: channels.oncall.template.body: template error on line 1 of the "
        "template: Unexpected end of template. Jinja was looking for the following tags: "
        "'endfor' or 'else'. The innermost block that needs to be closed is 'for'."
    )


@pytest.mark.parametrize("name", SHIPPED_MESSAGES)
@pytest.mark.parametrize("part", ["subject", "body"])
def test_each_shipped_template_is_package_data_and_valid(name: str, part: render.Part) -> None:
    text = render.shipped(name, part)
    assert check_template(text, variables=MESSAGE_VARIABLES) is None
