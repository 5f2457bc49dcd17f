"""A rejected value in a request body is never echoed back (it may be a secret pasted in the
wrong place): each error names the field and what it accepts. Every write route with a JSON
body gets, in each string field its body schema describes (top level, and inside arrays of
strings or objects), canaries that are invalid there; no answer may carry one. The ingest
routes have their own tests (tests/web/test_api_ingest_hostile.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from auth_helpers import authorize
from opsbook.config import Config
from opsbook.web import create_app
from opsbook.web.api import accounts as accounts_api
from opsbook.web.api import alerts as alerts_api
from opsbook.web.api import incidents as incidents_api
from opsbook.web.api import runs as runs_api
from opsbook.web.api import status_subscribers as status_subscribers_api
from opsbook.web.api import statuspage as statuspage_api

CANARY = "SECRETVALUE123"
# Each is invalid in some field: not a matcher, a label name or a severity, a regex that does not
# compile (one whose error would quote a part of it), a broken escape, an unknown silence id, a
# duration or date it is not; the long one is over every free-text field's limit. A value a
# field accepts is stored and shown, which is fine: only refusals are checked.
CANARIES = (
    f'{CANARY}=~"("',
    f'x=~"{CANARY}("',
    f'x=~"(?P<{CANARY}!>y)"',
    f'x="{CANARY}\\q"',
    f"9{CANARY}",
    f"{CANARY} " + "x" * 5000,
)
Path = tuple[str | int, ...]
TOKEN = "am-token-0123456789abcdef"
CONFIG: dict[str, Any] = {
    "service": "t",
    "integrations": {"prometheus": {"alertmanager": {"token": TOKEN}}},
    "components": {"web": {"name": "Website"}},
    "oncall": {
        "people": {"ana": {"name": "Ana"}},
        "schedules": {"primary": {"rotation": "weekly", "people": ["ana"]}},
    },
}
SKIPPED_TAGS = {"ingest"}
WRITES = {"post", "put", "patch", "delete"}
MATCHER = {"name": "alertname", "value": "api-.*", "isRegex": True}
# Free text with no limit takes any string, so no canary is refused there.
ANY_TEXT: set[Path] = {("summary",), ("message",)}
# A body each route accepts (on incident 1 and action item 1, made first); each case changes
# one string field of it. (ack, merge and done have no string field left: who acts is who is
# logged in.)
VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/silences"): {
        "matchers": [MATCHER],
        "duration": "1h",
        "comment": "deploy",
    },
    ("post", "/api/v2/silences"): {
        "matchers": [MATCHER],
        "startsAt": "2026-11-22T18:00:00Z",
        "endsAt": "2099-11-22T19:00:00Z",
        "createdBy": "ana",
        "comment": "deploy",
    },
    ("post", "/api/v1/incidents"): {"title": "API down", "severity": "SEV2"},
    ("post", "/api/v1/incidents/{incident_id}/updates"): {
        "status": "identified",
        "message": "bad deploy",
        "fields": {"impact": "checkout"},
    },
    ("post", "/api/v1/incidents/{incident_id}/notes"): {"message": "looking"},
    ("post", "/api/v1/incidents/{incident_id}/escalate"): {"reason": "data breach suspected"},
    ("post", "/api/v1/incidents/{incident_id}/severity"): {"severity": "SEV1"},
    ("post", "/api/v1/incidents/{incident_id}/roles"): {
        "role": "commander",
        "person": "ana",
    },
    ("post", "/api/v1/incidents/{incident_id}/reopen"): {"message": "again"},
    ("post", "/api/v1/incidents/{incident_id}/actions"): {
        "title": "add a canary deploy",
        "owner": "ana",
        "due": "2026-12-01",
    },
    ("post", "/api/v1/users"): {"person": "ana", "role": "responder"},
    ("patch", "/api/v1/users/{person}"): {"role": "viewer"},
    ("post", "/api/v1/tokens"): {"name": "ci", "role": "viewer"},
    ("post", "/api/v1/oncall/overrides"): {
        "schedule": "primary",
        "person": "ana",
        "duration": "1h",
    },
    # No runbook is loaded here: each is refused (404, 400) without repeating a value.
    ("post", "/api/v1/runbooks/{name}/runs"): {"steps": ["look"], "params": {}},
    ("post", "/api/v1/runs/{run_id}/steps/{step}/tick"): {"note": "done"},
    ("post", "/api/v1/incidents/{incident_id}/component-status"): {
        "component": "web",
        "status": "major_outage",
        "message": "checkout is down",
    },
    ("post", "/api/v1/status-page/subscribers"): {
        "url": "https://hooks.example/status",
        "components": ["web"],
    },
}
# Routes that read their body themselves (to word its errors) leave it out of the spec; these
# are the models they parse it with.
MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/api/v1/silences"): alerts_api.SilenceCreate,
    ("post", "/api/v1/incidents"): incidents_api.IncidentCreate,
    ("post", "/api/v1/incidents/{incident_id}/ack"): incidents_api.AckCreate,
    ("post", "/api/v1/incidents/{incident_id}/updates"): incidents_api.UpdateCreate,
    ("post", "/api/v1/incidents/{incident_id}/notes"): incidents_api.NoteCreate,
    ("post", "/api/v1/incidents/{incident_id}/escalate"): incidents_api.EscalateCreate,
    ("post", "/api/v1/incidents/{incident_id}/severity"): incidents_api.SeverityUpdate,
    ("post", "/api/v1/incidents/{incident_id}/roles"): incidents_api.RoleUpdate,
    ("post", "/api/v1/incidents/{incident_id}/merge"): incidents_api.MergeCreate,
    ("post", "/api/v1/incidents/{incident_id}/reopen"): incidents_api.ReopenCreate,
    ("post", "/api/v1/incidents/{incident_id}/actions"): incidents_api.ActionCreate,
    ("post", "/api/v1/actions/{action_id}/done"): incidents_api.ActionDone,
    ("post", "/api/v1/users"): accounts_api.UserCreate,
    ("patch", "/api/v1/users/{person}"): accounts_api.UserUpdate,
    ("post", "/api/v1/tokens"): accounts_api.TokenCreate,
    ("post", "/api/v1/runbooks/{name}/runs"): runs_api.RunCreate,
    ("post", "/api/v1/runs/{run_id}/steps/{step}/tick"): runs_api.TickCreate,
    ("post", "/api/v1/approvals/{approval_id}"): runs_api.ApprovalDecision,
    ("post", "/api/v1/incidents/{incident_id}/component-status"): (
        statuspage_api.ComponentStatusUpdate
    ),
    ("post", "/api/v1/status-page/subscribers"): status_subscribers_api.WebhookSubscriberCreate,
}
PATH_IDS = {
    "{incident_id}": "1",
    "{action_id}": "1",
    "{person}": "ana",
    "{name}": "diag",
    "{run_id}": "1",
    "{step}": "look",
}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return _resolve(defs[ref.rsplit("/", 1)[-1]], defs) if ref else schema


def string_paths(schema: dict[str, Any], defs: dict[str, Any], at: Path = ()) -> list[Path]:
    """Where a string goes in a body of ``schema``: object properties and the first item of an
    array, through ``anyOf`` branches and ``$ref``s."""
    schema = _resolve(schema, defs)
    found: list[Path] = []
    for branch in schema.get("anyOf", []):
        found += string_paths(branch, defs, at)
    kind = schema.get("type")
    if kind == "string" and at not in found:
        found.append(at)
    if kind == "array" and "items" in schema:
        found += string_paths(schema["items"], defs, (*at, 0))
    for name, prop in schema.get("properties", {}).items():
        found += string_paths(prop, defs, (*at, name))
    return found


def _body_schema(spec: dict[str, Any], method: str, path: str) -> tuple[dict[str, Any], dict]:
    content = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
    schema = content.get("schema", {})
    if "type" in schema or "$ref" in schema or "anyOf" in schema:
        return schema, spec.get("components", {}).get("schemas", {})
    model_schema = MODELS[(method, path)].model_json_schema()
    return model_schema, model_schema.get("$defs", {})


def _cases() -> list[tuple[str, str, Path]]:
    app = create_app(Config.model_validate(CONFIG), environ={"OPSBOOK_DATABASE_URL": "sqlite://"})
    try:
        spec = app.openapi()
    finally:
        app.state.services.engine.dispose()
    cases = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in WRITES or "requestBody" not in operation:
                continue
            if SKIPPED_TAGS & set(operation.get("tags", [])):
                continue
            schema, defs = _body_schema(spec, method, path)
            cases += [(method, path, where) for where in string_paths(schema, defs)]
    return cases


CASES = _cases()
ROUTES = sorted({(method, path) for method, path, _ in CASES})


def with_value(body: dict[str, Any], where: Path, value: str) -> dict[str, Any]:
    """``body`` with ``value`` at ``where`` (made if missing)."""
    out = copy.deepcopy(body)
    node: Any = out
    for step in where[:-1]:
        node = node[step]
    last = where[-1]
    if isinstance(node, list) and isinstance(last, int) and last >= len(node):
        node.append(value)
    else:
        node[last] = value
    return out


def test_every_write_route_with_a_body_has_a_valid_body_and_its_fields_are_found() -> None:
    assert set(ROUTES) == set(VALID)
    found = {(path, where) for _, path, where in CASES}
    assert ("/api/v1/silences", ("matchers", 0)) in found
    assert ("/api/v1/silences", ("matchers", 0, "name")) in found
    assert ("/api/v2/silences", ("matchers", 0, "value")) in found
    assert ("/api/v1/incidents", ("severity",)) in found
    assert ("/api/v1/incidents/{incident_id}/actions", ("due",)) in found


@pytest.fixture
def client(make_app: Callable[..., FastAPI], store_url: str) -> Iterator[TestClient]:
    app = make_app(store_url, config=Config.model_validate(CONFIG))
    with TestClient(app, raise_server_exceptions=False) as client:
        authorize(client)
        for title in ("API down", "DB slow"):
            created = client.post(
                "/api/v1/incidents", json={**VALID[("post", "/api/v1/incidents")], "title": title}
            )
            assert created.status_code == 201, created.text
        action = client.post(
            "/api/v1/incidents/1/actions",
            json=VALID[("post", "/api/v1/incidents/{incident_id}/actions")],
        )
        assert action.status_code == 201, action.text
        yield client


def _auth(url: str) -> dict[str, str]:
    """The Alertmanager-compatible routes take the integration's token; the rest, the admin
    token the client sends by default."""
    return {"Authorization": f"Bearer {TOKEN}"} if url.startswith("/api/v2/") else {}


@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_no_answer_echoes_a_rejected_body_value(
    client: TestClient, method: str, template: str
) -> None:
    url = template
    for name, value in PATH_IDS.items():
        url = url.replace(name, value)
    leaks, refused = [], set()
    for where in (w for m, p, w in CASES if (m, p) == (method, template)):
        for canary in CANARIES:
            body = with_value(VALID[(method, template)], where, canary)
            response = client.request(method.upper(), url, json=body, headers=_auth(url))
            assert response.status_code < 500, (where, canary, response.text)
            if response.status_code < 400:
                continue  # accepted: stored and shown back, as it should be
            refused.add(where)
            answer = response.text + repr(response.headers.items())
            if CANARY in answer:
                leaks.append((where, canary[:40], response.status_code, response.text[:300]))
    assert leaks == []
    # Every other string field refuses one of them (free text by its length): each was checked.
    assert {w for m, p, w in CASES if (m, p) == (method, template)} - ANY_TEXT <= refused


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"matchers": [f'{CANARY}=~"("'], "duration": "1h"},
            "$.matchers[0]: the value is not a regular expression",
        ),
        ({"matchers": ["x=y", f"9{CANARY}"], "duration": "1h"}, "$.matchers[1]: not a matcher"),
        ({"matchers": ["x=y"], "duration": CANARY}, "$.duration: not a duration"),
        ({"matchers": ["x=y"], "duration": "1h", "id": CANARY}, "$.id: no silence with this id"),
    ],
)
def test_a_silence_error_names_the_field_and_what_it_accepts(
    client: TestClient, body: dict[str, Any], message: str
) -> None:
    response = client.post("/api/v1/silences", json={"comment": "c", **body})
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["message"].startswith(message)
    assert CANARY not in response.text
