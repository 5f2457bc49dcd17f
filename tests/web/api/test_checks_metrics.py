"""Per-check gauges on /metrics, computed from the store at scrape time."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient


def test_each_check_with_results_has_gauges(api: TestClient) -> None:
    body = api.get("/metrics").text
    assert 'opsbook_check_up{check="api"} 1.0' in body
    assert 'opsbook_check_latency_seconds{check="api"} 0.02' in body
    last = datetime(2026, 11, 22, 11, 59, 30, tzinfo=UTC).timestamp()
    line = next(x for x in body.splitlines() if x.startswith("opsbook_check_last_result_timestamp"))
    assert line.startswith('opsbook_check_last_result_timestamp_seconds{check="api"} ')
    assert float(line.split()[-1]) == last
    assert 'check="db"' not in body


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_finds_no_problems(api: TestClient) -> None:
    body = api.get("/metrics").text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr.strip() == ""
