"""The whole incident path with real processes: the demo service goes down, ``opsbook serve``
fires ``site-down``, declares an incident and pages the primary on-call (a signed webhook with
the exact documented body, and an email through a real SMTP server); nobody acknowledges, so
level 2 is paged; an acknowledgement from the CLI stops the escalation; status updates reach the
chat channel once each; and the postmortem's timeline is the real one, with its real times."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from paging import (
    ANA,
    L1_WAIT_S,
    SECRET,
    SENIOR,
    TITLE,
    Channels,
    alerts_json,
    escalation_id,
    events,
    incident,
    incident_json,
    links,
    page_payload,
    paging_config,
    rfc3339,
    wait_for_event,
    wait_for_incident,
)
from peers import (
    Peer,
    demo_service,
    free_port,
    opsbook_cli,
    opsbook_serve,
    stage_faults,
    wait_until,
)
from sinks import Mailbox, WebhookSink, smtp_server, webhook_sink

from serving import http_json

pytestmark = pytest.mark.slow

AUTHOR = "ops-e2e"


def _cli(opsbook_home: Path, database_url: str, opsbook: Peer, *args: str) -> str:
    # As AUTHOR: the token's person for a CLI that goes through the API, $USER for one that
    # writes the store itself.
    done = opsbook_cli(
        opsbook_home / "opsbook.yaml",
        *args,
        database_url=database_url,
        server=opsbook,
        user=AUTHOR,
    )
    assert done.returncode == 0, f"opsbook {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _post_update(opsbook: Peer, incident_id: int, status: str, message: str) -> None:
    answer = http_json(
        "POST",
        f"{opsbook.url}/api/v1/incidents/{incident_id}/updates",
        {"status": status, "message": message},
        token=opsbook.token,
    )
    assert answer[0] == 200, answer


def _wait_for_chat(sink: WebhookSink, opsbook: Peer, count: int) -> None:
    wait_until(
        lambda: len(sink.received("/chat")) >= count,
        what=f"{count} chat messages",
        detail=opsbook.log_tail,
    )


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"].replace("Z", "+00:00"))


def _line(event: dict[str, Any]) -> str:
    """The event as the shipped postmortem template lists it (same day: ``HH:MM``, UTC)."""
    return f"- {_at(event).astimezone(UTC):%H:%M} - {event['message']} ({event['actor']})"


def test_an_outage_pages_escalates_and_ends_in_a_postmortem(tmp_path: Path) -> None:
    smtp_port = free_port()
    with (
        webhook_sink() as sink,
        smtp_server(smtp_port) as mailbox,
        demo_service(tmp_path) as demo,
    ):
        channels = Channels(pager=sink.url("/pager"), chat=sink.url("/chat"), smtp_port=smtp_port)
        database_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
        with opsbook_serve(
            tmp_path,
            config=paging_config(demo.url, channels),
            database_url=database_url,
            person=AUTHOR,  # who acts through the API: the token's person
        ) as opsbook:
            _run_the_outage(tmp_path / "opsbook", database_url, opsbook, demo, sink, mailbox)


def _run_the_outage(
    home: Path, database_url: str, opsbook: Peer, demo: Peer, sink: WebhookSink, mailbox: Mailbox
) -> None:
    time.sleep(2)  # healthy probes first: nothing may be declared or sent for them
    assert sink.received() == []

    stage_faults(demo, {"down": True})
    incident_id = wait_for_incident(opsbook)
    escalation = escalation_id(opsbook, incident_id)

    # Level 1: Ana, the primary on-call, by webhook and by email.
    [ana_page] = wait_until(
        lambda: sink.delivered("/pager") or None, what="the page to Ana", detail=opsbook.log_tail
    )
    found = incident(opsbook, incident_id)
    assert ana_page.json() == page_payload(
        found, escalation=escalation, level=1, via="schedule:primary", person=ANA
    )
    assert ana_page.headers["Idempotency-Key"] == f"page:{escalation}:0:pager:ana"
    assert ana_page.headers["Content-Type"] == "application/json"
    assert ana_page.is_signed_with(SECRET)

    [email] = wait_until(
        lambda: mailbox.messages() or None, what="Ana's email", detail=opsbook.log_tail
    )
    assert email["To"] == "ana@example.test"
    assert email["From"] == "opsbook@example.test"
    assert email["Subject"] == f"PAGE SEV1: {TITLE} (incident {incident_id})"
    text = email.get_content().replace("\r\n", "\n")
    assert f"Ana: you are paged for incident {incident_id}, SEV1" in text
    assert f"\n{TITLE}\n" in text
    assert "Escalation: level 1 (schedule:primary)" in text
    assert f"Acknowledge: opsbook incident ack {incident_id}" in text

    # Nobody acknowledges within 4 s: level 2, the senior engineer.
    senior_page = wait_until(
        lambda: sink.delivered("/pager")[1:] or None,
        what="the page to senior",
        timeout_s=L1_WAIT_S + 10,
        detail=opsbook.log_tail,
    )[0]
    paged = wait_for_event(opsbook, incident_id, "paged", count=2)
    assert [(e["detail"]["level"], e["detail"]["people"]) for e in paged] == [
        (1, ["ana"]),
        (2, ["senior"]),
    ]
    assert (senior_page.wall - _at(paged[0])).total_seconds() >= L1_WAIT_S
    assert senior_page.at - ana_page.at > L1_WAIT_S - 1
    assert senior_page.json() == page_payload(
        incident(opsbook, incident_id),
        escalation=escalation,
        level=2,
        via="person:senior",
        person=SENIOR,
    )
    assert senior_page.headers["Idempotency-Key"] == f"page:{escalation}:1:pager:senior"
    assert senior_page.is_signed_with(SECRET)

    # An acknowledgement stops the escalation; nobody else is paged.
    _cli(home, database_url, opsbook, "incident", "ack", str(incident_id))
    [stopped] = wait_for_event(opsbook, incident_id, "escalation_stopped")
    assert stopped["detail"] == {
        "escalation_id": escalation,
        "reason": "acknowledged",
        "by": f"user:{AUTHOR}",
    }
    time.sleep(5)
    assert len(sink.received("/pager")) == 2
    assert len(mailbox.received) == 1

    # Status updates, each told to the chat channel before the next (people post them minutes
    # apart); the fault is cleared before the all-clear.
    _cli(
        home,
        database_url,
        opsbook,
        *("incident", "update", str(incident_id), "identified"),
        *("-m", "bad deploy; rolling back", "--eta", "30 minutes"),
    )
    _wait_for_chat(sink, opsbook, 2)
    # The next two through the API, as a chat bot or the web UI would post them.
    _post_update(opsbook, incident_id, "monitoring", "rolled back; watching error rates")
    _wait_for_chat(sink, opsbook, 3)
    stage_faults(demo, {})
    _post_update(opsbook, incident_id, "resolved", "healthy for 10 minutes")
    _wait_for_chat(sink, opsbook, 4)

    # The chat channel heard of the declaration and of each update, once each.
    time.sleep(2)  # a duplicate would arrive now
    chat = sink.received("/chat")
    assert [
        (m.status, m.json()["event"]["kind"], m.json()["incident"]["status"]) for m in chat
    ] == [
        (200, "declared", "investigating"),
        (200, "status", "identified"),
        (200, "status", "monitoring"),
        (200, "status", "resolved"),
    ]
    assert [m.key for m in chat] == [f"incident:{m.json()['event']['id']}:chat" for m in chat]
    assert "X-Opsbook-Signature" not in chat[1].headers  # the chat channel has no secret
    found = incident(opsbook, incident_id)
    statuses = [e for e in found["timeline"] if e["kind"] == "status"]
    identified = statuses[0]
    assert chat[1].json() == {
        "version": "1",
        "type": "incident",
        "incident": {
            **incident_json(found),
            "status": "identified",
            "resolved_at": None,
        },
        "event": {
            "id": identified["id"],
            "kind": "status",
            "message": "identified: bad deploy; rolling back",
            "actor": f"user:{AUTHOR}",
            "at": rfc3339(identified["at"]),
            "fields": {"eta": "30 minutes"},
        },
        "page": None,
        "person": None,
        "alerts": alerts_json(found),
        "links": links(incident_id),
    }
    assert identified["detail"]["fields"] == {"eta": "30 minutes"}

    _check_postmortem(home, database_url, opsbook, incident_id)


def _check_postmortem(home: Path, database_url: str, opsbook: Peer, incident_id: int) -> None:
    timeline: list[dict[str, Any]] = incident(opsbook, incident_id)["timeline"]

    def one(kind: str, **detail: object) -> dict[str, Any]:
        found = [
            e
            for e in timeline
            if e["kind"] == kind and all(e["detail"].get(k) == v for k, v in detail.items())
        ]
        assert found, f"no {kind} {detail} in {[e['kind'] for e in timeline]}"
        return found[0]

    expected = [
        one("declared"),
        one("paged", level=1),
        one("page_delivered", person="ana", channel="pager"),
        one("paged", level=2),
        one("acknowledged"),
        *events(opsbook, incident_id, "status"),
    ]
    assert [e["message"] for e in expected[-3:]] == [
        "identified: bad deploy; rolling back",
        "monitoring: rolled back; watching error rates",
        "resolved: healthy for 10 minutes",
    ]
    markdown = _cli(home, database_url, opsbook, "incident", "postmortem", str(incident_id))
    assert f"# Incident Postmortem: {TITLE}" in markdown
    positions = []
    for event in expected:
        line = _line(event)
        assert line in markdown, f"{line!r} not in the postmortem:\n{markdown}"
        positions.append(markdown.index(line))
    assert positions == sorted(positions), markdown
