"""POST /_inbox/{box} and GET /_inbox: what the demo service keeps of the pages it receives, shown
as JSON or as a page for a browser; faults and request metrics leave it alone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from opsbook.demo import DemoState, Inbox, create_demo_app

DemoClient = TestClient[web.Request, web.Application]
# The frozen clock of the `state` fixture.
NOW = "2026-01-01T00:00:00Z"

PAGE: dict[str, Any] = {
    "version": "1",
    "type": "page",
    "incident": {"id": 7, "title": "site-down: healthz is down", "severity": "SEV1"},
    "event": None,
    "page": {"escalation_id": 3, "level": 2, "round": 0, "via": "person:senior"},
    "person": {"id": "senior", "name": "Senior <Engineer>", "email": None, "phone": None},
    "alerts": [],
    "links": {"incident": None, "acknowledge": None},
}
UPDATE: dict[str, Any] = {
    "version": "1",
    "type": "incident",
    "incident": {"id": 7, "title": "site-down", "severity": "SEV1", "status": "identified"},
    "event": {"id": 12, "kind": "status", "message": "bad deploy rolled back"},
    "page": None,
    "person": None,
}


async def test_it_keeps_a_post_with_its_headers_and_answers_ok(client: DemoClient) -> None:
    body = json.dumps(PAGE).encode()
    response = await client.post(
        "/_inbox/pager",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": "page:3:1:pager:senior",
            "X-Opsbook-Signature": "sha256=abc",
            "X-Other": "not kept",
        },
    )
    assert response.status == 200
    assert await response.json() == {"ok": True}

    listed = await client.get("/_inbox")
    assert listed.status == 200
    assert listed.content_type == "application/json"
    assert await listed.json() == {
        "messages": [
            {
                "id": 1,
                "box": "pager",
                "received_at": NOW,
                "headers": {
                    "Idempotency-Key": "page:3:1:pager:senior",
                    "X-Opsbook-Signature": "sha256=abc",
                    "Content-Type": "application/json",
                },
                "body": PAGE,
            }
        ]
    }


async def test_it_keeps_a_body_that_is_not_json_as_text(client: DemoClient) -> None:
    await client.post("/_inbox/mail", data=b"Subject: hi\n\nplain text", headers={})
    [message] = (await (await client.get("/_inbox")).json())["messages"]
    assert message["body"] == "Subject: hi\n\nplain text"
    assert message["headers"]["Idempotency-Key"] is None
    assert message["headers"]["X-Opsbook-Signature"] is None


async def test_it_lists_newest_first_and_filters_by_box(client: DemoClient) -> None:
    await client.post("/_inbox/pager", json=PAGE)
    await client.post("/_inbox/incidents", json=UPDATE)
    await client.post("/_inbox/pager", json={"n": 3})

    every = (await (await client.get("/_inbox")).json())["messages"]
    assert [(m["id"], m["box"]) for m in every] == [(3, "pager"), (2, "incidents"), (1, "pager")]
    pager = (await (await client.get("/_inbox?box=pager")).json())["messages"]
    assert [m["id"] for m in pager] == [3, 1]
    nothing = await (await client.get("/_inbox?box=nope")).json()
    assert nothing == {"messages": []}


@pytest.mark.parametrize("box", ["a" * 65, "-pager", "pa ger", "p%C3%A4ger"])
async def test_it_rejects_a_bad_box_name_and_keeps_nothing(client: DemoClient, box: str) -> None:
    response = await client.post(f"/_inbox/{box}", json=PAGE)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["field"] == "box"
    assert error["message"].startswith("box: ")
    assert "is not a box name (use letters, digits" in error["message"]
    assert (await (await client.get("/_inbox")).json()) == {"messages": []}


async def test_it_rejects_wrong_methods(client: DemoClient) -> None:
    assert (await client.get("/_inbox/pager")).status == 405
    assert (await client.post("/_inbox", json=PAGE)).status == 405


async def test_a_browser_gets_a_page_listing_each_message(client: DemoClient) -> None:
    await client.post("/_inbox/pager", json=PAGE)
    await client.post("/_inbox/incidents", json=UPDATE)
    response = await client.get(
        "/_inbox", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "2 messages, newest first." in page
    assert (
        '<tr><td>2026-01-01 00:00:00</td><td>pager</td><td class="page">page</td>'
        "<td>#7 site-down: healthz is down</td><td>SEV1</td><td>-</td>"
        "<td>Senior &lt;Engineer&gt;</td><td>2</td><td>-</td></tr>"
    ) in page
    assert (
        '<td>incidents</td><td class="incident">incident</td><td>#7 site-down</td>'
        "<td>SEV1</td><td>identified</td><td>-</td><td>-</td><td>bad deploy rolled back</td>"
    ) in page
    # Newest first.
    assert page.index("bad deploy rolled back") < page.index("Senior &lt;Engineer&gt;")


async def test_the_page_says_when_the_inbox_is_empty(client: DemoClient) -> None:
    response = await client.get("/_inbox?box=pager", headers={"Accept": "text/html"})
    page = await response.text()
    assert "0 messages in box pager, newest first." in page
    assert "Nothing yet" in page


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("path", "json_path"),
    [
        ("/_inbox", "/_inbox?format=json"),
        ("/_inbox?box=pager", "/_inbox?format=json&box=pager"),
    ],
)
async def test_the_pages_json_link_answers_json_to_a_browser(
    client: DemoClient, path: str, json_path: str
) -> None:
    await client.post("/_inbox/pager", json=PAGE)
    page = await (await client.get(path, headers=BROWSER)).text()
    link = json_path.replace("&", "&amp;")
    assert f'as JSON: <a href="{link}">{link}</a>' in page
    # Followed by the browser, with the browser's Accept header.
    response = await client.get(json_path, headers=BROWSER)
    assert response.status == 200
    assert response.content_type == "application/json"
    messages = (await response.json())["messages"]
    assert [m["box"] for m in messages] == ["pager"]


async def test_format_html_answers_the_page_to_anyone(client: DemoClient) -> None:
    response = await client.get("/_inbox?format=html", headers={"Accept": "*/*"})
    assert response.content_type == "text/html"


async def test_an_unknown_format_is_refused_naming_it(client: DemoClient) -> None:
    response = await client.get("/_inbox?format=xml")
    assert response.status == 400
    assert (await response.json())["error"] == {
        "message": "format must be one of json, html, not 'xml'",
        "field": "format",
    }


async def test_curl_and_scripts_get_json(client: DemoClient) -> None:
    for accept in ("*/*", "application/json", "application/json, text/html"):
        response = await client.get("/_inbox", headers={"Accept": accept})
        assert response.content_type == "application/json", accept


FAULTS = [
    {"down": True},
    {"latency_ms": 600_000},
    {"error_rate": 1},
    {"status": 503, "body": "Bad Gateway"},
]


@pytest.mark.parametrize("faults", FAULTS)
async def test_faults_never_touch_the_inbox(
    client: DemoClient, state: DemoState, faults: dict[str, object]
) -> None:
    state.update(faults)
    response = await client.post("/_inbox/pager", json=PAGE)
    assert response.status == 200
    assert await response.json() == {"ok": True}
    listed = await client.get("/_inbox")
    assert listed.status == 200
    assert len((await listed.json())["messages"]) == 1


async def test_the_request_metrics_do_not_count_the_inbox(client: DemoClient) -> None:
    await client.post("/_inbox/pager", json=PAGE)
    await client.get("/_inbox")
    await client.get("/healthz")
    metrics = await (await client.get("/metrics")).text()
    assert 'path="/healthz"' in metrics
    assert "_inbox" not in metrics


async def test_an_inbox_passed_in_is_the_one_that_receives() -> None:
    inbox = Inbox()
    async with TestClient(TestServer(create_demo_app(inbox=inbox))) as own:
        await own.post("/_inbox/pager", json=PAGE)
    [message] = inbox.messages(box="pager")
    assert message.body == PAGE
