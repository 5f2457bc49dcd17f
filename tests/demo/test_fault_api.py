"""GET/POST/PATCH /_faults: replacing, merging, clearing, and rejecting bad payloads without
changing anything."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from opsbook.demo import DemoState, Faults

DemoClient = TestClient[web.Request, web.Application]


async def test_post_replaces_every_fault(client: DemoClient, state: DemoState) -> None:
    # The README's tour, step by step: each POST is the whole fault set.
    await client.post("/_faults", json={"latency_ms": 3000})
    response = await client.post("/_faults", json={"error_rate": 0.2})
    assert response.status == 200
    body = await response.json()
    assert (body["latency_ms"], body["error_rate"]) == (0.0, 0.2)
    assert state.faults == Faults(error_rate=0.2)
    assert await (await client.get("/_faults")).json() == body
    await client.post("/_faults", json={"down": True})
    assert state.faults == Faults(down=True)


async def test_patch_merges_a_payload_into_the_current_faults(
    client: DemoClient, state: DemoState
) -> None:
    await client.post("/_faults", json={"latency_ms": 3000})
    response = await client.patch("/_faults", json={"queue_depth": 5000, "dlq": 12})
    assert response.status == 200
    body = await response.json()
    assert (body["latency_ms"], body["queue_depth"], body["dlq"]) == (3000, 5000, 12)
    assert state.faults == Faults(latency_ms=3000, queue_depth=5000, dlq=12)
    assert await (await client.get("/_faults")).json() == body


async def test_patch_with_an_empty_object_changes_nothing(
    client: DemoClient, state: DemoState
) -> None:
    await client.post("/_faults", json={"dlq": 3})
    response = await client.patch("/_faults", json={})
    assert response.status == 200
    assert state.faults == Faults(dlq=3)


async def test_an_empty_object_clears_every_fault(client: DemoClient, state: DemoState) -> None:
    await client.post("/_faults", json={"down": True, "status": 503, "database": "down"})
    response = await client.post("/_faults", json={})
    assert response.status == 200
    assert state.faults == Faults()


async def test_null_in_a_patch_resets_one_fault(client: DemoClient, state: DemoState) -> None:
    await client.post("/_faults", json={"status": 503, "body": "oops"})
    await client.patch("/_faults", json={"status": None})
    assert state.faults == Faults(body="oops")


async def test_an_empty_request_body_clears_every_fault(
    client: DemoClient, state: DemoState
) -> None:
    await client.post("/_faults", json={"dlq": 3})
    response = await client.post("/_faults")
    assert response.status == 200
    assert state.faults == Faults()


INVALID = [
    ({"nope": True}, "nope", "unknown fault 'nope'"),
    ({"down": "yes"}, "down", "down must be true or false, not 'yes'"),
    ({"latency_ms": -1}, "latency_ms", "latency_ms must be between 0 and 600000"),
    ({"latency_ms": "3s"}, "latency_ms", "latency_ms must be a number of milliseconds"),
    ({"error_rate": 1.5}, "error_rate", "error_rate must be a number from 0 to 1"),
    ({"error_rate": -0.1}, "error_rate", "error_rate must be a number from 0 to 1"),
    ({"error_rate": True}, "error_rate", "error_rate must be a number from 0 to 1"),
    ({"status": 99}, "status", "status must be an HTTP status from 100 to 599, not 99"),
    ({"status": "503"}, "status", "status must be an HTTP status from 100 to 599"),
    ({"body": 1}, "body", "body must be a string (sent verbatim), not 1"),
    ({"queue_depth": -5}, "queue_depth", "queue_depth must be a whole number >= 0, not -5"),
    ({"dlq": 1.5}, "dlq", "dlq must be a whole number >= 0, not 1.5"),
    ({"database": "up"}, "database", "database must be 'ok' or 'down', not 'up'"),
    ([1, 2], "$", "the fault payload must be a JSON object"),
    # One bad key rejects the whole payload, including its valid keys.
    ({"dlq": 3, "latency_ms": -1}, "latency_ms", "latency_ms must be between"),
]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(("payload", "field", "message"), INVALID)
async def test_it_rejects_an_invalid_payload_and_changes_nothing(
    client: DemoClient, state: DemoState, payload: object, field: str, message: str, method: str
) -> None:
    await client.post("/_faults", json={"queue_depth": 7})
    response = await client.request(method, "/_faults", json=payload)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["field"] == field
    assert error["message"].startswith(message)
    assert state.faults == Faults(queue_depth=7)


async def test_it_rejects_a_body_that_is_not_json(client: DemoClient, state: DemoState) -> None:
    response = await client.post("/_faults", data="{down: true}")
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["field"] == "$"
    assert error["message"].startswith("the fault payload is not valid JSON")
    assert state.faults == Faults()


async def test_it_rejects_a_wrong_method(client: DemoClient) -> None:
    response = await client.delete("/_faults")
    assert response.status == 405
