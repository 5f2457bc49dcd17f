"""The run pages (issue 13) through the real app, on both stores: a responder starts a run from
``/runbooks/{name}`` and moves it on from ``/runs/{id}`` (confirm a write step, tick a manual
one with a note, ask for an approval that only another person can give); a viewer and a form
without the session's CSRF token change nothing; a refused form names the field and never
shows a secret; ``/runs`` lists and filters; the incident page links its runs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from ui_helpers import csrf_of

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.runbooks.registry import Loaded, load_folder
from opsbook.runbooks.run_lists import find_runs
from opsbook.runbooks.run_models import RunView
from opsbook.runbooks.runs import get_run
from opsbook.web import create_app
from opsbook.web.auth import SESSION_COOKIE

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CANARY = "CanaryTok-5k9w"
PEOPLE = {"ana": Role.RESPONDER, "ben": Role.RESPONDER, "vic": Role.VIEWER}
SITE_DOWN = """\
---
title: Site down
parameters:
  env: {allowed: [prod, staging], default: prod}
  token: {secret: true}
---
# Site down

```sh {name=look}
echo "looking at {{ env }} <b>token {{ token }}</b>"
```

```sh {name=restart risk=write}
echo restarted
```

- [ ] Tell the team

```sh {name=drop risk=danger}
echo dropped
```
"""
HTML = {"Accept": "text/html"}


class Site:
    def __init__(self, client: TestClient, cookies: dict[str, str]) -> None:
        self.client = client
        self.cookies = cookies
        self.engine = client.app.state.services.engine  # type: ignore[attr-defined]

    def login(self, person: str) -> None:
        """Act as ``person``, through a session opened as the login form does (the form and
        its password hashing are test_ui_login's)."""
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.cookies[person])

    def token(self, path: str = "/runbooks/site-down") -> str:
        return csrf_of(self.client.get(path).text)

    def post(self, path: str, fields: dict[str, str], *, csrf: bool = True) -> Any:
        data = dict(fields)
        if csrf:
            data["csrf_token"] = self.token()
        return self.client.post(path, data=data, headers=HTML)

    def start(self, **fields: str) -> int:
        form = {
            "steps.look": "on",
            "steps.restart": "on",
            "steps.step-3": "on",
            "steps.drop": "on",
            "params.env": "staging",
            "params.token": CANARY,
            **fields,
        }
        # An unticked box is not sent at all.
        form = {k: v for k, v in form.items() if not (k.startswith("steps.") and v == "")}
        answer = self.post("/runbooks/site-down/runs", form)
        assert answer.status_code == 303, answer.text
        found = re.fullmatch(r"/runs/(\d+)", answer.headers["location"])
        assert found is not None, answer.headers["location"]
        return int(found.group(1))

    def run(self, run_id: int) -> RunView:
        with self.engine.begin() as conn:
            return get_run(conn, run_id)

    def wait(self, run_id: int, state: str, **steps: str) -> RunView:
        """The run once it is in ``state`` with each of ``steps`` (id=state) as given."""
        deadline = time.monotonic() + 15
        while True:
            view = self.run(run_id)
            shown = {s.step_id.replace("-", "_"): s.state.value for s in view.steps}
            if view.run.state.value == state and all(shown[k] == v for k, v in steps.items()):
                return view
            assert time.monotonic() < deadline, view
            time.sleep(0.02)

    def run_count(self) -> int:
        with self.engine.begin() as conn:
            return len(find_runs(conn, limit=500))


def states(view: RunView) -> dict[str, str]:
    return {s.step_id: s.state.value for s in view.steps}


@pytest.fixture
def site(engine: Engine, store_url: str, tmp_path: Any) -> Iterator[Site]:
    cookies = {}
    with engine.begin() as conn:
        for person, role in PEOPLE.items():
            accounts.add_account(conn, person=person, role=role, people=PEOPLE, now=NOW)
            cookies[person], _ = accounts.open_session(
                conn, person=person, address="testclient", now=NOW
            )
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "site-down.md").write_text(SITE_DOWN)
    registry, problems = load_folder(folder)
    assert not problems
    assert [s.id for s in registry.runbooks["site-down"].steps][2] == "step-3"
    app = create_app(
        Config.model_validate({"service": "shop"}),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
        runbooks=Loaded(registry, (), folder),
    )
    # The lifespan runs: runs execute as tasks on the app's event loop.
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        found = Site(client, cookies)
        found.login("ana")
        yield found


def test_a_responder_starts_a_run_and_sees_the_read_output_escaped_and_masked(site: Site) -> None:
    page = site.client.get("/runbooks/site-down").text
    assert 'action="/runbooks/site-down/runs"' in page
    assert '<option value="prod" selected>prod</option>' in page
    assert 'name="params.token" type="password"' in page

    run_id = site.start()
    view = site.wait(run_id, "waiting")
    assert states(view)["look"] == "ok"
    assert states(view)["restart"] == "waiting_confirmation"
    page = site.client.get(f"/runs/{run_id}").text
    assert "looking at staging &lt;b&gt;token ***&lt;/b&gt;" in page
    assert CANARY not in page
    assert "user:ana" in page and "person" in page
    assert f'action="/runs/{run_id}/steps/restart/confirm"' in page
    assert view.run.trigger.detail == "user:ana"


def test_a_write_step_runs_only_once_confirmed_and_a_manual_step_records_who_and_the_note(
    site: Site,
) -> None:
    run_id = site.start()
    view = site.wait(run_id, "waiting")
    assert states(view)["restart"] == "waiting_confirmation"
    assert view.step("restart").output == ""  # type: ignore[union-attr]
    assert 'aria-label="Output of restart"' not in site.client.get(f"/runs/{run_id}").text

    answer = site.post(f"/runs/{run_id}/steps/restart/confirm", {})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/runs/{run_id}#step-restart"
    view = site.wait(run_id, "waiting", restart="ok")
    assert states(view)["step-3"] == "pending"  # a manual step waits, pending, for its tick
    restart = view.step("restart")
    assert restart is not None and restart.confirmed_by == "user:ana"
    assert "restarted" in restart.output

    answer = site.post(f"/runs/{run_id}/steps/step-3/tick", {"note": "told #ops <now>"})
    assert answer.status_code == 303
    view = site.wait(run_id, "waiting", drop="waiting_approval")
    ticked = view.step("step-3")
    assert ticked is not None
    assert (ticked.state.value, ticked.done_by, ticked.note) == (
        "done",
        "user:ana",
        "told #ops <now>",
    )
    page = site.client.get(f"/runs/{run_id}").text
    assert "Note: told #ops &lt;now&gt;" in page


def test_a_read_step_takes_no_confirmation_and_the_page_says_why(site: Site) -> None:
    run_id = site.start()
    site.wait(run_id, "waiting")
    answer = site.post(f"/runs/{run_id}/steps/look/confirm", {})
    assert answer.status_code == 303
    assert "error=" in answer.headers["location"]
    page = site.client.get(answer.headers["location"]).text
    assert "step look is a read step: it needs no confirmation" in page


def test_the_requester_cannot_approve_a_danger_step_another_person_can(site: Site) -> None:
    run_id = site.start(**{"steps.restart": "", "steps.step-3": ""})
    view = site.wait(run_id, "waiting")
    assert states(view)["drop"] == "waiting_approval"
    answer = site.post(f"/runs/{run_id}/steps/drop/approval", {})
    assert answer.status_code == 303
    (approval,) = site.run(run_id).approvals
    page = site.client.get(f"/runs/{run_id}").text
    assert "You asked for this approval" in page
    assert 'name="decision" value="approve"' not in page

    answer = site.post(f"/runs/{run_id}/approvals/{approval.id}", {"decision": "approve"})
    assert answer.status_code == 303
    page = site.client.get(answer.headers["location"]).text
    assert "a different person must approve it (no self-approval)" in page
    assert site.run(run_id).approvals[0].decision is None
    assert states(site.run(run_id))["drop"] == "waiting_approval"

    site.login("ben")
    page = site.client.get(f"/runs/{run_id}").text
    assert 'name="decision" value="approve"' in page
    answer = site.post(f"/runs/{run_id}/approvals/{approval.id}", {"decision": "approve"})
    assert answer.status_code == 303
    view = site.wait(run_id, "succeeded")
    drop = view.step("drop")
    assert drop is not None and "dropped" in drop.output
    assert view.approvals[0].decided_by == "user:ben"


def test_a_viewer_sees_no_forms_and_is_refused(site: Site) -> None:
    run_id = site.start()
    site.wait(run_id, "waiting")
    site.login("vic")
    page = site.client.get("/runbooks/site-down").text
    assert "needs the responder role" in page
    assert 'action="/runbooks/site-down/runs"' not in page
    page = site.client.get(f"/runs/{run_id}").text
    assert "/confirm" not in page and "/cancel" not in page
    count = site.run_count()
    answer = site.post("/runbooks/site-down/runs", {"steps.look": "on", "params.token": CANARY})
    assert answer.status_code == 403
    assert site.run_count() == count
    answer = site.post(f"/runs/{run_id}/steps/restart/confirm", {})
    assert answer.status_code == 403
    assert states(site.run(run_id))["restart"] == "waiting_confirmation"


def test_a_form_without_the_csrf_token_changes_nothing(site: Site) -> None:
    run_id = site.start()
    site.wait(run_id, "waiting")
    count = site.run_count()
    answer = site.post(
        "/runbooks/site-down/runs", {"steps.look": "on", "params.token": "x"}, csrf=False
    )
    assert answer.status_code == 403
    assert site.run_count() == count
    for path in (f"/runs/{run_id}/steps/restart/confirm", f"/runs/{run_id}/cancel"):
        assert site.post(path, {"x": "1"}, csrf=False).status_code == 403
    assert site.run(run_id).run.state.value == "waiting"
    assert site.run(run_id).step("restart").confirmed_by is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"params.env": "qa"}, "params.env: not one of the allowed values (prod, staging)"),
        ({"params.token": ""}, "params.token: is required"),
        ({"params.nope": "1"}, "params.nope: no such parameter"),
        ({"incident_id": "abc"}, "incident_id: not an incident id"),
        ({"incident_id": "9" * 30}, "incident_id: not an incident id"),
        ({"incident_id": "424242"}, "incident_id: no such incident"),
        ({"steps.ghost": "on"}, "steps: a ticked step is not in this runbook"),
        (
            {"steps.look": "", "steps.restart": "", "steps.step-3": "", "steps.drop": ""},
            "steps: tick at least one step to run",
        ),
    ],
)
def test_a_refused_form_names_the_field_and_never_repeats_the_secret(
    site: Site, fields: dict[str, str], message: str
) -> None:
    form = {
        "steps.look": "on",
        "steps.restart": "on",
        "steps.step-3": "on",
        "steps.drop": "on",
        "params.env": "staging",
        "params.token": CANARY,
        **fields,
    }
    form = {k: v for k, v in form.items() if not (k.startswith("steps.") and v == "")}
    answer = site.post("/runbooks/site-down/runs", form)
    assert answer.status_code == 400
    assert message in answer.text
    assert CANARY not in answer.text
    assert site.run_count() == 0


def test_a_waiting_run_is_cancelled(site: Site) -> None:
    run_id = site.start()
    site.wait(run_id, "waiting")
    answer = site.post(f"/runs/{run_id}/cancel", {})
    assert answer.status_code == 303
    view = site.run(run_id)
    assert view.run.state.value == "cancelled"
    assert states(view)["restart"] == "skipped"
    page = site.client.get(f"/runs/{run_id}").text
    assert "Cancel the run" not in page and "/confirm" not in page
    answer = site.post(f"/runs/{run_id}/cancel", {})
    assert "run+" in answer.headers["location"] or "error=" in answer.headers["location"]


def test_the_runs_list_filters_by_runbook_and_state(site: Site) -> None:
    run_id = site.start()
    site.wait(run_id, "waiting")
    page = site.client.get("/runs").text
    assert f'href="/runs/{run_id}"' in page
    assert f'href="/runs/{run_id}"' in site.client.get("/runs?state=waiting").text
    assert f'href="/runs/{run_id}"' not in site.client.get("/runs?state=succeeded").text
    assert f'href="/runs/{run_id}"' not in site.client.get("/runs?runbook=other").text
    answer = site.client.get("/runs?state=bogus", headers=HTML)
    assert answer.status_code == 400
    assert "state: not a run state" in answer.text
    assert 'href="/runs" aria-current="page"' in page
    assert 'href="/runs?runbook=site-down"' in site.client.get("/runbooks/site-down").text


def test_the_incident_page_links_its_runs(site: Site) -> None:
    with site.engine.begin() as conn:
        incident = incidents.declare(
            conn,
            title="Shop down",
            severity="SEV2",
            summary="",
            alert_ids=[],
            actor="user:ana",
            now=NOW,
            origin="test",
            severities=["SEV1", "SEV2"],
        )
    run_id = site.start(incident_id=str(incident.id))
    site.wait(run_id, "waiting")
    assert site.run(run_id).run.incident_id == incident.id
    page = site.client.get(f"/incidents/{incident.id}").text
    assert f'href="/runs/{run_id}"' in page
    assert f'href="/incidents/{incident.id}"' in site.client.get(f"/runs/{run_id}").text


def test_an_anonymous_visitor_is_sent_to_log_in(site: Site) -> None:
    site.client.cookies.clear()
    answer = site.client.get("/runs/1")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")
    assert site.client.get("/runs/999999").status_code == 303
