"""Status page subscribers end to end, on SQLite and PostgreSQL: the subscribe form, a real SMTP
server (aiosmtpd), the confirmation link, incident update emails with RFC 8058 headers, the
one-click unsubscribe, and webhook subscribers receiving Statuspage's body from a real HTTP
server (aiohttp), exactly once."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from statuspage_helpers import WINDOW_END, WINDOW_START, Shop, shop_config

from auth_helpers import grant
from opsbook.accounts import Role
from opsbook.config import Config
from opsbook.incidents import IncidentStatus
from opsbook.notify import Deliverer
from opsbook.notify.tables import notification
from opsbook.statuspage.subscriber_send import SubscriberSender
from opsbook.statuspage.subscriber_tables import status_subscriber
from opsbook.statuspage.subscriber_task import COMPLETED_FOR, announce
from opsbook.web import create_app

BASE = "https://status.shop.example"


@dataclass
class Mailbox:
    received: list[Envelope] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 (aiosmtpd calls handle_<SMTP verb>)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(envelope)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        found = []
        for envelope in self.received:
            if address in envelope.rcpt_tos:
                assert isinstance(envelope.content, bytes)
                parsed = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                found.append(parsed)
        return found


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@dataclass
class Hook:
    """What the webhook sink received: (path, headers, exact body bytes)."""

    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0
    base: str = ""

    def bodies(self, path: str) -> list[Any]:
        return [json.loads(body) for p, _, body in self.received if p == path]


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    found = Hook()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        found.received.append((request.path, dict(request.headers), body))
        if found.fail_next:
            found.fail_next -= 1
            return web.Response(status=503, text="busy")
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{name}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    found.base = f"http://127.0.0.1:{port}"
    yield found
    await runner.cleanup()


class Page:
    def __init__(self, engine: Engine, port: int, *, maintenance: bool = False) -> None:
        raw = shop_config(subscribers={"email_channel": "status-mail"})
        if not maintenance:
            # The shop's window is announced to subscribers: only the maintenance tests keep it.
            del raw["maintenance"]
        raw["channels"] = {
            "status-mail": {
                "smtp": {
                    "to": "ops@shop.example",
                    "host": "127.0.0.1",
                    "port": port,
                    "from": "status@shop.example",
                }
            }
        }
        self.shop = Shop(engine, Config.model_validate(raw))
        self.engine = engine
        app = create_app(
            self.shop.config, engine=engine, clock=self.shop.clock, registry=CollectorRegistry()
        )
        # No lifespan: the tests run the announcing pass and the deliverer themselves.
        self.client = TestClient(app, base_url=BASE)
        self.deliverer = Deliverer(
            self.shop.config,
            engine,
            clock=self.shop.clock,
            senders=SubscriberSender(self.shop.config, engine).senders(),
        )

    def later(self, minutes: float = 1) -> None:
        self.shop.clock.advance(timedelta(minutes=minutes))

    def announce(self) -> int:
        with self.engine.begin() as conn:
            return announce(conn, self.shop.config, now=self.shop.clock.now())

    async def send(self) -> int:
        self.announce()
        return await self.deliverer.deliver_due()

    def subscribe(self, email: str, *components: str) -> Any:
        data: dict[str, Any] = {"email": email}
        if components:
            data |= {"scope": "some", "components": list(components)}
        return self.client.post("/status/subscribe", data=data, headers={"Origin": BASE})

    def responder(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {grant(self.engine, Role.RESPONDER, name='rea')}"}

    def rows(self) -> int:
        with self.engine.connect() as conn:
            subs = conn.scalar(sa.select(sa.func.count()).select_from(status_subscriber))
            sent = conn.scalar(sa.select(sa.func.count()).select_from(notification))
        return int(subs or 0) * 1000 + int(sent or 0)


@pytest.fixture
def page(engine: Engine, mailbox: tuple[Mailbox, int]) -> Page:
    return Page(engine, mailbox[1])


def by_key_bodies(by_key: dict[str, list[bytes]]) -> set[bytes]:
    return {b for bodies in by_key.values() for b in bodies}


def _link(message: EmailMessage, path: str) -> str:
    body = message.get_content()
    found = re.search(re.escape(BASE + path) + r"\?token=\S+", body)
    assert found, body
    parts = urlsplit(found.group(0))
    return f"{parts.path}?{parts.query}"


async def test_an_email_subscriber_confirms_gets_updates_and_unsubscribes_in_one_post(
    page: Page, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    form = page.client.get("/status/subscribe")
    assert form.status_code == 200
    assert 'name="email"' in form.text and "Website" in form.text and "<script" not in form.text
    assert page.subscribe("ana@Shop.Example").status_code == 200
    assert page.subscribe("bob@shop.example").status_code == 200  # never confirms

    assert await page.send() == 2
    confirmation = box.to("ana@shop.example")
    assert len(confirmation) == 1
    assert confirmation[0]["Subject"] == "Confirm your Shop status status subscription"
    confirm = _link(confirmation[0], "/status/subscribe/confirm")
    assert page.client.get(confirm).status_code == 200
    # One time only.
    again = page.client.get(confirm)
    assert again.status_code == 400 and "not valid" in again.text

    page.later()
    incident = page.shop.declare(summary="Checkout fails for some cards.")
    assert await page.send() == 1
    [update] = box.to("ana@shop.example")[1:]
    assert update["Subject"] == "[Shop status] Checkout errors: Investigating"
    assert "Checkout fails for some cards." in update.get_content()
    assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = update["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith(BASE + "/status/unsubscribe?token=")
    assert box.to("bob@shop.example")[1:] == []

    # A mail scanner's GET changes nothing; the one-click POST (RFC 8058) needs no login.
    parts = urlsplit(unsubscribe_url)
    assert page.client.get(f"{parts.path}?{parts.query}").status_code == 200
    page.later()
    page.shop.update(incident, IncidentStatus.IDENTIFIED, "A bad deploy; rolling back.")
    assert await page.send() == 1
    assert len(box.to("ana@shop.example")) == 3
    done = page.client.post(
        f"{parts.path}?{parts.query}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200, done.text

    page.later()
    page.shop.update(incident, IncidentStatus.RESOLVED, "Fixed.")
    await page.send()
    assert len(box.to("ana@shop.example")) == 3
    assert box.to("bob@shop.example")[1:] == []
    # The sends are queued exactly once per update: another pass adds nothing.
    assert page.announce() == 0


async def test_an_update_queued_before_unsubscribing_is_not_sent(
    page: Page, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    page.subscribe("ana@shop.example")
    await page.send()
    page.client.get(_link(box.to("ana@shop.example")[0], "/status/subscribe/confirm"))
    page.later()
    page.shop.declare()
    assert page.announce() == 1
    token_path = _unsubscribe_path(page)
    assert page.client.post(token_path).status_code == 200
    assert await page.deliverer.deliver_due() == 1
    assert len(box.to("ana@shop.example")) == 1  # the confirmation only


def _unsubscribe_path(page: Page) -> str:
    with page.engine.connect() as conn:
        payload = conn.execute(
            sa.select(notification.c.payload)
            .where(notification.c.kind == "status_email")
            .order_by(notification.c.id.desc())
        ).first()
    assert payload is not None
    url = payload[0]["headers"]["List-Unsubscribe"].strip("<>")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_email_subscribers_get_only_the_components_they_chose(
    page: Page, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    page.subscribe("db@shop.example", "db")
    page.subscribe("api@shop.example", "api")
    await page.send()
    for address in ("db@shop.example", "api@shop.example"):
        page.client.get(_link(box.to(address)[0], "/status/subscribe/confirm"))
    page.later()
    page.shop.declare(component="api")
    await page.send()
    assert len(box.to("api@shop.example")) == 2
    assert len(box.to("db@shop.example")) == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a@shop.example", "scope": "some", "components": ["nope"]}, "components"),
        ({"email": "a@shop.example", "scope": "some", "components": ["internal"]}, "components"),
        ({"email": "a@shop.example", "scope": "some"}, "components"),
    ],
)
def test_a_bad_subscription_is_a_400_naming_the_field_and_changes_nothing(
    page: Page, data: dict[str, Any], field: str
) -> None:
    before = page.rows()
    answer = page.client.post("/status/subscribe", data=data, headers={"Origin": BASE})
    assert answer.status_code == 400
    assert f"{field}" in answer.text
    assert page.rows() == before


def test_the_form_refuses_another_sites_post_and_throttles_an_address(page: Page) -> None:
    answer = page.client.post(
        "/status/subscribe",
        data={"email": "a@shop.example"},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert page.rows() == 0
    for _ in range(3):
        assert page.subscribe("a@shop.example").status_code == 200
    throttled = page.subscribe("a@shop.example")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    page.later(61)
    assert page.subscribe("a@shop.example").status_code == 200


def test_an_expired_confirmation_link_is_refused(page: Page, mailbox: tuple[Mailbox, int]) -> None:
    page.subscribe("a@shop.example")
    with page.engine.connect() as conn:
        body = conn.execute(sa.select(notification.c.payload)).scalar_one()["body"]
    link = re.search(r"/status/subscribe/confirm\?token=\S+", body)
    assert link
    page.later(48 * 60 + 1)
    assert page.client.get(link.group(0)).status_code == 400


async def test_a_webhook_subscriber_gets_statuspages_body_once_even_after_a_redelivery(
    page: Page, hook: Hook
) -> None:
    headers = page.responder()
    created = page.client.post(
        "/api/v1/status-page/subscribers",
        json={"url": f"{hook.base}/all"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["url"] == "http://127.0.0.1:" + hook.base.rsplit(":", 1)[1] + "/***"
    page.client.post(
        "/api/v1/status-page/subscribers",
        json={"url": f"{hook.base}/db", "components": ["db"]},
        headers=headers,
    )
    listed = page.client.get("/api/v1/status-page/subscribers", headers=headers).json()
    assert [s["components"] for s in listed["subscribers"]] == [None, ["db"]]
    page.announce()  # records the components' current statuses

    page.later()
    hook.fail_next = 1
    incident = page.shop.declare(severity="SEV1", summary="Checkout is down.")
    assert await page.send() == 2  # the incident and the API's new status; one gets a 503
    page.shop.clock.advance(timedelta(minutes=5))
    assert await page.send() == 1  # redelivered
    page.shop.clock.advance(timedelta(minutes=5))
    assert await page.send() == 0

    received = [r for r in hook.received if r[0] == "/all"]
    assert len(received) == 3
    by_key: dict[str, list[bytes]] = {}
    for _, sent_headers, sent in received:
        by_key.setdefault(sent_headers["Idempotency-Key"], []).append(sent)
    retried = [bodies for bodies in by_key.values() if len(bodies) == 2]
    assert len(by_key) == 2 and len(retried) == 1
    assert retried[0][0] == retried[0][1]  # the same bytes under the same key
    [incident_sent] = {b for b in by_key_bodies(by_key) if b"incident_updates" in b}
    body = json.loads(incident_sent)
    assert list(body) == ["meta", "page", "incident"]
    assert list(body["meta"]) == ["unsubscribe", "documentation"]
    assert body["meta"]["unsubscribe"].startswith(BASE + "/status/unsubscribe?token=")
    assert body["page"] == {
        "id": "shop",
        "status_indicator": body["page"]["status_indicator"],
        "status_description": body["page"]["status_description"],
    }
    x = body["incident"]
    assert list(x) == [
        "backfilled", "created_at", "impact", "impact_override", "monitoring_at",
        "postmortem_body", "postmortem_body_last_updated_at", "postmortem_ignored",
        "postmortem_notified_subscribers", "postmortem_notified_twitter",
        "postmortem_published_at", "resolved_at", "scheduled_auto_transition", "scheduled_for",
        "scheduled_remind_prior", "scheduled_reminded_at", "scheduled_until", "shortlink",
        "status", "updated_at", "id", "organization_id", "incident_updates", "name",
    ]  # fmt: skip
    assert (x["id"], x["name"], x["status"]) == (str(incident), "Checkout errors", "investigating")
    assert x["created_at"] == "2026-12-01T12:01:00.000Z"
    [u] = x["incident_updates"]
    assert list(u) == [
        "body", "created_at", "display_at", "status", "twitter_updated_at", "updated_at",
        "wants_twitter_update", "id", "incident_id",
    ]  # fmt: skip
    assert (u["body"], u["status"], u["incident_id"]) == (
        "Checkout is down.",
        "investigating",
        x["id"],
    )
    # The API component's status changed with the incident: a component event for /all only
    # (once: either send may be the one that got the 503, and its retry is the same bytes).
    component_events = [
        json.loads(sent)
        for sent in {sent for _, _, sent in received}
        if b"component_update" in sent
    ]
    assert len(component_events) == 1
    event = component_events[0]
    assert list(event) == ["meta", "page", "component_update", "component"]
    assert list(event["component_update"]) == [
        "created_at", "new_status", "old_status", "id", "component_id",
    ]  # fmt: skip
    assert event["component_update"]["component_id"] == "api"
    assert event["component_update"]["old_status"] == "operational"
    assert event["component_update"]["new_status"] == "major_outage"
    assert list(event["component"]) == ["created_at", "id", "name", "status"]
    assert hook.bodies("/db") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example/x"}, "$.url"),
        ({"url": "not a url"}, "$.url"),
        ({}, "$.url"),
        ({"url": "https://hooks.example/x", "components": ["nope"]}, "$.components"),
        ({"url": "https://hooks.example/x", "components": 3}, "$.components"),
        ({"url": "https://hooks.example/x", "extra": 1}, "$"),
    ],
)
def test_a_bad_webhook_subscriber_is_a_400_naming_the_field_and_changes_nothing(
    page: Page, body: dict[str, Any], field: str
) -> None:
    headers = page.responder()
    before = page.rows()
    answer = page.client.post("/api/v1/status-page/subscribers", json=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert field in answer.text
    assert page.rows() == before


def test_webhook_subscribers_need_a_responder_and_are_audited(page: Page) -> None:
    url = "https://hooks.example/secret-token-123456"
    anonymous = page.client.post("/api/v1/status-page/subscribers", json={"url": url})
    assert anonymous.status_code == 401
    viewer = {"Authorization": f"Bearer {grant(page.engine, Role.VIEWER, name='vic')}"}
    assert page.client.get("/api/v1/status-page/subscribers", headers=viewer).status_code == 403
    headers = page.responder()
    created = page.client.post(
        "/api/v1/status-page/subscribers", json={"url": url}, headers=headers
    )
    assert "secret-token" not in created.text
    gone = page.client.delete(
        f"/api/v1/status-page/subscribers/{created.json()['id']}", headers=headers
    )
    assert gone.status_code == 204
    assert page.client.get("/api/v1/status-page/subscribers", headers=headers).json() == {
        "subscribers": []
    }
    with page.engine.connect() as conn:
        audit = conn.execute(
            sa.text(
                "SELECT action, actor, detail FROM audit_event"
                " WHERE action LIKE 'status_subscriber%' ORDER BY id"
            )
        ).all()
    assert [(a, b) for a, b, _ in audit] == [
        ("status_subscriber.add", "token:rea"),
        ("status_subscriber.unsubscribe", "token:rea"),
    ]
    assert "secret-token" not in str(audit)


def _wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_served_app_confirms_and_announces_by_itself(
    page: Page, mailbox: tuple[Mailbox, int]
) -> None:
    # With its lifespan: the deliverer and the status-subscribers task run as opsbook serve's do.
    box, _ = mailbox
    with page.client:
        assert page.subscribe("ana@shop.example").status_code == 200
        _wait_for(lambda: len(box.to("ana@shop.example")) == 1)
        confirm = _link(box.to("ana@shop.example")[0], "/status/subscribe/confirm")
        assert page.client.get(confirm).status_code == 200
        page.later()
        page.shop.declare(summary="Payments are failing.")
        _wait_for(lambda: len(box.to("ana@shop.example")) == 2)
        update = box.to("ana@shop.example")[1]
        assert "Payments are failing." in update.get_content()
        assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


INCIDENT_KEYS = [
    "backfilled", "created_at", "impact", "impact_override", "monitoring_at",
    "postmortem_body", "postmortem_body_last_updated_at", "postmortem_ignored",
    "postmortem_notified_subscribers", "postmortem_notified_twitter",
    "postmortem_published_at", "resolved_at", "scheduled_auto_transition", "scheduled_for",
    "scheduled_remind_prior", "scheduled_reminded_at", "scheduled_until", "shortlink",
    "status", "updated_at", "id", "organization_id", "incident_updates", "name",
]  # fmt: skip
MAINTENANCE_ID = "db-upgrade-20261202T0200Z"


def _subject(message: EmailMessage) -> str:
    # A subject past 78 characters is folded right after "Subject:" by the stdlib's writer, and
    # its parser keeps the fold's space: a mail client's unfolding shows the same words.
    return str(message["Subject"]).strip()


def _maintenance_bodies(hook: Hook, path: str) -> list[Any]:
    return [
        b["incident"]
        for b in hook.bodies(path)
        if "incident" in b and b["incident"]["impact"] == "maintenance"
    ]


async def test_a_scheduled_maintenance_is_announced_once_per_move_to_its_components_subscribers(
    engine: Engine, mailbox: tuple[Mailbox, int], hook: Hook
) -> None:
    box, port = mailbox
    page = Page(engine, port, maintenance=True)
    for address, components in (
        ("ana@shop.example", ()),
        ("dba@shop.example", ("db",)),
        ("dev@shop.example", ("api",)),
    ):
        assert page.subscribe(address, *components).status_code == 200
    await page.deliverer.deliver_due()  # only the confirmations: nobody is confirmed yet
    for address in ("ana@shop.example", "dba@shop.example", "dev@shop.example"):
        [confirmation] = box.to(address)
        assert page.client.get(_link(confirmation, "/status/subscribe/confirm")).status_code == 200
    headers = page.responder()
    for name, components in (("all", None), ("db", ["db"]), ("api", ["api"])):
        created = page.client.post(
            "/api/v1/status-page/subscribers",
            json={"url": f"{hook.base}/{name}", "components": components},
            headers=headers,
        )
        assert created.status_code == 201, created.text

    # Ahead (the window opens tomorrow at 02:00): "scheduled", once.
    assert await page.send() == 4  # ana, dba, /all, /db; not the API's subscribers
    assert page.announce() == 0
    subjects = {
        a: [_subject(m) for m in box.to(f"{a}@shop.example")[1:]] for a in ("ana", "dba", "dev")
    }
    scheduled = "[Shop status] Scheduled maintenance: Database upgrade to PostgreSQL 17"
    assert subjects == {"ana": [scheduled], "dba": [scheduled], "dev": []}
    mail = box.to("dba@shop.example")[1]
    text = mail.get_content()
    assert "Scheduled from 2026-12-02T02:00:00.000Z until 2026-12-02T04:00:00.000Z" in text
    assert "Components: Database" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [sent] = [b for p, _, b in hook.received if p == "/db"]
    body = json.loads(sent)
    assert list(body) == ["meta", "page", "incident"]
    x = body["incident"]
    assert list(x) == INCIDENT_KEYS
    assert (x["id"], x["status"], x["impact"]) == (MAINTENANCE_ID, "scheduled", "maintenance")
    assert (x["scheduled_for"], x["scheduled_until"]) == (
        "2026-12-02T02:00:00.000Z",
        "2026-12-02T04:00:00.000Z",
    )
    assert x["scheduled_auto_transition"] is True
    assert x["shortlink"] == f"{BASE}/maintenances/{MAINTENANCE_ID}"
    assert [u["status"] for u in x["incident_updates"]] == ["scheduled"]
    assert x["incident_updates"][0]["id"] == f"{MAINTENANCE_ID}-scheduled"
    keys = {h["Idempotency-Key"] for p, h, _ in hook.received}
    assert any(k.endswith(f":maintenance:{MAINTENANCE_ID}-scheduled") for k in keys)
    assert _maintenance_bodies(hook, "/api") == []

    # Open: "in progress" (and the database's component change, to webhooks, as before).
    page.shop.clock.advance(WINDOW_START + timedelta(minutes=1) - page.shop.clock.now())
    await page.send()
    assert page.announce() == 0
    assert [_subject(m) for m in box.to("dba@shop.example")[2:]] == [
        "[Shop status] Maintenance in progress: Database upgrade to PostgreSQL 17"
    ]
    [_, opened] = _maintenance_bodies(hook, "/db")
    assert opened["status"] == "in_progress"
    assert [u["status"] for u in opened["incident_updates"]] == ["in_progress", "scheduled"]

    # Over: "completed"; then nothing more, however many passes.
    page.shop.clock.advance(WINDOW_END + timedelta(minutes=1) - page.shop.clock.now())
    await page.send()
    page.later(30)
    assert page.announce() == 0
    assert [_subject(m) for m in box.to("ana@shop.example")[1:]] == [
        scheduled,
        "[Shop status] Maintenance in progress: Database upgrade to PostgreSQL 17",
        "[Shop status] Maintenance completed: Database upgrade to PostgreSQL 17",
    ]
    assert box.to("dev@shop.example")[1:] == []
    statuses = [b["status"] for b in _maintenance_bodies(hook, "/all")]
    assert statuses == ["scheduled", "in_progress", "completed"]
    assert [b["status"] for b in _maintenance_bodies(hook, "/db")] == statuses
    assert _maintenance_bodies(hook, "/api") == []
    [*_, done] = _maintenance_bodies(hook, "/all")
    assert done["resolved_at"] == "2026-12-02T04:00:00.000Z"


async def test_a_maintenance_long_over_is_not_announced_to_a_new_subscriber(
    engine: Engine, mailbox: tuple[Mailbox, int], hook: Hook
) -> None:
    box, port = mailbox
    page = Page(engine, port, maintenance=True)
    # A subscriber who confirms while the window is open is told when it completes, not that
    # it opened (that happened before they subscribed).
    page.shop.clock.advance(WINDOW_START + timedelta(minutes=10) - page.shop.clock.now())
    page.subscribe("late@shop.example")
    await page.send()
    page.client.get(_link(box.to("late@shop.example")[0], "/status/subscribe/confirm"))
    await page.send()
    assert box.to("late@shop.example")[1:] == []
    page.shop.clock.advance(WINDOW_END + timedelta(seconds=30) - page.shop.clock.now())
    await page.send()
    assert [_subject(m) for m in box.to("late@shop.example")[1:]] == [
        "[Shop status] Maintenance completed: Database upgrade to PostgreSQL 17"
    ]
    # A webhook added after the window and COMPLETED_FOR: the past window is not news.
    page.shop.clock.advance(COMPLETED_FOR + timedelta(minutes=1))
    created = page.client.post(
        "/api/v1/status-page/subscribers",
        json={"url": f"{hook.base}/later"},
        headers=page.responder(),
    )
    assert created.status_code == 201
    assert page.announce() == 0
    await page.send()
    assert hook.received == []
