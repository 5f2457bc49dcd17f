"""Every route x role, against the table in docs/permissions.md (issue 12).

The table is the rule: each row is requested as anonymous, viewer, responder and admin, and the
server must let in exactly the roles the row names (a 401 or 403 is "kept out"; any other answer,
a 400 for the empty body included, is "let in"). A route in the OpenAPI document that the table
does not list fails the test, so a new route cannot ship open by accident.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.config import Config

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
AM_TOKEN = "am-token-0123456789abcdef"
CONFIG: dict[str, Any] = {
    "service": "t",
    "checks": {"worker": {"heartbeat": {"period": "5m"}}},
    "integrations": {
        "prom": {"alertmanager": {"token": AM_TOKEN}},
        "hook": {"webhook": {"token": "hook-token-0123456789"}},
    },
    "oncall": {
        "people": {p: {"name": p.title()} for p in ("vic", "rea", "ada", "ana")},
        "schedules": {"primary": {"layers": [{"rotation": "weekly", "people": ["ana"]}]}},
    },
}
PATH_VALUES = {
    "check_id": "worker",
    "schedule": "primary",
    "person": "ana",
    "name": "prom",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "token": "not-a-link",
    "silence_id": "00000000-0000-4000-8000-000000000001",
    # Not a token the fixture made: the DELETE row must not revoke the tokens the test uses.
    "token_id": "999999",
}
ROLES: dict[str, Role | None] = {
    "anonymous": None,
    "viewer": Role.VIEWER,
    "responder": Role.RESPONDER,
    "admin": Role.ADMIN,
}
KEPT_OUT = (401, 403)
# Routes that are not in the OpenAPI document (the document itself, its page, the ping and
# signed-link routes, which answer plain text and HTML).
UNDOCUMENTED = {"/docs", "/openapi.json", "/ping/{uuid}", "/ack/{token}"}


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    access: str

    @property
    def path(self) -> str:
        values = {**PATH_VALUES, "name": "hook"} if self.route.endswith("webhook") else PATH_VALUES
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), self.route)


def rows() -> list[Row]:
    text = DOC.read_text()
    table = text.split("<!-- permissions:start -->")[1].split("<!-- permissions:end -->")[0]
    found = []
    for line in table.strip().splitlines()[2:]:
        methods, route, access = (cell.strip() for cell in line.strip("|").split("|"))
        path = route.split("`")[1]
        found.extend(Row(m.strip(), path, access) for m in methods.split(","))
    return found


def allowed(access: str, role: Role | None) -> bool:
    if access in ("public",):
        return True
    if access == "integration" or role is None:
        return False
    return role.allows(Role(access))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from opsbook.web import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('perm') / 'opsbook.db'}"
    app: FastAPI = create_app(Config.model_validate(CONFIG), environ={"OPSBOOK_DATABASE_URL": url})
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        now = services.clock.now()
        tokens: dict[str, str] = {}
        with services.engine.begin() as conn:
            for person, role in (
                ("vic", Role.VIEWER),
                ("rea", Role.RESPONDER),
                ("ada", Role.ADMIN),
            ):
                accounts.add_account(
                    conn, person=person, role=role, people=CONFIG["oncall"]["people"], now=now
                )
                _, tokens[role.value] = accounts.create_token(
                    conn,
                    name=person,
                    role=role,
                    person=person,
                    expires_at=None,
                    created_by="test",
                    now=now,
                )
        yield client, tokens
    services.engine.dispose()


def _send(client: TestClient, row: Row, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None if row.method in ("GET", "HEAD", "DELETE") else {}
    return client.request(row.method, row.path, json=body, headers=headers).status_code


@pytest.mark.parametrize("row", rows(), ids=lambda r: f"{r.method} {r.route}")
def test_each_route_lets_in_exactly_the_roles_the_table_names(
    served: tuple[TestClient, dict[str, str]], row: Row
) -> None:
    client, tokens = served
    answers = {}
    for name, role in ROLES.items():
        status = _send(client, row, tokens[role.value] if role else None)
        answers[name] = status
    if row.access == "integration":
        # No person's token opens an ingest route: each wants its integration's own credential
        # (a token, or PagerDuty's routing key in the body), so every role is refused.
        assert all(400 <= status < 500 for status in answers.values()), answers
        return
    wrong = {
        name: status
        for name, status in answers.items()
        if (status not in KEPT_OUT) != allowed(row.access, ROLES[name])
    }
    assert not wrong, f"{row.method} {row.route} ({row.access}) answered {answers}"


def test_the_table_lists_every_route_of_the_api(served: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = served
    spec = client.get("/openapi.json").json()
    served_routes = {
        (method.upper(), path) for path, ops in spec["paths"].items() for method in ops
    }
    listed = {(r.method, r.route) for r in rows()}
    assert served_routes - listed == set(), "routes missing from docs/permissions.md"
    stale = {(m, r) for m, r in listed - served_routes if r not in UNDOCUMENTED}
    assert stale == set(), "docs/permissions.md lists routes the server does not have"


def test_a_sessions_write_needs_its_csrf_token(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = served
    services = client.app.state.services  # type: ignore[attr-defined]
    with services.engine.begin() as conn:
        cookie, csrf = accounts.open_session(
            conn, person="rea", address="testclient", now=services.clock.now()
        )
    client.cookies.set("opsbook_session", cookie)
    try:
        assert client.get("/api/v1/incidents").status_code == 200
        body = {"title": "Checkout down", "severity": "SEV1"}
        refused = client.post("/api/v1/incidents", json=body)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]["message"]
        wrong = client.post("/api/v1/incidents", json=body, headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status_code == 403
        made = client.post("/api/v1/incidents", json=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        assert made.json()["declared_by"] == "user:rea"
    finally:
        client.cookies.clear()


def test_a_bad_token_is_refused_not_treated_as_anonymous(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = served
    answer = client.get("/api/v1/checks", headers={"Authorization": "Bearer opb_forged"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "opb_forged" not in answer.text
    assert (
        client.get(
            "/api/v1/checks", headers={"Authorization": f"Bearer {tokens['viewer']}"}
        ).status_code
        == 200
    )
