"""What the shipped incident messages say in the cases the seed samples do not show: a draft
with no channel (``opsbook incident message``), the affected-users email while the incident is
still open, and components named as the config names them ("Website", not ``web``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from incident_helpers import ANA, incident_config, make_incident, status_event
from incident_helpers import update_notice as notice_for
from notify_helpers import T0

from opsbook.config import Component
from opsbook.incidents.models import IncidentStatus, Recipient
from opsbook.notify import Message, render_incident
from opsbook.notify.incident_render import component_name, variables

MAIL = {"smtp": {"host": "127.0.0.1", "from": "ops@example.com", "to": ["team@example.com"]}}
CONFIG = incident_config({"mail": MAIL}).model_copy(
    update={
        "components": {"web": Component(name="Website"), "payments": Component(name="Payments")}
    }
)
NOW = T0 + timedelta(minutes=30)
MARIA = Recipient(id="c-17", name="Maria", email="maria@example.org")
IDENTIFIED = status_event(
    "identified",
    "The connection pool is exhausted; we're restarting the workers.",
    fields={"workaround": "Retry the payment in a few minutes.", "eta": "30 minutes"},
)
OPEN = make_incident(status=IncidentStatus.IDENTIFIED, component="web", summary="")


def test_a_draft_for_no_channel_does_not_name_an_empty_recipient() -> None:
    # `opsbook incident message 42` drafts for no channel: "Sent by opsbook to  at" was the bug.
    notice = notice_for(IDENTIFIED, "", incident=OPEN)
    body = render_incident(CONFIG, notice, now=NOW).body
    assert body.endswith("\n\nSent by opsbook at 2026-11-22 13:29:10 UTC.\n")
    assert " to  " not in body


def test_the_footer_names_the_channel_or_the_person() -> None:
    to_channel = render_incident(CONFIG, notice_for(IDENTIFIED, "mail", incident=OPEN), now=NOW)
    assert to_channel.body.endswith("\nSent by opsbook to mail at 2026-11-22 13:29:10 UTC.\n")
    to_ana = notice_for(IDENTIFIED, "mail", incident=OPEN, person=ANA)
    assert render_incident(CONFIG, to_ana, "incident-email", now=NOW).body.endswith(
        "\nSent by opsbook to Ana Lima at 2026-11-22 13:29:10 UTC.\n"
    )


def test_the_affected_users_email_of_an_open_incident_does_not_say_it_is_restored() -> None:
    notice = notice_for(IDENTIFIED, "mail", incident=OPEN, person=MARIA)
    assert render_incident(CONFIG, notice, "affected-users", now=NOW) == Message(
        subject="Service Disruption - Identified",
        body="Hi Maria,\n"
        "\n"
        "We're experiencing a service disruption, since 2026-11-22 13:09 UTC, that may affect "
        "Website.\n"
        "\n"
        "What's happening:\n"
        "- Payment Processing Delays\n"
        "\n"
        "What we're doing:\n"
        "- The connection pool is exhausted; we're restarting the workers.\n"
        "\n"
        "What you can do meanwhile:\n"
        "- Retry the payment in a few minutes.\n"
        "\n"
        "We expect to restore the service by 30 minutes.\n"
        "\n"
        "We'll write again when the service is restored. We apologize for the inconvenience.\n"
        "\n"
        "Best,\n"
        "The team\n",
    )


def test_the_affected_users_email_of_an_open_incident_without_an_update() -> None:
    investigating = make_incident(status=IncidentStatus.INVESTIGATING, component="web")
    declared = status_event("investigating", "", fields={})
    notice = notice_for(declared, "mail", incident=investigating)
    body = render_incident(CONFIG, notice, "affected-users", now=NOW).body
    assert "restored the service" not in body
    assert (
        "What's happening:\n"
        "- Payment confirmation emails are delayed.\n"
        "\n"
        "What we're doing:\n"
        "- We're working to restore the service.\n"
        "\n"
        "We'll write again when the service is restored."
    ) in body
    assert body.startswith("Hi there,\n")


def test_the_affected_users_email_of_a_resolved_incident_names_the_component() -> None:
    resolved = make_incident(
        status=IncidentStatus.RESOLVED, resolved_at=T0 + timedelta(minutes=65), component="web"
    )
    done = status_event("resolved", "", fields={}, at=T0 + timedelta(minutes=65))
    notice = notice_for(done, "mail", incident=resolved, person=MARIA)
    message = render_incident(CONFIG, notice, "affected-users", now=NOW)
    assert message.subject == "Brief Service Disruption - Resolved"
    assert (
        "We experienced a brief service disruption on 2026-11-22 from 13:09 to 14:14 UTC that "
        "may have affected Website.\n"
        "\n"
        "What happened:\n"
        "- Payment confirmation emails are delayed.\n"
        "\n"
        "What we did:\n"
        "- We restored the service.\n"
    ) in message.body


@pytest.mark.parametrize(
    ("component", "name"),
    [("web", "Website"), ("payments", "Payments"), ("gone", "gone"), (None, ""), ("", "")],
)
def test_templates_see_the_components_configured_name(component: str | None, name: str) -> None:
    assert component_name(CONFIG, component) == name
    notice = notice_for(IDENTIFIED, "mail", incident=make_incident(component=component))
    incident = variables(CONFIG, notice, now=NOW)["incident"]
    assert (incident.component, incident.component_id) == (name, component or "")  # type: ignore[attr-defined]
