"""``/incidents`` and ``/incidents/{id}``: the list, the detail with its timeline, each form for a
responder (303 back to the page, the change made), 403 for a viewer and without the CSRF
token (nothing changed), errors shown on the page without what was typed, the postmortem, and
the HTML error pages of UI paths (issue 12); the merge form (to the incident merged into, its
errors naming ``into``); the linked alerts' links to /alerts and their checks. Both stores."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

import pytest
from fastapi.testclient import TestClient
from ui_helpers import CONFIG, NOW, csrf_of, log_in, migrate, ui_client

from alert_helpers import open_rule_alert
from opsbook.accounts import Role as AccountRole
from opsbook.incidents import Incident, IncidentStatus, service
from opsbook.store import create_engine

HTML = {"Accept": "text/html,application/xhtml+xml"}
SECRET = "s3cr3t-Pa55word-that-must-not-come-back"
# The default severities, SEV2 (what ``Store.declare`` declares) with a policy to escalate.
UI_CONFIG: dict[str, Any] = {
    **CONFIG,
    "timezone": "Europe/Berlin",
    "channels": {"ops": {"webhook": {"url": "http://127.0.0.1:9/ops"}}},
    "severities": {
        "SEV1": {"respond_within": "15m", "page": True, "status_impact": "major_outage"},
        "SEV2": {
            "respond_within": "1h",
            "page": True,
            "status_impact": "partial_outage",
            "escalation": "default",
        },
        "SEV3": {"respond_within": "4h"},
        "SEV4": {"respond_within": "1d"},
    },
    "oncall": {
        **CONFIG["oncall"],
        "escalation": {"default": [{"notify": ["channel:ops"]}]},
    },
}


@dataclass
class Store:
    url: str

    def run(self, change: Callable[[Any], Any]) -> Any:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                return change(conn)
        finally:
            engine.dispose()

    def declare(
        self,
        title: str = "Checkout down",
        *,
        severity: str = "SEV2",
        alert_ids: list[int] | None = None,
    ) -> int:
        created: Incident = self.run(
            lambda conn: service.declare(
                conn,
                title=title,
                severity=severity,
                summary="500s on /checkout",
                alert_ids=alert_ids or [],
                actor="user:ana",
                now=NOW - timedelta(minutes=30),
                origin="test",
                severities=["SEV1", "SEV2", "SEV3", "SEV4"],
            )
        )
        return created.id

    def resolve(self, incident_id: int) -> None:
        self.run(
            lambda conn: service.update(
                conn,
                incident_id,
                status=IncidentStatus.RESOLVED,
                message="rolled back",
                actor="user:ana",
                now=NOW - timedelta(minutes=5),
                origin="test",
            )
        )

    def incident(self, incident_id: int) -> Incident:
        found: Incident = self.run(lambda conn: service.get_incident(conn, incident_id))
        return found

    def kinds(self, incident_id: int) -> list[str]:
        return [e.kind for e in self.run(lambda conn: service.timeline(conn, incident_id))]


@pytest.fixture
def store(store_url: str) -> Store:
    migrate(store_url, people={"ana": AccountRole.RESPONDER, "ben": AccountRole.VIEWER})
    return Store(store_url)


def _client(store: Store, person: str) -> Iterator[TestClient]:
    for client in ui_client(store.url, config=UI_CONFIG):
        log_in(client, person)
        yield client


@pytest.fixture
def responder(store: Store) -> Iterator[TestClient]:
    yield from _client(store, "ana")


@pytest.fixture
def viewer(store: Store) -> Iterator[TestClient]:
    yield from _client(store, "ben")


def post_form(client: TestClient, incident_id: int, action: str, fields: dict[str, str]) -> Any:
    token = csrf_of(client.get(f"/incidents/{incident_id}").text)
    return client.post(
        f"/incidents/{incident_id}/{action}", data={"csrf_token": token, **fields}, headers=HTML
    )


def test_the_list_shows_open_incidents_and_all_of_them_open_first(
    responder: TestClient, store: Store
) -> None:
    old = store.declare("Old outage", severity="SEV1")
    store.resolve(old)
    new = store.declare("Checkout down")
    html = responder.get("/incidents").text
    assert f'href="/incidents/{new}"' in html and "Checkout down" in html
    assert "Old outage" not in html
    assert "30m" in html  # its age on the frozen clock
    every = responder.get("/incidents?show=all").text
    assert every.index(f'id="incident-{new}"') < every.index(f'id="incident-{old}"')
    assert "status-resolved" in every and "resolved after 25m" in every
    assert responder.get("/incidents?show=everything", headers=HTML).status_code == 400


def test_the_page_shows_state_roles_and_the_timeline_in_the_config_timezone(
    responder: TestClient, store: Store
) -> None:
    incident_id = store.declare()
    html = responder.get(f"/incidents/{incident_id}").text
    assert "Checkout down" in html and "SEV2" in html and "investigating" in html
    assert "not acknowledged" in html and "Commander" in html
    # Declared 11:30 UTC, shown in Europe/Berlin (UTC+1 in November).
    assert re.search(
        r"2026-11-22 12:30:00</time> <span class=\"ev-kind\">declared</span> "
        r"<span class=\"ev-actor\">user:ana</span>",
        html,
    )
    assert 'id="live-version"' in html and "live.js" in html


@dataclass(frozen=True)
class Form:
    action: str
    fields: dict[str, str]
    made: Callable[[Store, int], bool]
    resolved_first: bool = False


FORMS = {
    "ack": Form("ack", {}, lambda s, i: s.incident(i).acknowledged_at is not None),
    "update": Form(
        "updates",
        {"status": "identified", "message": "bad deploy", "eta": "30m", "impact": ""},
        lambda s, i: s.incident(i).status is IncidentStatus.IDENTIFIED,
    ),
    "resolve": Form(
        "resolve",
        {"message": "rolled back"},
        lambda s, i: s.incident(i).status is IncidentStatus.RESOLVED,
    ),
    "note": Form("notes", {"message": "looking at the logs"}, lambda s, i: "note" in s.kinds(i)),
    "escalate": Form(
        "escalate", {"reason": "data breach suspected"}, lambda s, i: "escalate" in s.kinds(i)
    ),
    "severity": Form(
        "severity", {"severity": "SEV1"}, lambda s, i: s.incident(i).severity == "SEV1"
    ),
    "role": Form(
        "roles",
        {"role": "commander", "person": "ana"},
        lambda s, i: s.incident(i).commander == "ana",
    ),
    "reopen": Form(
        "reopen",
        {"message": "it is back"},
        lambda s, i: s.incident(i).is_open,
        resolved_first=True,
    ),
    "action": Form(
        "actions",
        {"title": "Add a canary", "owner": "ana", "due": "2026-12-01"},
        lambda s, i: "action_added" in s.kinds(i),
    ),
}


def test_each_form_makes_its_change_for_a_responder_and_comes_back_to_the_page(
    responder: TestClient, store: Store
) -> None:
    # One loop rather than one test per form: each test pays for a store, an app and a login.
    for name, form in FORMS.items():
        incident_id = store.declare()
        if form.resolved_first:
            store.resolve(incident_id)
        assert not form.made(store, incident_id), name
        answer = post_form(responder, incident_id, form.action, form.fields)
        assert answer.status_code == 303, (name, answer.text)
        assert answer.headers["location"] == f"/incidents/{incident_id}", name
        assert form.made(store, incident_id), name
        page = responder.get(answer.headers["location"])
        assert page.status_code == 200 and 'class="error"' not in page.text, name
        events = store.run(lambda conn, i=incident_id: service.timeline(conn, i))
        assert events[-1].actor == "user:ana", name


def test_an_update_keeps_its_template_fields_and_the_page_shows_them(
    responder: TestClient, store: Store
) -> None:
    incident_id = store.declare()
    post_form(responder, incident_id, "updates", FORMS["update"].fields)
    last = store.run(lambda conn: service.timeline(conn, incident_id))[-1]
    assert last.detail["fields"] == {"eta": "30m"}
    assert "<dt>ETA</dt><dd>30m</dd>" in responder.get(f"/incidents/{incident_id}").text


def test_an_action_item_is_marked_done_only_on_its_own_incident(
    responder: TestClient, store: Store
) -> None:
    incident_id, other = store.declare(), store.declare("Other")
    post_form(responder, incident_id, "actions", {"title": "Canary", "owner": "ana"})
    (item,) = store.run(lambda conn: service.list_actions(conn, incident_id=incident_id))
    assert post_form(responder, other, f"actions/{item.id}/done", {}).status_code == 404
    answer = post_form(responder, incident_id, f"actions/{item.id}/done", {})
    assert answer.status_code == 303
    assert store.run(lambda conn: service.get_action(conn, item.id)).is_done


def test_a_viewer_sees_no_forms_and_every_post_is_403_changing_nothing(
    viewer: TestClient, store: Store
) -> None:
    incident_id = store.declare()
    html = viewer.get(f"/incidents/{incident_id}").text
    assert f'action="/incidents/{incident_id}' not in html
    token = csrf_of(html)  # the logout form's
    for form in [*FORMS.values(), Form("actions/1/done", {}, lambda s, i: False)]:
        answer = viewer.post(
            f"/incidents/{incident_id}/{form.action}",
            data={"csrf_token": token, **form.fields},
            headers=HTML,
        )
        assert answer.status_code == 403, form.action
        assert "needs the responder role" in answer.text
        assert "<main" in answer.text  # the page in the layout, not JSON
    assert store.kinds(incident_id) == ["declared"]


def test_every_form_needs_the_sessions_csrf_token(responder: TestClient, store: Store) -> None:
    incident_id = store.declare()
    for token in (None, "", "forged-token"):
        for form in FORMS.values():
            # "unused" keeps the ack's body a form: an empty body is a 400 before any CSRF check.
            data = {"unused": "", **form.fields} | ({} if token is None else {"csrf_token": token})
            answer = responder.post(f"/incidents/{incident_id}/{form.action}", data=data)
            assert answer.status_code == 403, (token, form.action)
            assert "out of date or came from another site" in answer.json()["error"]["message"]
    assert store.kinds(incident_id) == ["declared"]


REFUSED = [
    ("notes", {"message": "   "}, "note", "message: write the note"),
    ("updates", {"status": SECRET, "message": "x"}, "update", "status: choose one of"),
    ("updates", {"status": "monitoring"}, "update", "message: is required"),
    (
        "updates",
        {"status": "identified", "message": "x", "impact": SECRET * 20},
        "update",
        "fields.impact: at most 500 characters",
    ),
    ("severity", {"severity": SECRET}, "severity", "severity: not a severity name"),
    ("roles", {"role": SECRET, "person": "ana"}, "role", "role: choose one of"),
    ("actions", {"title": "t", "owner": "ana", "due": SECRET}, "action", "due: not a date"),
    ("reopen", {"message": SECRET}, "reopen", "is investigating, not resolved"),
]


def test_a_refused_change_shows_its_error_on_the_page_without_what_was_typed(
    responder: TestClient, store: Store
) -> None:
    for action, fields, form, message in REFUSED:
        incident_id = store.declare()
        answer = post_form(responder, incident_id, action, fields)
        assert answer.status_code == 303, action
        location = answer.headers["location"]
        assert location.startswith(f"/incidents/{incident_id}?")
        assert location.endswith(f"#form-{form}")
        assert SECRET not in location
        page = responder.get(location).text
        shown = re.search(rf'<p class="error" role="alert" id="{form}-error">([^<]*)</p>', page)
        assert shown is not None and message in shown.group(1), (action, message)
        assert page.count('class="error"') == 1
        assert SECRET not in page
        assert store.kinds(incident_id) == ["declared"], action


def test_an_illegal_status_move_is_shown_at_the_update_form(
    responder: TestClient, store: Store
) -> None:
    incident_id = store.declare()
    post_form(responder, incident_id, "updates", {"status": "monitoring", "message": "fixed?"})
    answer = post_form(responder, incident_id, "updates", {"status": "identified", "message": "x"})
    page = responder.get(answer.headers["location"]).text
    assert "cannot go back from monitoring to identified" in page


def test_an_error_in_a_crafted_link_is_not_shown(responder: TestClient, store: Store) -> None:
    incident_id = store.declare()
    answer = post_form(responder, incident_id, "notes", {"message": ""})
    signed = answer.headers["location"]
    assert "write the note" in responder.get(signed).text
    forged = signed.replace("write+the+note", "call+555-0100+now")
    assert "555-0100" not in responder.get(forged).text
    elsewhere = signed.replace(f"/incidents/{incident_id}?", f"/incidents/{store.declare()}?")
    assert "write the note" not in responder.get(elsewhere).text


def test_the_postmortem_is_a_page_and_a_markdown_file(responder: TestClient, store: Store) -> None:
    incident_id = store.declare()
    page = responder.get(f"/incidents/{incident_id}/postmortem")
    assert page.status_code == 200 and '<pre class="postmortem"' in page.text
    assert "Checkout down" in page.text
    markdown = responder.get(f"/incidents/{incident_id}/postmortem.md")
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.text.startswith("#") and "Checkout down" in markdown.text


def test_opening_a_forms_address_goes_back_to_the_incident(
    responder: TestClient, store: Store
) -> None:
    incident_id = store.declare()
    answer = responder.get(f"/incidents/{incident_id}/ack", headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/incidents/{incident_id}"


def test_ui_errors_are_pages_and_api_errors_stay_json(responder: TestClient, store: Store) -> None:
    missing = responder.get("/incidents/999", headers=HTML)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "no incident with id 999" in missing.text and 'aria-label="Main"' in missing.text
    unknown = responder.get("/no-such-page", headers=HTML)
    assert unknown.status_code == 404 and "There is no page at this address." in unknown.text
    api = responder.get("/api/v1/incidents/999", headers=HTML)
    assert api.status_code == 404 and api.json()["error"]["message"] == "no incident with id 999"
    assert responder.get("/incidents/999").headers["content-type"] == "application/json"


def test_an_anonymous_visitor_is_sent_to_log_in_and_back(store: Store) -> None:
    incident_id = store.declare()
    for client in ui_client(store.url, config=UI_CONFIG):
        answer = client.get(f"/incidents/{incident_id}", headers=HTML)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next=/incidents/{incident_id}"
        posted = client.post(f"/incidents/{incident_id}/ack", data={}, headers=HTML)
        assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
    assert store.kinds(incident_id) == ["declared"]


def test_a_merge_goes_to_the_incident_merged_into_and_the_source_shows_merged(
    responder: TestClient, store: Store
) -> None:
    target, source = store.declare("API down"), store.declare("DB down")
    page = responder.get(f"/incidents/{source}").text
    assert 'id="form-merge"' in page and f'<option value="{target}">' in page
    assert f'<option value="{source}">' not in page  # not offered into itself
    answer = post_form(responder, source, "merge", {"into": f" {target} "})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/incidents/{target}"
    found = store.incident(source)
    assert found.merged_into == target and found.status is IncidentStatus.RESOLVED
    assert store.kinds(source)[-1] == "merged" and store.kinds(target)[-1] == "merged_from"
    events = store.run(lambda conn: service.timeline(conn, target))
    assert events[-1].actor == "user:ana"
    shown = responder.get(f"/incidents/{source}").text
    assert f'Merged into <a href="/incidents/{target}">incident #{target}</a>' in shown
    assert 'id="form-merge"' not in shown and f'action="/incidents/{source}/merge"' not in shown


def test_a_viewer_cannot_merge(viewer: TestClient, store: Store) -> None:
    target, source = store.declare("API down"), store.declare("DB down")
    token = csrf_of(viewer.get(f"/incidents/{source}").text)
    answer = viewer.post(
        f"/incidents/{source}/merge", data={"csrf_token": token, "into": str(target)}, headers=HTML
    )
    assert answer.status_code == 403 and "needs the responder role" in answer.text
    assert store.incident(source).merged_into is None
    assert store.kinds(source) == ["declared"] and store.kinds(target) == ["declared"]


def test_a_merge_needs_the_sessions_csrf_token(responder: TestClient, store: Store) -> None:
    target, source = store.declare("API down"), store.declare("DB down")
    for token in (None, "", "forged-token"):
        data = {"into": str(target)} | ({} if token is None else {"csrf_token": token})
        answer = responder.post(f"/incidents/{source}/merge", data=data)
        assert answer.status_code == 403, token
        assert "out of date or came from another site" in answer.json()["error"]["message"]
    assert store.incident(source).merged_into is None
    assert store.kinds(source) == ["declared"] and store.kinds(target) == ["declared"]


BAD_INTO: list[tuple[str | None, str]] = [
    (None, "into: is required"),
    ("", "into: not an incident id (use its number, e.g. 42)"),
    (SECRET, "into: not an incident id (use its number, e.g. 42)"),
    ("-3", "into: not an incident id"),
    ("0", "into: not an incident id"),
    ("1.5", "into: not an incident id"),
    ("9" * 5000, "into: not an incident id"),
    ("{source}", "into: incident {source} cannot be merged into itself"),
    ("999", "into: no incident with id 999"),
    ("{resolved}", "into: incident {resolved} is resolved; reopen it before merging into it"),
    ("{merged}", "into: incident {merged} was merged into incident {target}; change incident"),
]


def test_a_bad_into_is_shown_at_the_merge_form_naming_it_and_changes_nothing(
    responder: TestClient, store: Store
) -> None:
    target, resolved, merged = store.declare("T"), store.declare("R"), store.declare("M")
    store.resolve(resolved)
    assert post_form(responder, merged, "merge", {"into": str(target)}).status_code == 303
    for typed, expected in BAD_INTO:
        source = store.declare()
        ids = {"source": source, "resolved": resolved, "merged": merged, "target": target}
        fields = {} if typed is None else {"into": typed.format(**ids)}
        before = {i: store.kinds(i) for i in ids.values()}
        answer = post_form(responder, source, "merge", fields)
        assert answer.status_code == 303, typed
        location = answer.headers["location"]
        assert location.startswith(f"/incidents/{source}?") and location.endswith("#form-merge")
        assert SECRET not in location
        page = responder.get(location).text
        shown = re.search(r'<p class="error" role="alert" id="merge-error">([^<]*)</p>', page)
        assert shown is not None and expected.format(**ids) in shown.group(1), (typed, page)
        assert 'aria-describedby="merge-help merge-error"' in page
        assert SECRET not in page and page.count('class="error"') == 1
        assert store.incident(source).merged_into is None
        assert {i: store.kinds(i) for i in ids.values()} == before, typed


def test_merging_a_merged_incident_is_refused_at_the_top_of_its_page(
    responder: TestClient, store: Store
) -> None:
    target, source, other = store.declare("T"), store.declare("S"), store.declare("O")
    post_form(responder, source, "merge", {"into": str(target)})
    answer = post_form(responder, source, "merge", {"into": str(other)})
    page = responder.get(answer.headers["location"]).text
    shown = re.search(r'<p class="error" role="alert" id="merge-error">([^<]*)</p>', page)
    assert shown is not None
    assert shown.group(1) == (
        f"incident {source} was merged into incident {target}; change incident {target} instead"
    )
    assert store.kinds(other) == ["declared"]
    token = csrf_of(page)
    unknown = responder.post(
        "/incidents/999/merge", data={"csrf_token": token, "into": str(target)}, headers=HTML
    )
    assert unknown.status_code == 404 and "no incident with id 999" in unknown.text


def test_each_linked_alert_links_to_the_alerts_page_filtered_to_it_and_to_its_check(
    responder: TestClient, store: Store
) -> None:
    # A name with every character the filter has to quote or escape, and HTML.
    name = 'Site "down", <b>x\\y</b> & more'
    fired = store.run(lambda conn: open_rule_alert(conn, name, check="api", now=NOW))
    other = store.run(lambda conn: open_rule_alert(conn, "db-down", check="db", now=NOW))
    incident_id = store.declare(alert_ids=[fired])
    page = responder.get(f"/incidents/{incident_id}").text
    links = re.findall(r'<span class="name"><a href="([^"]*)">([^<]*)</a></span>', page)
    assert len(links) == 1
    href, text = (html.unescape(part) for part in links[0])
    assert text == name
    assert href == "/alerts?filter=" + quote_plus(
        'alertname="Site \\"down\\", <b>x\\\\y</b> & more"'
    )
    assert '<a href="/checks/api">check api</a>' in page
    filtered = responder.get(href)
    assert filtered.status_code == 200 and 'class="error"' not in filtered.text
    assert f'id="alert-{fired}"' in filtered.text and f'id="alert-{other}"' not in filtered.text


def test_escalate_is_offered_where_a_policy_can_page(responder: TestClient, store: Store) -> None:
    with_policy, without = store.declare(), store.declare("Slow admin", severity="SEV3")
    assert 'id="form-escalate"' in responder.get(f"/incidents/{with_policy}").text
    assert 'id="form-escalate"' not in responder.get(f"/incidents/{without}").text
    store.resolve(with_policy)
    assert 'id="form-escalate"' not in responder.get(f"/incidents/{with_policy}").text
    # Posted anyway (a page from before the severity changed), it is refused at the top.
    answer = post_form(responder, without, "escalate", {"reason": "half the users"})
    page = responder.get(answer.headers["location"]).text
    assert "SEV3, which has no escalation policy" in page
    assert "escalate" not in store.kinds(without)
