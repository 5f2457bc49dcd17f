"""GET /api/v1/checks/{check_id}/results?limit=&before="""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_it_pages_results_newest_first(api: TestClient) -> None:
    first = api.get("/api/v1/checks/api/results", params={"limit": 3}).json()
    assert [r["started_at"] for r in first["results"]] == [
        "2026-11-22T11:59:30Z",
        "2026-11-22T11:59:00Z",
        "2026-11-22T11:58:30Z",
    ]
    second = api.get(
        "/api/v1/checks/api/results", params={"limit": 3, "before": first["next_before"]}
    ).json()
    assert second["results"][0]["started_at"] == "2026-11-22T11:58:00Z"
    assert first["results"][0]["status"] == 200
    assert first["results"][0]["state"] == "up"


def test_failures_carry_their_error(api: TestClient) -> None:
    results = api.get("/api/v1/checks/api/results", params={"limit": 1000}).json()["results"]
    down = [r for r in results if r["state"] == "down"]
    assert len(down) == 20
    assert down[0]["error"] == "connect to 127.0.0.1:1 timed out after 1s"
    assert all(r["is_change"] for r in down)


def test_the_last_page_has_no_cursor(api: TestClient) -> None:
    body = api.get("/api/v1/checks/db/results").json()
    assert body == {"results": [], "next_before": None}


def test_an_unknown_check_is_404(api: TestClient) -> None:
    response = api.get("/api/v1/checks/nope/results")
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "check_id"


def test_a_bad_limit_is_400_naming_it(api: TestClient) -> None:
    response = api.get("/api/v1/checks/api/results", params={"limit": 0})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["field"], error["location"]) == ("query.limit", "query")
    assert error["message"] == "query.limit: Input should be greater than or equal to 1"


def test_a_bad_cursor_is_400_naming_it(api: TestClient) -> None:
    response = api.get("/api/v1/checks/api/results", params={"before": "abc"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "query.before"


def test_wrong_method_is_405(api: TestClient) -> None:
    assert api.post("/api/v1/checks/api/results").status_code == 405
