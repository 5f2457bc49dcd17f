"""GET /api/v1/runbooks and /api/v1/runbooks/{name}: the runbooks the server loaded at start,
with load problems listed, secrets masked and a secret parameter's default never returned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from auth_helpers import authorize
from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.clock import FrozenClock
from opsbook.config import load
from opsbook.runbooks.registry import load_for_config
from opsbook.store import create_engine, upgrade
from opsbook.web import create_app

SECRET = "S3cretPw-9z"
CONFIG = f"""\
service: shop
runbooks:
  path: runbooks
  databases:
    main: {{dsn: "postgresql://app:{SECRET}@127.0.0.1:1/app"}}
"""
DB_POOL = """\
---
title: Database pool exhausted
description: Connections run out.
tags: [db, sev2]
parameters:
  minutes:
    type: int
    default: 5
    allowed: [5, 10]
    description: How far back
  api_key:
    type: string
    default: hunter2-default
    secret: true
    description: The vendor's key
---
# Database pool exhausted

## Diagnose

```sql {name=pool-usage db=main timeout=30s}
SELECT count(*) FROM pg_stat_activity
WHERE state_change > now() - make_interval(mins => {{ minutes }})
```

```sh {name=vendor-status}
curl -sS -H "X-Key: {{ api_key }}" https://status.example.com/ -u app:S3cretPw-9z
psql "postgresql://app:S3cretPw-9z@127.0.0.1:1/app" -c 'select 1'
```

## Fix

```sql {name=kill-idle db=main}
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction'
```

- [ ] Tell the channel what was terminated
"""
BROKEN = """\
---
title: Broken
---
```sh {name=x risk=maybe}
echo hi
```
"""


def write_config(tmp_path: Path, *, broken: bool = False) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "db-pool.md").write_text(DB_POOL, encoding="utf-8")
    if broken:
        (folder / "broken.md").write_text(BROKEN, encoding="utf-8")
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def client_for(config_file: Path, role: Role = Role.VIEWER) -> TestClient:
    url = f"sqlite:///{config_file.parent / 'opsbook.db'}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    config = load(config_file, environ={})
    app = create_app(
        config,
        environ={"OPSBOOK_DATABASE_URL": url},
        clock=FrozenClock(CLI_NOW),
        registry=CollectorRegistry(),
        runbooks=load_for_config(config_file, config, environ={}),
    )
    return authorize(TestClient(app), role)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    client = client_for(write_config(tmp_path, broken=True))
    yield client
    client.app.state.services.engine.dispose()  # type: ignore[attr-defined]


def test_it_lists_the_loaded_runbooks_with_steps_by_risk(api: TestClient) -> None:
    answer = api.get("/api/v1/runbooks")
    assert answer.status_code == 200
    body = answer.json()
    assert [r["name"] for r in body["runbooks"]] == ["db-pool"]
    found = body["runbooks"][0]
    assert found["title"] == "Database pool exhausted"
    assert found["tags"] == ["db", "sev2"]
    assert found["path"] == "db-pool.md"
    assert found["schedule"] is None
    assert found["steps_by_risk"] == {"read": 3, "write": 0, "danger": 1}
    assert len(found["digest"]) == 64


def test_it_lists_the_load_errors_of_the_files_left_out(api: TestClient) -> None:
    errors = api.get("/api/v1/runbooks").json()["errors"]
    assert len(errors) == 1
    assert errors[0].startswith("runbooks/broken.md:4:")
    assert "risk" in errors[0]


def test_it_shows_one_runbook_with_its_steps_and_parameters(api: TestClient) -> None:
    answer = api.get("/api/v1/runbooks/db-pool")
    assert answer.status_code == 200
    body = answer.json()
    assert body["sections"] == ["Diagnose", "Fix"]
    steps = {s["id"]: s for s in body["steps"]}
    assert list(steps) == ["pool-usage", "vendor-status", "kill-idle", "step-4"]
    pool = steps["pool-usage"]
    assert pool["kind"] == "sql"
    assert pool["risk"] == "read"
    assert pool["db"] == "main"
    assert pool["timeout_s"] == 30.0
    assert pool["params"] == ["minutes"]
    assert pool["section"] == "Diagnose"
    assert pool["line"] == 21
    assert "{{ minutes }}" in pool["text"]
    kill = steps["kill-idle"]
    assert kill["risk"] == "danger"
    assert kill["risk_reason"]
    assert steps["step-4"]["kind"] == "manual"
    params = {p["name"]: p for p in body["parameters"]}
    assert params["minutes"] == {
        "name": "minutes",
        "type": "int",
        "default": 5,
        "required": False,
        "allowed": [5, 10],
        "description": "How far back",
        "secret": False,
    }


def test_it_never_returns_a_secret(api: TestClient) -> None:
    answer = api.get("/api/v1/runbooks/db-pool")
    assert SECRET not in answer.text
    assert "hunter2-default" not in answer.text
    body = answer.json()
    assert {p["name"]: p for p in body["parameters"]}["api_key"]["default"] is None
    vendor = next(s for s in body["steps"] if s["id"] == "vendor-status")
    assert "app:" in vendor["text"]
    assert SECRET not in api.get("/api/v1/runbooks").text


def test_an_unknown_runbook_is_404_naming_name(api: TestClient) -> None:
    answer = api.get("/api/v1/runbooks/no-such-runbook")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["field"] == "name"
    assert "no-such-runbook" not in answer.text


def test_it_needs_a_token(api: TestClient) -> None:
    del api.headers["Authorization"]
    assert api.get("/api/v1/runbooks").status_code == 401
    assert api.get("/api/v1/runbooks/db-pool").status_code == 401


def test_it_refuses_other_methods(api: TestClient) -> None:
    assert api.post("/api/v1/runbooks", json={}).status_code == 405
    assert api.delete("/api/v1/runbooks/db-pool").status_code == 405


def test_an_app_built_without_runbooks_lists_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(
        load(write_config(tmp_path), environ={}),
        environ={"OPSBOOK_DATABASE_URL": url},
        registry=CollectorRegistry(),
    )
    client = authorize(TestClient(app), Role.VIEWER)
    try:
        assert client.get("/api/v1/runbooks").json() == {"runbooks": [], "errors": []}
        assert client.get("/api/v1/runbooks/db-pool").status_code == 404
    finally:
        app.state.services.engine.dispose()


def test_the_routes_are_in_the_openapi_document(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert "/api/v1/runbooks" in paths
    assert "/api/v1/runbooks/{name}" in paths
    ok = paths["/api/v1/runbooks/{name}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/RunbookRead")
    assert "404" in paths["/api/v1/runbooks/{name}"]["get"]["responses"]
