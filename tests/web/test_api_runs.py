"""Runbook runs through the API (issue 13), on both stores: a run executes in the background on
the app's event loop; write steps wait for a confirmation, danger steps for another person's
approval, manual steps for a tick; a viewer changes nothing; no answer carries a secret."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.config import Config
from opsbook.incidents.service import declare
from opsbook.notify import Deliverer
from opsbook.runbooks.registry import Loaded, load_folder
from paging_servers import Pager

CANARY = "CanaryPw-7q2x"
TOKEN_CANARY = "TokCanary-88aa"
ENV_CANARY = "EnvCanary-5d3e"
CONFIG: dict[str, Any] = {
    "service": "t",
    "runbooks": {
        "databases": {"main": {"dsn": f"postgresql://app:{CANARY}@127.0.0.1:1/app"}},
        "shell": {"timeout": "20s", "env": {"API_TOKEN": ENV_CANARY}},
    },
}
DIAG = f"""\
---
title: Diagnose
parameters:
  token: {{secret: true}}
  env: {{allowed: [prod, staging], default: prod}}
---
# Diagnose

```sh {{name=look}}
echo "looked at {{{{ env }}}}"
echo "pw {CANARY} token {{{{ token }}}}"
echo "env $API_TOKEN"
```

```sh {{name=fix risk=write}}
echo fixed
```

- [ ] Tell the team

```sh {{name=drop risk=danger}}
echo dropped
```
"""
SLOW = """\
---
title: Slow
---
```sh {name=first}
echo first-done
```

```sh {name=nap}
sleep 30
```
"""
PEOPLE = {"rea": Role.RESPONDER, "rob": Role.RESPONDER, "vic": Role.VIEWER}
Answers = list[str]


@pytest.fixture
def served(
    make_app: Callable[..., FastAPI], store_url: str, tmp_path: Path
) -> Iterator[tuple[TestClient, dict[str, str], Answers]]:
    app = _app(make_app, store_url, tmp_path, CONFIG)
    with _serve(app) as served:
        yield served


def _app(
    make_app: Callable[..., FastAPI], store_url: str, tmp_path: Path, config: dict[str, Any]
) -> FastAPI:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "diag.md").write_text(DIAG)
    (folder / "slow.md").write_text(SLOW)
    registry, problems = load_folder(folder, databases={"main"})
    assert not problems
    return make_app(
        store_url,
        config=Config.model_validate(config),
        runbooks=Loaded(registry, tuple(problems), folder),
    )


@contextmanager
def _serve(app: FastAPI) -> Iterator[tuple[TestClient, dict[str, str], Answers]]:
    answers: Answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        tokens = {}
        with services.engine.begin() as conn:
            for person, role in PEOPLE.items():
                accounts.add_account(
                    conn, person=person, role=role, people=set(PEOPLE), now=services.clock.now()
                )
                _, tokens[person] = accounts.create_token(
                    conn,
                    name=person,
                    role=role,
                    person=person,
                    expires_at=None,
                    created_by="test",
                    now=services.clock.now(),
                )
        original = client.request

        def recording(*args: Any, **kwargs: Any) -> Any:
            response = original(*args, **kwargs)
            answers.append(response.text)
            return response

        client.request = recording  # type: ignore[method-assign]
        yield client, tokens, answers


def call(
    client: TestClient, tokens: dict[str, str], who: str, method: str, path: str, body: Any = None
) -> Any:
    headers = {"Authorization": f"Bearer {tokens[who]}"}
    return client.request(method, path, json=body, headers=headers)


def wait_for(
    client: TestClient, tokens: dict[str, str], run_id: int, *states: str
) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        run = call(client, tokens, "rea", "GET", f"/api/v1/runs/{run_id}").json()
        if run["state"] in states:
            return run  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def start(client: TestClient, tokens: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = call(client, tokens, "rea", "POST", "/api/v1/runbooks/diag/runs", body)
    assert answer.status_code == 202, answer.text
    return answer.json()  # type: ignore[no-any-return]


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step_id"]: s for s in run["steps"]}


def test_a_read_step_runs_and_its_output_is_in_the_run(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, answers = served
    started = start(
        client, tokens, {"steps": ["look"], "params": {"token": TOKEN_CANARY, "env": "staging"}}
    )
    assert started["runbook"] == "diag"
    assert started["created_by"] == "user:rea"
    run = wait_for(client, tokens, started["id"], "succeeded")
    look = steps_of(run)["look"]
    assert look["state"] == "ok"
    assert look["exit_code"] == 0
    assert "looked at staging" in look["output"]
    assert "pw *** token ***" in look["output"]
    assert run["params"]["token"] == "***"
    listed = call(client, tokens, "vic", "GET", "/api/v1/runs?runbook=diag&limit=5").json()
    assert [r["id"] for r in listed["runs"]] == [started["id"]]
    assert all(CANARY not in a and TOKEN_CANARY not in a for a in answers)


def test_a_write_step_waits_for_a_confirmation_then_runs(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, answers = served
    started = start(client, tokens, {"steps": ["look", "fix"], "params": {"token": "t0k3n"}})
    run = wait_for(client, tokens, started["id"], "waiting")
    assert steps_of(run)["look"]["state"] == "ok"
    assert steps_of(run)["fix"]["state"] == "waiting_confirmation"
    confirmed = call(
        client, tokens, "rob", "POST", f"/api/v1/runs/{started['id']}/steps/fix/confirm"
    )
    assert confirmed.status_code == 200, confirmed.text
    run = wait_for(client, tokens, started["id"], "succeeded")
    fix = steps_of(run)["fix"]
    assert (fix["state"], fix["confirmed_by"], fix["output"]) == ("ok", "user:rob", "fixed\n")
    again = call(client, tokens, "rob", "POST", f"/api/v1/runs/{started['id']}/steps/fix/confirm")
    assert again.status_code == 409
    assert all(CANARY not in a for a in answers)


def test_a_manual_step_waits_for_a_tick(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, _ = served
    runbook = call(client, tokens, "rea", "GET", "/api/v1/runbooks/diag").json()
    manual = next(s["id"] for s in runbook["steps"] if s["kind"] == "manual")
    started = start(client, tokens, {"steps": [manual]})
    run = wait_for(client, tokens, started["id"], "waiting")
    assert steps_of(run)[manual]["state"] == "pending"
    ticked = call(
        client,
        tokens,
        "rea",
        "POST",
        f"/api/v1/runs/{started['id']}/steps/{manual}/tick",
        {"note": "told them"},
    )
    assert ticked.status_code == 200, ticked.text
    run = wait_for(client, tokens, started["id"], "succeeded")
    assert (steps_of(run)[manual]["done_by"], steps_of(run)[manual]["note"]) == (
        "user:rea",
        "told them",
    )


def test_a_danger_step_needs_another_persons_approval(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, _ = served
    started = start(client, tokens, {"steps": ["drop"]})
    run_id = started["id"]
    run = wait_for(client, tokens, run_id, "waiting")
    assert steps_of(run)["drop"]["state"] == "waiting_approval"
    asked = call(client, tokens, "rea", "POST", f"/api/v1/runs/{run_id}/steps/drop/approval")
    assert asked.status_code == 201, asked.text
    approval = asked.json()["approvals"][0]
    assert approval["requested_by"] == "user:rea"
    mine = call(
        client, tokens, "rea", "POST", f"/api/v1/approvals/{approval['id']}", {"approve": True}
    )
    assert mine.status_code == 403
    assert "no self-approval" in mine.json()["error"]["message"]
    assert wait_for(client, tokens, run_id, "waiting")["state"] == "waiting"
    other = call(
        client, tokens, "rob", "POST", f"/api/v1/approvals/{approval['id']}", {"approve": True}
    )
    assert other.status_code == 200, other.text
    run = wait_for(client, tokens, run_id, "succeeded")
    assert steps_of(run)["drop"]["output"] == "dropped\n"
    assert run["approvals"][0]["decided_by"] == "user:rob"


def test_asking_for_an_approval_sends_its_announcement_at_once(
    make_app: Callable[..., FastAPI],
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The deliverer polls only every 5 minutes here: the announcement arrives within seconds
    # only if the route wakes it after the commit.
    monkeypatch.setattr(
        "opsbook.web.app.Deliverer", partial(Deliverer, poll_every=timedelta(minutes=5))
    )
    pager = Pager()
    try:
        config = {
            **CONFIG,
            "channels": {"approvers": {"webhook": {"url": pager.url}}},
            "runbooks": {**CONFIG["runbooks"], "approvals": {"channels": ["approvers"]}},
        }
        app = _app(make_app, store_url, tmp_path, config)
        with _serve(app) as (client, tokens, _):
            run_id = start(client, tokens, {"steps": ["drop"]})["id"]
            wait_for(client, tokens, run_id, "waiting")
            deliverer = app.state.services.deliverer
            deadline = time.monotonic() + 10
            while deliverer.waits == 0:  # its first pass is over: it sleeps until woken
                assert time.monotonic() < deadline, "the deliverer never went idle"
                time.sleep(0.02)
            asked = call(
                client, tokens, "rea", "POST", f"/api/v1/runs/{run_id}/steps/drop/approval"
            )
            assert asked.status_code == 201, asked.text
            deadline = time.monotonic() + 10
            while not pager.bodies:
                assert time.monotonic() < deadline, "the approval request was not sent at once"
                time.sleep(0.02)
        [body] = pager.bodies
        assert (body["type"], body["run"]["id"], body["step"]["id"]) == (
            "runbook_approval",
            run_id,
            "drop",
        )
    finally:
        pager.close()


def test_a_running_run_is_cancelled(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, _ = served
    answer = call(client, tokens, "rea", "POST", "/api/v1/runbooks/slow/runs", {})
    run_id = answer.json()["id"]
    deadline = time.monotonic() + 10
    while (
        steps_of(call(client, tokens, "rea", "GET", f"/api/v1/runs/{run_id}").json())["nap"][
            "state"
        ]
        != "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    cancelled = call(client, tokens, "rea", "POST", f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert time.monotonic() - t0 < 10
    assert cancelled.json()["state"] == "cancelled"
    assert steps_of(cancelled.json())["nap"]["state"] == "cancelled"
    assert steps_of(cancelled.json())["first"]["output"] == "first-done\n"
    again = call(client, tokens, "rea", "POST", f"/api/v1/runs/{run_id}/cancel")
    assert again.status_code == 409


def test_events_stream_the_output_and_end_with_the_run(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, _ = served
    started = start(client, tokens, {"steps": ["look"], "params": {"token": TOKEN_CANARY}})
    headers = {"Authorization": f"Bearer {tokens['vic']}"}
    with client.stream("GET", f"/api/v1/runs/{started['id']}/events", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    assert "event: step" in text
    assert text.rstrip().splitlines()[-2:] == ["event: end", 'data: {"state": "succeeded"}']
    assert TOKEN_CANARY not in text and CANARY not in text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/runbooks/diag/runs", {"steps": ["look"]}),
        ("POST", "/api/v1/runs/1/steps/fix/confirm", None),
        ("POST", "/api/v1/runs/1/steps/x/tick", {}),
        ("POST", "/api/v1/runs/1/steps/drop/approval", None),
        ("POST", "/api/v1/approvals/1", {"approve": True}),
        ("POST", "/api/v1/runs/1/cancel", None),
    ],
)
def test_a_viewer_changes_nothing(
    served: tuple[TestClient, dict[str, str], Answers], method: str, path: str, body: Any
) -> None:
    client, tokens, _ = served
    assert call(client, tokens, "vic", method, path, body).status_code == 403


def test_errors_name_the_field_and_never_echo_values(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, _ = served
    unknown = call(client, tokens, "rea", "POST", "/api/v1/runbooks/nope/runs", {})
    assert unknown.status_code == 404
    bad_step = call(
        client, tokens, "rea", "POST", "/api/v1/runbooks/diag/runs", {"steps": ["look", CANARY]}
    )
    assert bad_step.status_code == 400
    assert bad_step.json()["error"]["field"] == "$.steps[1]"
    bad_param = call(
        client,
        tokens,
        "rea",
        "POST",
        "/api/v1/runbooks/diag/runs",
        {"steps": ["look"], "params": {"token": "t", "env": CANARY}},
    )
    assert bad_param.status_code == 400
    assert bad_param.json()["error"]["field"] == "params.env"
    extra = call(client, tokens, "rea", "POST", "/api/v1/runbooks/diag/runs", {"step": ["x"]})
    assert extra.status_code == 400
    no_run = call(client, tokens, "rea", "GET", "/api/v1/runs/999")
    assert no_run.status_code == 404
    assert "999" in no_run.json()["error"]["message"]
    run = start(client, tokens, {"steps": ["fix"]})
    wait_for(client, tokens, run["id"], "waiting")
    no_step = call(client, tokens, "rea", "POST", f"/api/v1/runs/{run['id']}/steps/zz/confirm")
    assert no_step.status_code == 404
    no_incident = call(
        client, tokens, "rea", "POST", "/api/v1/runbooks/diag/runs", {"incident_id": 77}
    )
    assert no_incident.status_code == 400
    assert all(CANARY not in t for t in (bad_step.text, bad_param.text))


def test_a_dry_run_records_nothing(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, answers = served
    answer = call(
        client,
        tokens,
        "rea",
        "POST",
        "/api/v1/runbooks/diag/runs",
        {"steps": ["look", "fix"], "params": {"token": TOKEN_CANARY}, "dry_run": True},
    )
    assert answer.status_code == 200, answer.text
    steps = {s["step_id"]: s for s in answer.json()["steps"]}
    assert steps["fix"]["gate"] == "confirm"
    assert "not run" in steps["fix"]["output"]
    assert call(client, tokens, "rea", "GET", "/api/v1/runs").json()["runs"] == []
    assert all(CANARY not in a and TOKEN_CANARY not in a for a in answers)


def test_a_dry_run_for_an_incident_shows_the_gate_the_real_run_would_apply(
    make_app: Callable[..., FastAPI], store_url: str, tmp_path: Path
) -> None:
    config = {
        **CONFIG,
        "runbooks": {**CONFIG["runbooks"], "approvals": {"write_during": ["SEV1"]}},
    }
    app = _app(make_app, store_url, tmp_path, config)
    with _serve(app) as (client, tokens, _):
        services = app.state.services
        with services.engine.begin() as conn:
            sev1 = declare(
                conn, title="down", severity="SEV1", actor="user:rea", now=services.clock.now()
            ).id
            sev3 = declare(
                conn, title="slow", severity="SEV3", actor="user:rea", now=services.clock.now()
            ).id

        def gates(**extra: Any) -> Any:
            body = {"steps": ["fix", "drop"], "dry_run": True, **extra}
            return call(client, tokens, "rea", "POST", "/api/v1/runbooks/diag/runs", body)

        def by_step(answer: Any) -> dict[str, str]:
            assert answer.status_code == 200, answer.text
            return {s["step_id"]: s["gate"] for s in answer.json()["steps"]}

        # During a SEV1 a write step needs another person's approval, as the real run would.
        assert by_step(gates(incident_id=sev1)) == {"fix": "approve", "drop": "approve"}
        assert by_step(gates(incident_id=sev3)) == {"fix": "confirm", "drop": "approve"}
        assert by_step(gates()) == {"fix": "confirm", "drop": "approve"}
        unknown = gates(incident_id=sev1 + 100)
        assert unknown.status_code == 400
        assert unknown.json()["error"]["field"] == "$.incident_id"
        assert call(client, tokens, "rea", "GET", "/api/v1/runs").json()["runs"] == []


def test_a_shell_env_secret_is_masked_in_output_answers_and_logs(
    served: tuple[TestClient, dict[str, str], Answers],
) -> None:
    client, tokens, answers = served
    with structlog.testing.capture_logs() as logs:
        started = start(client, tokens, {"steps": ["look"], "params": {"token": TOKEN_CANARY}})
        run = wait_for(client, tokens, started["id"], "succeeded")
        shown = call(client, tokens, "rea", "GET", f"/api/v1/runs/{started['id']}")
    assert "env ***\n" in steps_of(run)["look"]["output"]
    assert ENV_CANARY not in shown.text
    assert not [a for a in answers if ENV_CANARY in a]
    assert ENV_CANARY not in repr(logs)
