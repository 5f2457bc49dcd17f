"""What the incident paging e2e tests share: the opsbook.yaml they run, reading incidents back
from a running ``opsbook serve``, and the incident webhook body (docs/notifications.md) built
from what the API says, so a test compares a page with the whole expected payload.

The config: the demo service's ``/healthz`` checked every second; ``site-down`` fires after two
failures as SEV1, which pages (escalation ``default``) and tells ``chat`` of every update. Ana is
the ``primary`` schedule (level 1, 4 s to acknowledge), senior is level 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from peers import Peer, wait_until

from serving import http_json

SECRET = "whsec-paging-e2e-0123456789abcdef"
PUBLIC_URL = "http://opsbook.example.test"
TITLE = "The shop is down"
DESCRIPTION = "healthz stopped answering; customers cannot check out"
ANA = {"id": "ana", "name": "Ana", "email": "ana@example.test", "phone": "+15550100"}
SENIOR = {"id": "senior", "name": "Senior Engineer", "email": None, "phone": None}
L1_WAIT_S = 4.0


@dataclass(frozen=True)
class Channels:
    """Where each channel points: ``pager`` and ``chat`` are webhook URLs; ``extra`` maps more
    webhook channel names to URLs; ``smtp_port`` adds the ``mail`` channel."""

    pager: str
    chat: str
    smtp_port: int | None = None
    extra: tuple[tuple[str, str], ...] = ()


def paging_config(
    demo_url: str,
    channels: Channels,
    *,
    ana_notify: Sequence[str] = ("pager", "mail"),
    levels: str | None = None,
) -> str:
    """The opsbook.yaml text. ``levels`` replaces the default policy's levels (YAML list)."""
    mail = ""
    if channels.smtp_port is not None:
        mail = (
            f"  mail:\n    smtp: {{host: 127.0.0.1, port: {channels.smtp_port}, "
            f'to: oncall@example.test, from: "opsbook@example.test"}}\n'
        )
    extra = "".join(f'  {name}:\n    webhook: {{url: "{url}"}}\n' for name, url in channels.extra)
    # Level 2 waits too: the escalation stays active after paging it, so an acknowledgement
    # still has something to stop (a last level without a wait ends the escalation at once).
    levels = levels or (
        f"      - {{notify: [schedule:primary], wait: {L1_WAIT_S:g}s}}\n"
        "      - {notify: [person:senior], wait: 10m}\n"
    )
    return f"""\
service: shop
timezone: UTC
server:
  public_url: {PUBLIC_URL}
severities:
  SEV1:
    respond_within: 15m
    page: true
    escalation: default
    notify: [chat]
checks:
  healthz:
    http: {{url: "{demo_url}/healthz"}}
    every: 1s
    timeout: 500ms
    labels: {{component: web}}
alerts:
  site-down:
    when: healthz down
    for: 2 failures
    retry_every: 300ms
    severity: SEV1
    annotations:
      summary: "{TITLE}"
      description: "{DESCRIPTION}"
alerting:
  evaluate_every: 1s
oncall:
  people:
    ana:
      name: {ANA["name"]}
      email: {ANA["email"]}
      phone: "{ANA["phone"]}"
      notify: [{", ".join(ana_notify)}]
    senior: {{name: {SENIOR["name"]}, notify: [pager]}}
  schedules:
    primary: {{rotation: weekly, people: [ana]}}
  escalation:
    default:
{levels}channels:
  pager:
    webhook: {{url: "{channels.pager}", secret: "{SECRET}"}}
  chat:
    webhook: {{url: "{channels.chat}"}}
{mail}{extra}"""


def rfc3339(api_time: str | None) -> str | None:
    """An API time (``...T02:14:05.120000Z``) as webhooks write it (``...T02:14:05.12Z``)."""
    if api_time is None:
        return None
    at = datetime.fromisoformat(api_time.replace("Z", "+00:00")).astimezone(UTC)
    text = at.replace(tzinfo=None).isoformat()
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "Z"


def api(opsbook: Peer, path: str) -> Any:
    status, body = http_json("GET", opsbook.url + path, token=opsbook.token)
    if status != 200:
        raise AssertionError(f"GET {path} answered {status}: {body}\n{opsbook.log_tail()}")
    return body


def incident(opsbook: Peer, incident_id: int) -> dict[str, Any]:
    """``GET /api/v1/incidents/{id}``: the incident with its ``timeline``."""
    found: dict[str, Any] = api(opsbook, f"/api/v1/incidents/{incident_id}")
    return found


def events(opsbook: Peer, incident_id: int, kind: str) -> list[dict[str, Any]]:
    return [e for e in incident(opsbook, incident_id)["timeline"] if e["kind"] == kind]


def wait_for_incident(opsbook: Peer, *, timeout_s: float = 20) -> int:
    """The id of the first incident declared (open or not)."""

    def declared() -> int | None:
        found = api(opsbook, "/api/v1/incidents?all=true")["incidents"]
        return int(found[0]["id"]) if found else None

    return wait_until(
        declared, what="an incident declared", timeout_s=timeout_s, detail=opsbook.log_tail
    )


def wait_for_event(
    opsbook: Peer, incident_id: int, kind: str, *, count: int = 1, timeout_s: float = 20
) -> list[dict[str, Any]]:
    """The incident's ``kind`` events, once there are at least ``count``."""

    def enough() -> list[dict[str, Any]] | None:
        found = events(opsbook, incident_id, kind)
        return found if len(found) >= count else None

    return wait_until(
        enough,
        what=f"{count} {kind} event(s) on incident {incident_id}",
        timeout_s=timeout_s,
        detail=opsbook.log_tail,
    )


def escalation_id(opsbook: Peer, incident_id: int) -> int:
    [started] = wait_for_event(opsbook, incident_id, "escalation_started")
    return int(started["detail"]["escalation_id"])


def alerts_json(found: dict[str, Any], *, status: str = "firing") -> list[dict[str, Any]]:
    """The ``alerts`` of a notice about the test's one ``site-down`` alert."""
    [alert_id] = found["alert_ids"]
    return [
        {
            "id": alert_id,
            "name": "site-down",
            "status": status,
            "severity": "SEV1",
            "summary": TITLE,
        }
    ]


def incident_json(found: dict[str, Any]) -> dict[str, Any]:
    """The ``incident`` part of a notice, from the API's incident as it was when sent."""
    return {
        "id": found["id"],
        "title": TITLE,
        "severity": "SEV1",
        "status": found["status"],
        "summary": DESCRIPTION,
        "component": "web",
        "declared_at": rfc3339(found["declared_at"]),
        "acknowledged_at": rfc3339(found["acknowledged_at"]),
        "resolved_at": rfc3339(found["resolved_at"]),
        "commander": None,
        "url": f"{PUBLIC_URL}/incidents/{found['id']}",
    }


def links(incident_id: int) -> dict[str, str]:
    return {
        "incident": f"{PUBLIC_URL}/incidents/{incident_id}",
        "acknowledge": f"{PUBLIC_URL}/api/v1/incidents/{incident_id}/ack",
    }


def page_payload(
    found: dict[str, Any],
    *,
    escalation: int,
    level: int,
    via: str,
    person: dict[str, Any],
) -> dict[str, Any]:
    """The exact webhook body of a page (``type`` page) to ``person`` at ``level``."""
    return {
        "version": "1",
        "type": "page",
        "incident": incident_json(found),
        "event": None,
        "page": {"escalation_id": escalation, "level": level, "round": 0, "via": via},
        "person": person,
        "alerts": alerts_json(found),
        "links": links(found["id"]),
    }
