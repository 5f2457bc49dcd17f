"""GET /api/v1/checks/{check_id}?windows=..."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_it_gives_each_window_with_percentiles_and_the_slo(api: TestClient) -> None:
    response = api.get("/api/v1/checks/api", params={"windows": "1h,24h,30d"})
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["state"], body["every"]) == ("api", "up", "30s")
    hour, day, month = (body["windows"][k] for k in ("1h", "24h", "30d"))
    assert hour["availability"] == 100.0
    assert (hour["n_up"], hour["n_down"]) == (120, 0)
    assert hour["p95_ms"] == pytest.approx(20.0, rel=hour["percentile_relative_error"])
    assert hour["slo"]["p95"] == {"target": 50.0, "actual": hour["p95_ms"], "met": True}
    assert day["n_down"] == 20
    assert day["availability"] == pytest.approx(100 * (1 - 600 / 86400))
    assert day["slo"]["availability"]["met"] is False
    # Only one day of the 30 was watched: the rest is no data, not up.
    assert month["no_data_seconds"] == pytest.approx(29 * 86400, rel=1e-3)
    assert month["availability"] == pytest.approx(day["availability"])


def test_the_default_windows_are_1h_24h_30d(api: TestClient) -> None:
    assert list(api.get("/api/v1/checks/api").json()["windows"]) == ["1h", "24h", "30d"]


def test_a_check_without_results_has_empty_windows(api: TestClient) -> None:
    window = api.get("/api/v1/checks/db?windows=1h").json()["windows"]["1h"]
    assert window["availability"] is None
    assert window["p95_ms"] is None
    assert window["no_data_seconds"] == 3600.0


def test_an_unknown_check_is_404_naming_it(api: TestClient) -> None:
    response = api.get("/api/v1/checks/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "no check with this id in the config",
            "field": "check_id",
            "location": None,
        }
    }


# The refused value is not repeated (the API never echoes one).
WINDOWS_ERROR = (
    "windows: each window must be a duration longer than 0s and at most 400d (e.g. 1h,24h,30d)"
)


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ("1h,soon", WINDOWS_ERROR),
        ("1h,", WINDOWS_ERROR),
        ("500d", WINDOWS_ERROR),
    ],
)
def test_a_bad_window_is_400_naming_the_param(api: TestClient, windows: str, message: str) -> None:
    response = api.get("/api/v1/checks/api", params={"windows": windows})
    assert response.status_code == 400
    assert response.json() == {
        "error": {"message": message, "field": "windows", "location": "query"}
    }


def test_wrong_method_is_405(api: TestClient) -> None:
    assert api.delete("/api/v1/checks/api").status_code == 405
