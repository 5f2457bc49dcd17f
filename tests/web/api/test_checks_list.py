"""GET /api/v1/checks"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_it_lists_every_configured_check_with_its_state(api: TestClient) -> None:
    response = api.get("/api/v1/checks")
    assert response.status_code == 200
    checks = {c["id"]: c for c in response.json()["checks"]}
    assert list(checks) == ["api", "db"]
    assert checks["api"]["kind"] == "http"
    assert checks["api"]["target"] == "http://127.0.0.1:1/healthz"
    assert checks["api"]["state"] == "up"
    assert checks["api"]["last_latency_ms"] == 20.0
    assert checks["api"]["last_result_at"] == "2026-11-22T11:59:30Z"
    assert checks["api"]["state_since"] == "2026-11-22T10:10:00Z"
    assert checks["api"]["availability_24h"] == pytest.approx(100 * (1 - 600 / 86400))


def test_a_check_without_results_says_so(api: TestClient) -> None:
    db = next(c for c in api.get("/api/v1/checks").json()["checks"] if c["id"] == "db")
    assert db["state"] is None
    assert db["availability_24h"] is None


def test_targets_never_show_secrets(api: TestClient, secret: str) -> None:
    response = api.get("/api/v1/checks")
    assert secret not in response.text
    assert "postgresql://app:***@127.0.0.1:1/app" in response.text


def test_wrong_method_is_405(api: TestClient) -> None:
    response = api.post("/api/v1/checks")
    assert response.status_code == 405
    assert response.json()["error"]["message"] == "Method Not Allowed"
