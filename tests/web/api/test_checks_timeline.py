"""GET /api/v1/checks/{id}?timeline=24h&step=1h: availability per step, oldest first (what
``opsbook status`` draws its bar from)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from fastapi.testclient import TestClient

from auth_helpers import authorize
from opsbook.accounts import Role


@pytest.fixture
def viewer(api: TestClient) -> TestClient:
    return authorize(api, Role.VIEWER)


def test_it_gives_one_cell_per_step_oldest_first(viewer: TestClient) -> None:
    response = viewer.get("/api/v1/checks/api", params={"timeline": "24h", "step": "2h"})
    assert response.status_code == 200
    cells = response.json()["timeline"]
    assert len(cells) == 12
    assert cells[0]["start"] == "2026-11-21T12:00:00Z"
    assert cells[-1]["end"] == "2026-11-22T12:00:00Z"
    assert all(a["end"] == b["start"] for a, b in pairwise(cells))
    # The ten minutes down from two hours ago fall in the last two-hour cell.
    shown = [c["availability"] for c in cells]
    assert shown[-1] == pytest.approx(100 * (1 - 600 / 7200))
    assert set(shown[:-1]) == {100.0}


def test_without_timeline_there_are_no_cells(viewer: TestClient) -> None:
    assert viewer.get("/api/v1/checks/api").json()["timeline"] == []


def test_a_check_without_results_has_cells_without_data(viewer: TestClient) -> None:
    cells = viewer.get("/api/v1/checks/db", params={"timeline": "3h"}).json()["timeline"]
    assert [c["availability"] for c in cells] == [None, None, None]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"timeline": "soon"}, "timeline"),
        ({"timeline": "0s"}, "timeline"),
        ({"timeline": "500d"}, "timeline"),
        ({"timeline": "24h", "step": "x"}, "step"),
        ({"timeline": "24h", "step": "7h"}, "step"),
        ({"timeline": "30d", "step": "1m"}, "step"),
    ],
)
def test_a_bad_timeline_is_a_400_naming_the_parameter(
    viewer: TestClient, params: dict[str, str], field: str
) -> None:
    response = viewer.get("/api/v1/checks/api", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ")
    assert all(value not in error["message"] for value in ("soon", "500d", "7h"))
