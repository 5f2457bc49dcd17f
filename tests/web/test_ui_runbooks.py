"""``/runbooks`` and ``/runbooks/{name}`` for a viewer: the runbooks the server loaded with
steps by risk, the load problems of the files left out, one runbook's parameters and its steps
by section (id, kind and risk badges, the text in a ``<pre>``); secrets never shown; an unknown
runbook is a 404 page; an anonymous visitor is sent to the login form."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from ui_helpers import CONFIG, NOW, log_in, migrate

from opsbook.accounts import Role
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.runbooks.registry import Loaded, load_folder
from opsbook.web import create_app

SECRET = "S3cretPw-9z"
DB_POOL = """\
---
title: Database pool exhausted
alerts: [db-down]
parameters:
  minutes: {type: int, default: 5, allowed: [5, 10], description: How far back}
  api_key: {type: string, default: hunter2-default, secret: true}
---
# Database pool exhausted

## Diagnose

```sql {name=pool-usage db=main timeout=30s}
SELECT count(*) FROM pg_stat_activity
WHERE backend_start > now() - make_interval(mins => {{ minutes }})
```

```sh {name=vendor}
curl -sS -H "X-Key: {{ api_key }}" -u app:S3cretPw-9z https://status.example.com/ && echo '<b>'
```

## Fix

```sql {name=kill-idle db=main}
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction'
```

- [ ] Tell the channel
"""
BROKEN = "---\ntitle: Broken\n---\n```sh {name=x risk=maybe}\necho hi\n```\n"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    migrate(url, people={"ben": Role.VIEWER})
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "db-pool.md").write_text(DB_POOL)
    (folder / "broken.md").write_text(BROKEN)
    registry, problems = load_folder(folder, databases={"main"})
    config = {
        **CONFIG,
        "runbooks": {"databases": {"main": {"dsn": f"postgresql://app:{SECRET}@127.0.0.1:1/app"}}},
    }
    app = create_app(
        Config.model_validate(config),
        environ={"OPSBOOK_DATABASE_URL": url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
        runbooks=Loaded(registry, tuple(problems), folder),
    )
    # The lifespan is not run: no probe fires, the frozen clock rules.
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    log_in(client, "ben")
    yield client
    app.state.services.engine.dispose()


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_list_shows_each_runbook_with_steps_by_risk(client: TestClient) -> None:
    page = client.get("/runbooks")
    assert page.status_code == 200
    assert '<a href="/runbooks/db-pool" class="name">Database pool exhausted</a>' in page.text
    row = re.search(r'<tr id="runbook-db-pool">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert text_of(row.group(1)).startswith("Database pool exhausted db-pool 3 0 1 db-down")


def test_the_list_shows_the_load_errors(client: TestClient) -> None:
    page = client.get("/runbooks")
    assert "1 problem kept runbook files from loading" in page.text
    errors = re.search(r'<ul class="items" id="load-errors">(.*?)</ul>', page.text, re.S)
    assert errors is not None
    assert text_of(errors.group(1)).startswith("runbooks/broken.md:4:")


def test_the_nav_links_to_the_runbooks(client: TestClient) -> None:
    page = client.get("/oncall").text
    assert '<a href="/runbooks">Runbooks</a>' in page
    assert (
        '<a href="/runbooks" aria-current="page">Runbooks</a>'
        in client.get("/runbooks/db-pool").text
    )


def test_a_runbook_page_shows_parameters_and_steps_by_section(client: TestClient) -> None:
    page = client.get("/runbooks/db-pool")
    assert page.status_code == 200
    body = page.text
    assert "<h1>Database pool exhausted</h1>" in body
    headings = re.findall(r'<h2 id="[^"]+">([^<]+)</h2>', body)
    assert headings == ["Run", "Recent runs", "Parameters", "Diagnose", "Fix"]
    step = re.search(r'<article class="step" id="step-kill-idle".*?</article>', body, re.S)
    assert step is not None
    assert '<code>kill-idle</code> <span class="badge">sql</span>' in step.group(0)
    assert '<span class="badge sev-badge sev-sev1">danger</span>' in step.group(0)
    assert "<pre" in step.group(0) and "pg_terminate_backend(pid)" in step.group(0)
    assert 'id="step-step-4"' in body
    params = text_of(body.split('aria-label="Parameters"')[1].split("</table>")[0])
    assert "minutes int 5 5 , 10 How far back" in params
    assert "api_key secret string hidden" in params


def test_a_runbook_page_escapes_and_masks_the_step_text(client: TestClient) -> None:
    body = client.get("/runbooks/db-pool").text
    assert "echo &#39;&lt;b&gt;&#39;" in body
    assert SECRET not in body
    assert "hunter2-default" not in body
    assert SECRET not in client.get("/runbooks").text


def test_an_unknown_runbook_is_a_404_page(client: TestClient) -> None:
    page = client.get("/runbooks/nope", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "no runbook with this name" in page.text
    assert "text/html" in page.headers["content-type"]


def test_an_anonymous_visitor_is_sent_to_log_in(client: TestClient) -> None:
    client.cookies.clear()
    for path in ("/runbooks", "/runbooks/db-pool"):
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")
