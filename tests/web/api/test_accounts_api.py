"""``/api/v1/users``, ``/api/v1/tokens`` and ``/api/v1/audit``: admins only, every write audited,
secrets answered once (both stores; the app's lifespan is not run, so no task writes)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store.audit import list_audit

CONFIG = {
    "service": "t",
    "server": {"public_url": "https://ops.example.com"},
    "oncall": {"people": {"ana": {"name": "Ana"}, "bo": {"name": "Bo"}, "cy": {"name": "Cy"}}},
}
CANARY = "SECRETVALUE123"
ADMIN_ONLY = [
    ("get", "/api/v1/users", None),
    ("post", "/api/v1/users", {"person": "cy", "role": "viewer"}),
    ("patch", "/api/v1/users/bo", {"role": "viewer"}),
    ("post", "/api/v1/users/bo/reset", None),
    ("get", "/api/v1/tokens", None),
    ("post", "/api/v1/tokens", {"name": "x", "role": "viewer"}),
    ("delete", "/api/v1/tokens/1", None),
    ("get", "/api/v1/audit", None),
]


class Api:
    def __init__(self, client: TestClient, engine: Engine, tokens: dict[str, str]) -> None:
        self.client, self.engine, self.tokens = client, engine, tokens

    def call(self, method: str, path: str, *, as_: str = "admin", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"} if as_ in self.tokens else {}
        return self.client.request(method.upper(), path, headers=headers, **kwargs)

    def audit(self) -> list[Any]:
        with self.engine.begin() as conn:
            return list_audit(conn)


@pytest.fixture
def api(
    make_app: Callable[..., FastAPI], engine: Engine, store_url: str, clock: FrozenClock
) -> Api:
    """ana: admin, bo: responder (each with a personal token); no audit events yet."""
    now = clock.now()
    tokens = {}
    with engine.begin() as conn:
        for person, role in (("ana", Role.ADMIN), ("bo", Role.RESPONDER)):
            # No password: an argon2 hash per test would cost more than the test.
            accounts.add_account(conn, person=person, role=role, people=["ana", "bo"], now=now)
            _, tokens[role.value] = accounts.create_token(
                conn,
                name=f"{person}-laptop",
                role=role,
                person=person,
                expires_at=None,
                created_by="test",
                now=now,
            )
    app = make_app(store_url, config=Config.model_validate(CONFIG))
    return Api(TestClient(app), engine, tokens)


def test_anonymous_gets_401_and_a_responder_403_on_every_route(api: Api) -> None:
    for method, path, body in ADMIN_ONLY:
        anonymous = api.call(method, path, as_="nobody", json=body)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        responder = api.call(method, path, as_="responder", json=body)
        assert responder.status_code == 403, (method, path)
        assert "admin" in responder.json()["error"]["message"]
    assert api.audit() == []


def test_admin_lists_users(api: Api) -> None:
    answer = api.call("get", "/api/v1/users")
    assert answer.status_code == 200
    users = answer.json()["users"]
    assert [
        (u["person"], u["name"], u["role"], u["has_password"], u["disabled"]) for u in users
    ] == [
        ("ana", "Ana", "admin", False, False),
        ("bo", "Bo", "responder", False, False),
    ]


def test_admin_adds_a_user_and_gets_the_setup_link_once(api: Api, clock: FrozenClock) -> None:
    answer = api.call("post", "/api/v1/users", json={"person": "cy", "role": "viewer"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    found = re.fullmatch(r"https://ops\.example\.com/setup/([A-Za-z0-9_-]{43})", body["setup_link"])
    assert found, body
    assert body["user"]["role"] == "viewer" and body["user"]["has_password"] is False
    with api.engine.begin() as conn:
        assert (
            accounts.complete_setup(conn, setup=found.group(1), password="y" * 12, now=clock.now())
            == "cy"
        )
    [event] = api.audit()
    assert (event.actor, event.action, event.subject, event.origin) == (
        "user:ana",
        "account.add",
        "account:cy",
        "api testclient",
    )
    assert found.group(1) not in json.dumps(event.detail)
    assert found.group(1) not in api.call("get", "/api/v1/users").text


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"person": "cy"}, "$.role", "is required"),
        ({"person": "cy", "role": CANARY}, "$.role", "is not a role"),
        ({"person": CANARY, "role": "viewer"}, "$.person", "not one of oncall.people"),
        ({"person": "bo", "role": "viewer"}, None, "already has an account"),
        ({"person": "cy", "role": "viewer", "password": CANARY}, "$.password", "not a known"),
    ],
)
def test_add_user_refuses_bad_bodies(api: Api, body: Any, field: str | None, message: str) -> None:
    answer = api.call("post", "/api/v1/users", json=body)
    assert answer.status_code in (400, 409)
    error = answer.json()["error"]
    assert message in error["message"]
    if field is not None:
        assert error["field"] == field
    assert CANARY not in answer.text and "bo already" not in answer.text
    assert api.audit() == []


def test_admin_changes_role_and_disables(api: Api) -> None:
    answer = api.call("patch", "/api/v1/users/bo", json={"role": "viewer", "disabled": True})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["role"], answer.json()["disabled"]) == ("viewer", True)
    # A disabled person's token stops working at once.
    assert api.call("get", "/api/v1/users", as_="responder").status_code == 401
    assert [e.action for e in reversed(api.audit())] == ["account.role", "account.disable"]
    assert (
        api.call("patch", "/api/v1/users/bo", json={"disabled": False}).json()["disabled"] is False
    )
    assert api.audit()[0].action == "account.enable"


def test_the_last_admin_cannot_be_removed_through_the_api(api: Api) -> None:
    answer = api.call("patch", "/api/v1/users/ana", json={"role": "responder"})
    assert answer.status_code == 409
    assert "no enabled admin" in answer.json()["error"]["message"]
    assert api.call("get", "/api/v1/users").status_code == 200  # still an admin
    assert api.audit() == []


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (f"/api/v1/users/{CANARY}", {"role": "viewer"}, 404, "person"),
        ("/api/v1/users/bo", {}, 400, "$"),
        ("/api/v1/users/bo", {"disabled": CANARY}, 400, "$.disabled"),
    ],
)
def test_update_user_refuses(api: Api, path: str, body: Any, status: int, field: str) -> None:
    answer = api.call("patch", path, json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["field"] == field
    assert CANARY not in answer.text


def test_reset_answers_a_new_link(api: Api) -> None:
    answer = api.call("post", "/api/v1/users/bo/reset")
    assert answer.status_code == 200
    assert answer.json()["setup_link"].startswith("https://ops.example.com/setup/")
    assert api.audit()[0].action == "account.reset"
    missing = api.call("post", f"/api/v1/users/{CANARY}/reset")
    assert missing.status_code == 404 and CANARY not in missing.text


def test_admin_creates_a_token_and_sees_the_secret_once(api: Api, clock: FrozenClock) -> None:
    answer = api.call("post", "/api/v1/tokens", json={"name": "ci", "role": "responder"})
    assert answer.status_code == 201, answer.text
    secret = answer.json()["secret"]
    token = answer.json()["token"]
    assert datetime.fromisoformat(token["expires_at"]) == clock.now() + timedelta(days=90)
    assert token["created_by"] == "user:ana" and token["person"] is None
    api.tokens["ci"] = secret
    assert api.call("get", "/api/v1/users", as_="ci").status_code == 403  # a valid responder token
    listed = api.call("get", "/api/v1/tokens")
    assert secret not in listed.text
    assert [t["name"] for t in listed.json()["tokens"]] == ["ana-laptop", "bo-laptop", "ci"]
    [event] = api.audit()
    assert (event.actor, event.action, event.origin) == (
        "user:ana",
        "token.create",
        "api testclient",
    )
    assert secret not in json.dumps(event.detail)


def test_a_token_with_null_expiry_never_expires(api: Api) -> None:
    body = {"name": "grafana", "role": "viewer", "expires_in_days": None}
    assert api.call("post", "/api/v1/tokens", json=body).json()["token"]["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "role": "viewer"}, "$.name"),
        ({"name": "x", "role": "viewer", "expires_in_days": 0}, "$.expires_in_days"),
        ({"name": "x", "role": "admin", "person": "bo"}, "$.role"),
        ({"name": "x", "role": "viewer", "person": CANARY}, "$.person"),
        ({"name": CANARY * 10, "role": "viewer"}, "$.name"),
    ],
)
def test_create_token_refuses_bad_bodies(api: Api, body: Any, field: str) -> None:
    answer = api.call("post", "/api/v1/tokens", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field
    assert CANARY not in answer.text and "bo is a" not in answer.text
    assert api.audit() == []


def test_admin_revokes_a_token(api: Api) -> None:
    answer = api.call("delete", "/api/v1/tokens/2")
    assert answer.status_code == 200
    assert answer.json()["token"]["state"] == "revoked"
    assert api.call("get", "/api/v1/tokens", as_="responder").status_code == 401
    [event] = api.audit()
    assert (event.action, event.subject, event.actor) == ("token.revoke", "token:2", "user:ana")
    missing = api.call("delete", "/api/v1/tokens/99")
    assert missing.status_code == 404 and "99" not in missing.json()["error"]["message"]


def test_admin_reads_the_audit_log_newest_first(api: Api) -> None:
    api.call("post", "/api/v1/tokens", json={"name": "ci", "role": "viewer"})
    api.call("post", "/api/v1/users/bo/reset")
    answer = api.call("get", "/api/v1/audit?limit=1")
    assert answer.status_code == 200
    [event] = answer.json()["events"]
    assert (event["action"], event["actor"], event["origin"]) == (
        "account.reset",
        "user:ana",
        "api testclient",
    )
    assert api.call("get", "/api/v1/audit?limit=0").status_code == 400
