"""The shipped incident templates, rendered for concrete incidents, give the seed runbooks'
wording (Levqor's status page updates, resolution and affected-users email; the shop's chat
update); a channel's own template is used, and falls back to the shipped one when it breaks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from incident_helpers import ANA, PAGE, incident_config, make_incident, page_notice, status_event
from incident_helpers import update_notice as notice_for
from notify_helpers import T0
from structlog.testing import capture_logs

from opsbook.config.templates import INCIDENT_VARIABLES, SHIPPED_INCIDENT_MESSAGES, check_template
from opsbook.errors import InputError
from opsbook.incidents.models import IncidentEvent, IncidentStatus, Recipient
from opsbook.notify import Message, render_incident
from opsbook.notify.incident_render import (
    IncidentView,
    LevelView,
    UpdateView,
    format_span,
    variables,
)
from opsbook.notify.render import shipped

MAIL = {"smtp": {"host": "127.0.0.1", "from": "ops@example.com", "to": ["team@example.com"]}}
CHAT = {"apprise": "json://127.0.0.1:9/hook"}
CONFIG = incident_config({"mail": MAIL, "chat": CHAT})
NOW = T0 + timedelta(minutes=30)

IDENTIFIED = status_event(
    "identified",
    "We've identified an issue affecting payment confirmations. Payments are being processed "
    "successfully, but confirmation emails may be delayed. We're working on a fix.",
    fields={
        "workaround": "Check your Stripe dashboard for payment status.",
        "next_update": "30 minutes",
    },
)
RESOLVED = status_event(
    "resolved",
    "The issue affecting payment confirmations has been resolved. All delayed emails have been "
    "sent. We're monitoring closely to ensure stability.",
    fields={
        "root_cause": "Webhook signature verification misconfiguration",
        "fix": "Updated STRIPE_WEBHOOK_SECRET and restarted services",
    },
    at=T0 + timedelta(minutes=65),
    detail={
        "from": "identified",
        "to": "resolved",
        "fields": {
            "root_cause": "Webhook signature verification misconfiguration",
            "fix": "Updated STRIPE_WEBHOOK_SECRET and restarted services",
        },
    },
)
IDENTIFIED_INCIDENT = make_incident(status=IncidentStatus.IDENTIFIED)
RESOLVED_INCIDENT = make_incident(
    status=IncidentStatus.RESOLVED,
    resolved_at=T0 + timedelta(minutes=65),
    component="payment confirmations",
)


def _render(
    name: str | None, channel: str = "mail", *, event: IncidentEvent = IDENTIFIED
) -> Message:
    notice = notice_for(event, channel, incident=IDENTIFIED_INCIDENT)
    return render_incident(CONFIG, notice, name, now=NOW)


@pytest.mark.parametrize("name", SHIPPED_INCIDENT_MESSAGES)
def test_every_shipped_template_uses_only_the_incident_variables(name: str) -> None:
    assert check_template(shipped(name, "subject"), variables=INCIDENT_VARIABLES) is None
    assert check_template(shipped(name, "body"), variables=INCIDENT_VARIABLES) is None


def test_status_update_minor_is_the_seed_wording() -> None:
    declared = IncidentEvent(
        id=100,
        incident_id=42,
        at=T0,
        kind="declared",
        actor="user:ana",
        message="declared SEV3: API Performance Degradation",
    )
    incident = make_incident(
        title="API Performance Degradation",
        severity="SEV3",
        summary="We're investigating reports of slow API responses. The system remains "
        "operational and all data is safe.",
    )
    notice = notice_for(declared, "mail", incident=incident, at=T0)
    message = render_incident(CONFIG, notice, "status-update-minor", now=NOW)
    assert message == Message(
        subject="[Investigating] API Performance Degradation",
        body="We're investigating reports of slow API responses. The system remains operational "
        "and all data is safe. We'll update this status as we learn more.\n"
        "\n"
        "Posted: 2026-11-22 13:09:10 UTC\n",
    )


def test_status_update_major_is_the_seed_wording() -> None:
    assert _render("status-update-major") == Message(
        subject="[Identified] Payment Processing Delays",
        body="We've identified an issue affecting payment confirmations. Payments are being "
        "processed successfully, but confirmation emails may be delayed. We're working on a fix.\n"
        "\n"
        "Workaround: Check your Stripe dashboard for payment status.\n"
        "\n"
        "Posted: 2026-11-22 13:29:10 UTC\n"
        "Next update: 30 minutes\n",
    )


def test_lines_without_a_value_are_left_out() -> None:
    bare = replace(IDENTIFIED, detail={"from": "investigating", "to": "identified"})
    message = _render("status-update-major", event=bare)
    assert message.body == (
        "We've identified an issue affecting payment confirmations. Payments are being "
        "processed successfully, but confirmation emails may be delayed. We're working on a fix.\n"
        "\n"
        "Posted: 2026-11-22 13:29:10 UTC\n"
    )


def test_the_resolution_announcement_is_the_seed_wording() -> None:
    notice = notice_for(RESOLVED, "mail", incident=RESOLVED_INCIDENT)
    assert render_incident(CONFIG, notice, "resolution", now=NOW) == Message(
        subject="[Resolved] Payment Processing Delays",
        body="The issue affecting payment confirmations has been resolved. All delayed emails "
        "have been sent. We're monitoring closely to ensure stability.\n"
        "\n"
        "Root cause: Webhook signature verification misconfiguration\n"
        "Fix: Updated STRIPE_WEBHOOK_SECRET and restarted services\n"
        "\n"
        "Posted: 2026-11-22 14:14:10 UTC\n",
    )


def test_the_email_to_affected_users_is_the_seed_wording() -> None:
    customer = Recipient(id="c-17", name="Maria", email="maria@example.org")
    notice = notice_for(RESOLVED, "mail", incident=RESOLVED_INCIDENT, person=customer)
    assert render_incident(CONFIG, notice, "affected-users", now=NOW) == Message(
        subject="Brief Service Disruption - Resolved",
        body="Hi Maria,\n"
        "\n"
        "We experienced a brief service disruption on 2026-11-22 from 13:09 to 14:14 UTC that "
        "may have affected payment confirmations.\n"
        "\n"
        "What happened:\n"
        "- Webhook signature verification misconfiguration\n"
        "\n"
        "What we did:\n"
        "- Updated STRIPE_WEBHOOK_SECRET and restarted services\n"
        "\n"
        "What we're doing to prevent this:\n"
        "- We're reviewing this incident in a postmortem and tracking its follow-up actions.\n"
        "\n"
        "We apologize for any inconvenience. If you experienced any issues, please reply to "
        "this email.\n"
        "\n"
        "Best,\n"
        "The team\n",
    )


def test_a_chat_channel_gets_the_seed_chat_update_by_default() -> None:
    fields = {"impact": "Checkout confirmations delayed", "eta": "14:00 UTC"}
    event = replace(
        IDENTIFIED, detail={"from": "investigating", "to": "identified", "fields": fields}
    )
    assert _render(None, "chat", event=event) == Message(
        subject="🚨 INCIDENT: Payment Processing Delays",
        body="Severity: SEV1\n"
        "Status: Identified\n"
        "Impact: Checkout confirmations delayed\n"
        "ETA: 14:00 UTC\n"
        "Updates: We've identified an issue affecting payment confirmations. Payments are being "
        "processed successfully, but confirmation emails may be delayed. We're working on a fix.\n"
        "https://ops.example.com/incidents/42\n"
        "\n"
        "Last updated: 2026-11-22 13:29:10 UTC\n",
    )


def test_an_email_channel_gets_the_plain_email_update_by_default() -> None:
    assert _render(None, "mail") == Message(
        subject="[Identified] SEV1 Payment Processing Delays (incident 42)",
        body="Incident 42: Payment Processing Delays\n"
        "\n"
        "Severity: SEV1 (Customer-facing outage)\n"
        "Status: Identified\n"
        "Impact: major outage\n"
        "Workaround: Check your Stripe dashboard for payment status.\n"
        "Next update: 30 minutes\n"
        "\n"
        "We've identified an issue affecting payment confirmations. Payments are being "
        "processed successfully, but confirmation emails may be delayed. We're working on a fix.\n"
        "\n"
        "Declared: 2026-11-22 13:09:10 UTC\n"
        "Open for: 30m\n"
        "Commander: ana\n"
        "Details: https://ops.example.com/incidents/42\n"
        "\n"
        "Sent by opsbook to mail at 2026-11-22 13:29:10 UTC.\n",
    )


def test_a_page_says_who_what_which_level_and_how_to_acknowledge() -> None:
    link = "https://ops.example.com/ack/TOKEN"
    message = render_incident(
        CONFIG, page_notice("mail"), now=T0 + timedelta(minutes=5), ack_link=link
    )
    assert message == Message(
        subject="PAGE SEV1: Payment Processing Delays (incident 42)",
        body="Ana Lima: you are paged for incident 42, SEV1 (major outage).\n"
        "\n"
        "Payment Processing Delays\n"
        "Payment confirmation emails are delayed.\n"
        "\n"
        "Status: Investigating for 5m (declared 2026-11-22 13:09:10 UTC)\n"
        "Respond within: 15m\n"
        "Escalation: level 1 (schedule:primary)\n"
        "Commander: ana\n"
        "Alert: payment-webhook-errors firing: stripe webhook 5xx rate 12%\n"
        "\n"
        "Acknowledge: opsbook incident ack 42\n"
        "or in one click: https://ops.example.com/ack/TOKEN\n"
        "Details: https://ops.example.com/incidents/42\n",
    )


def test_a_page_without_a_public_url_only_names_the_command() -> None:
    config = incident_config({"mail": MAIL}, public_url=None)
    notice = page_notice("mail", page=replace(PAGE, round=2))
    body = render_incident(config, notice, now=T0 + timedelta(minutes=5)).body
    assert "Escalation: level 1, repeat 2 (schedule:primary)\n" in body
    assert body.endswith("\nAcknowledge: opsbook incident ack 42\n")
    assert "http" not in body


def test_a_channels_own_template_is_used_and_a_missing_part_is_the_default() -> None:
    config = incident_config(
        {"mail": {**MAIL, "page_template": {"subject": "{{ person.name }}: {{ level.via }}"}}}
    )
    message = render_incident(config, page_notice("mail"), now=T0)
    assert message.subject == "Ana Lima: schedule:primary"
    assert message.body.startswith("Ana Lima: you are paged for incident 42")


def test_a_channel_may_name_a_shipped_template() -> None:
    config = incident_config({"mail": {**MAIL, "incident_template": "status-update-major"}})
    notice = notice_for(IDENTIFIED, "mail", incident=IDENTIFIED_INCIDENT)
    assert render_incident(config, notice, now=NOW) == _render("status-update-major")


def test_a_broken_own_template_falls_back_to_the_shipped_one_with_a_log_line() -> None:
    own = {"subject": "{{ alerts[9].name }}", "body": "{{ incident.title }}"}
    config = incident_config({"mail": {**MAIL, "incident_template": own}})
    notice = notice_for(IDENTIFIED, "mail", incident=IDENTIFIED_INCIDENT)
    with capture_logs() as logs:
        message = render_incident(config, notice, now=NOW)
    assert message == _render(None, "mail")
    [line] = [entry for entry in logs if entry["event"] == "incident_template_failed"]
    assert line["channel"] == "mail"
    assert "the subject template failed: UndefinedError" in line["error"]


def test_the_update_is_the_latest_status_event_when_the_notice_is_about_another_event() -> None:
    severity = IncidentEvent(
        id=102,
        incident_id=42,
        at=NOW,
        kind="severity",
        actor="user:ana",
        message="severity SEV2 -> SEV1",
    )
    notice = notice_for(severity, "mail", incident=IDENTIFIED_INCIDENT)
    values = variables(CONFIG, notice, now=NOW, latest=IDENTIFIED)
    update = values["update"]
    assert isinstance(update, UpdateView)
    assert update.message.startswith("We've identified an issue")
    assert update.workaround == "Check your Stripe dashboard for payment status."
    assert update.eta == ""
    body = render_incident(CONFIG, notice, "incident-chat", now=NOW, latest=IDENTIFIED).body
    assert "Updates: severity SEV2 -> SEV1\n" in body


def test_the_incident_variables() -> None:
    resolved = make_incident(
        status=IncidentStatus.RESOLVED,
        acknowledged_at=T0 + timedelta(minutes=3),
        resolved_at=T0 + timedelta(minutes=65),
        comms="bo",
    )
    notice = page_notice("mail", incident=resolved)
    values = variables(CONFIG, notice, now=NOW)
    assert set(values) == INCIDENT_VARIABLES
    incident = values["incident"]
    assert isinstance(incident, IncidentView)
    assert (incident.status, incident.duration, incident.respond_within) == (
        "Resolved",
        "1h 5m",
        "15m",
    )
    assert incident.acknowledged_at == "2026-11-22 13:12:10 UTC"
    assert (incident.impact, incident.description, incident.comms) == (
        "major outage",
        "Customer-facing outage",
        "bo",
    )
    assert values["person"] == ANA
    assert values["level"] == LevelView(number=1, round=0, via="schedule:primary")
    assert values["event"] is None
    assert values["external_url"] == "https://ops.example.com"


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=5, seconds=59), "1h 5m"),
        (timedelta(days=2, hours=3), "2d 3h"),
        (timedelta(seconds=-3), "0s"),
    ],
)
def test_durations_read_like_people_write_them(span: timedelta, text: str) -> None:
    assert format_span(span) == text


def test_an_unknown_template_name_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError) as caught:
        _render("status-update")
    assert caught.value.field == "template"
    assert str(caught.value) == (
        "template: 'status-update' is not a shipped incident template (use page, incident-chat, "
        "incident-email, status-update-minor, status-update-major, resolution, affected-users)"
    )
