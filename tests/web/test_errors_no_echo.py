"""Error answers carry the raising code's message as it is, so that code must not quote what it
was sent (a rejected value may be a secret pasted in the wrong place). The API's own tests send
canaries (test_api_no_echo.py for query and path values, test_api_body_no_echo.py for bodies);
this one also reads the source: no request-reachable error is built by quoting a value.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import opsbook
from opsbook.errors import InputError

SRC = Path(opsbook.__file__).parent
# The config file's, the CLI's and the demo service's messages quote what their user typed or
# wrote: that user is the one who reads them.
NOT_REQUEST_REACHABLE = ("config", "cli", "demo")
ERRORS = {"InputError", "NotFound", "Conflict"}
# No request reaches these with a value of its own.
ALLOWED = {
    # The policy of a configured severity: a name from the config.
    ("oncall/escalation.py", "no escalation policy named"),
    # The ingest routes refuse an unknown integration first (web/api/ingest.py).
    ("alerts/ingest.py", "integration named"),
    # Only the CLI names a template (cli/incident_messages.py, which checks it first).
    ("notify/incident_render.py", "is not a shipped incident template"),
    # A step's cwd= attribute comes from its runbook file, never from a request.
    ("runbooks/shell.py", "cwd="),
    # The file names the export writes are the site's own (statuspage/site.py).
    ("statuspage/publish.py", "outside the export folder"),
}


def _quotes_a_value(message: ast.JoinedStr) -> bool:
    parts = message.values
    for i, part in enumerate(parts):
        if not isinstance(part, ast.FormattedValue):
            continue
        before = parts[i - 1] if i else None
        opens = isinstance(before, ast.Constant) and str(before.value).endswith(("'", '"'))
        if part.conversion == ord("r") or opens:
            return True
    return False


def _quoting_raises() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.split("/")[0] in NOT_REQUEST_REACHABLE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
                continue
            call = node.exc
            name = getattr(call.func, "id", getattr(call.func, "attr", ""))
            if name not in ERRORS or not call.args or not isinstance(call.args[0], ast.JoinedStr):
                continue
            if _quotes_a_value(call.args[0]):
                text = ast.unparse(call.args[0])
                if not any(relative == file and words in text for file, words in ALLOWED):
                    found.append((relative, node.lineno, text))
    return found


def test_no_request_reachable_error_quotes_a_value() -> None:
    assert _quoting_raises() == []


def test_the_source_check_finds_a_quoted_value() -> None:
    tree = ast.parse("""f"severity: {name!r} is not a severity" ; f"no thing named '{name}'" """)
    messages = [n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)]
    assert [_quotes_a_value(m) for m in messages] == [True, True]
    counted = ast.parse('f"at most {limit} characters"', mode="eval").body
    assert isinstance(counted, ast.JoinedStr) and not _quotes_a_value(counted)


@pytest.fixture
def api(make_app: Callable[..., FastAPI], sqlite_url: str) -> Iterator[TestClient]:
    # Error mapping does not depend on the backend; one store is enough.
    app = make_app(sqlite_url)

    @app.get("/things/{name}")
    def thing(name: str) -> None:
        raise InputError("kind: not a kind (use plain or json)", field="kind", location="query")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_error_message_goes_out_as_the_domain_wrote_it(api: TestClient) -> None:
    response = api.get("/things/plain")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "kind: not a kind (use plain or json)",
            "field": "kind",
            "location": "query",
        }
    }
