"""A ping answered 200 is on disk: kill -9 right after the answer, restart, and it is there."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from uuid import uuid4

import pytest

from serving import Server, api_token

pytestmark = pytest.mark.slow

CHECK_UUID = uuid4()
CONFIG = f"""\
service: t
checks:
  nightly-backup:
    heartbeat: {{schedule: "0 3 * * *", grace: 30m, uuid: "{CHECK_UUID}"}}
"""


def test_a_ping_answered_200_survives_a_kill_9(
    serve: Callable[..., Server], sqlite_url: str
) -> None:
    first = serve(CONFIG, database_url=sqlite_url)
    rid = uuid4()
    assert first.request("POST", f"/ping/{CHECK_UUID}/0?rid={rid}", b"backup ok: 12 GB") == (
        200,
        "OK",
    )
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = serve(CONFIG, database_url=sqlite_url)
    second.token = api_token(sqlite_url)  # reading the pings back is an /api/v1 route
    status, body = second.request("GET", "/api/v1/checks/nightly-backup/pings")
    assert status == 200
    [ping] = json.loads(body)
    assert (ping["kind"], ping["exit_status"], ping["rid"], ping["body"]) == (
        "success",
        0,
        str(rid),
        "backup ok: 12 GB",
    )
