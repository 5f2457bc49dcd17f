"""What ``opsbook demo`` shows when the site goes down: the bundled config's ``pager`` and
``incidents`` channels post to the demo service's own inbox, so the page to the on-call engineer
and the incident's declaration are at ``/_inbox`` (JSON, or a table in a browser).

The bundled config runs as shipped except for its timing: the healthz check probes every second
and alerts are evaluated every second, so the outage pages within seconds instead of a minute.
"""

from __future__ import annotations

import urllib.request
from html import escape
from pathlib import Path
from typing import Any

import pytest
import yaml
from peers import Peer, demo_service, opsbook_serve, stage_faults, wait_until

from serving import http_json

pytestmark = pytest.mark.slow

DEMO_CONFIG = Path(__file__).parents[2] / "examples" / "demo" / "opsbook.yaml"
DEMO_URL_DEFAULT = "${DEMO_URL:-http://127.0.0.1:8081}"


def _demo_config(demo_url: str) -> str:
    config: dict[str, Any] = yaml.safe_load(
        DEMO_CONFIG.read_text(encoding="utf-8").replace(DEMO_URL_DEFAULT, demo_url)
    )
    healthz = config["checks"]["healthz"]
    healthz["every"], healthz["retry_every"], healthz["timeout"] = "1s", "500ms", "500ms"
    config.setdefault("alerting", {})["evaluate_every"] = "1s"
    return yaml.safe_dump(config, sort_keys=False)


def _inbox(demo: Peer, box: str) -> list[dict[str, Any]]:
    status, body = http_json("GET", f"{demo.url}/_inbox?box={box}")
    assert status == 200, body
    messages: list[dict[str, Any]] = body["messages"]
    return messages


def test_the_demo_outage_pages_into_the_demo_inbox(tmp_path: Path) -> None:
    with demo_service(tmp_path) as demo:
        database_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
        with opsbook_serve(
            tmp_path, config=_demo_config(demo.url), database_url=database_url
        ) as opsbook:
            stage_faults(demo, {"down": True})
            [page] = wait_until(
                lambda: _inbox(demo, "pager") or None,
                what="a page in the demo inbox",
                timeout_s=30,
                detail=opsbook.log_tail,
            )
            [declared] = wait_until(
                lambda: _inbox(demo, "incidents") or None,
                what="the incident's declaration in the demo inbox",
                detail=opsbook.log_tail,
            )
            request = urllib.request.Request(demo.url + "/_inbox", headers={"Accept": "text/html"})
            with urllib.request.urlopen(request, timeout=5) as response:
                page_html = response.read().decode()

    body = page["body"]
    assert (body["type"], body["incident"]["severity"], body["page"]["level"]) == (
        "page",
        "SEV1",
        1,
    )
    assert body["page"]["via"] == "schedule:l1"
    assert body["person"]["id"] in {"ana", "ben"}  # whoever's week it is
    assert [a["name"] for a in body["alerts"]] == ["site-down"]
    assert page["headers"]["Idempotency-Key"].endswith(f":pager:{body['person']['id']}")
    assert page["headers"]["Content-Type"] == "application/json"

    update = declared["body"]
    assert (update["type"], update["event"]["kind"]) == ("incident", "declared")
    assert update["incident"]["id"] == body["incident"]["id"]

    title = escape(body["incident"]["title"])
    assert f"<td>#{body['incident']['id']} {title}</td><td>SEV1</td>" in page_html
    assert f"<td>{escape(body['person']['name'])}</td><td>1</td>" in page_html
