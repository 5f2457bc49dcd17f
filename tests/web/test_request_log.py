from __future__ import annotations

from fastapi.testclient import TestClient
from structlog.testing import capture_logs


def test_each_request_is_one_log_line_with_its_facts(client: TestClient) -> None:
    with capture_logs() as logs:
        client.get("/health?token=abc123")
        client.get("/nope")
    requests = [e for e in logs if e["event"] == "request"]
    assert requests == [
        {
            "event": "request",
            "log_level": "info",
            "method": "GET",
            "path": "/health",
            "route": "/health",
            "status": 200,
            "duration_ms": 0.0,
            "client": "testclient",
        },
        {
            "event": "request",
            "log_level": "info",
            "method": "GET",
            "path": "/nope",
            "route": "unmatched",
            "status": 404,
            "duration_ms": 0.0,
            "client": "testclient",
        },
    ]
    # The query string may carry a token; it is never logged.
    assert "abc123" not in repr(logs)
