"""Failed pages with real processes: a pager that answers 500 twice is retried with growing gaps
and delivered on the third attempt; pagers answering 404 and 401 are dead letters at once, with
the reason, in ``opsbook notify dead-letters`` and as ``page_failed`` on the incident's timeline,
and are never tried again."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from paging import Channels, incident, paging_config, wait_for_event, wait_for_incident
from peers import demo_service, opsbook_cli, opsbook_serve, stage_faults
from sinks import webhook_sink

pytestmark = pytest.mark.slow


def test_a_500_is_retried_with_backoff_and_404_401_are_dead_letters(tmp_path: Path) -> None:
    with webhook_sink() as sink, demo_service(tmp_path) as demo:
        sink.answer("/pager", 500, 500)
        sink.answer("/gone", then=404)
        sink.answer("/locked", then=401)
        channels = Channels(
            pager=sink.url("/pager"),
            chat=sink.url("/chat"),
            extra=(("gone", sink.url("/gone")), ("locked", sink.url("/locked"))),
        )
        config = paging_config(
            demo.url,
            channels,
            ana_notify=["pager", "gone", "locked"],
            levels="      - {notify: [person:ana], wait: 10m}\n",
        )
        database_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
        with opsbook_serve(tmp_path, config=config, database_url=database_url) as opsbook:
            stage_faults(demo, {"down": True})
            incident_id = wait_for_incident(opsbook)
            [delivered] = wait_for_event(opsbook, incident_id, "page_delivered", timeout_s=30)
            failed = wait_for_event(opsbook, incident_id, "page_failed", count=2)
            time.sleep(4)  # anything retried after its outcome would arrive now
            timeline = incident(opsbook, incident_id)["timeline"]
            dead_letters = opsbook_cli(
                tmp_path / "opsbook" / "opsbook.yaml",
                *("notify", "dead-letters"),
                database_url=database_url,
                server=opsbook,
            )

    # 500, 500, 200: three attempts, each gap longer than the one before (1 s, then 2 s, +-20%).
    pager = sink.received("/pager")
    assert [r.status for r in pager] == [500, 500, 200]
    assert len({r.key for r in pager}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(pager)]
    assert 0.7 < gaps[0] < gaps[1], gaps
    assert delivered["detail"]["channel"] == "pager"
    assert delivered["detail"]["person"] == "ana"
    assert delivered["detail"]["attempts"] == 3
    assert delivered["message"] == "page to Ana via pager delivered (attempt 3)"

    # 404 and 401: one attempt each, then dead with the receiver's answer as the reason.
    assert [r.status for r in sink.received("/gone")] == [404]
    assert [r.status for r in sink.received("/locked")] == [401]
    reasons = {e["detail"]["channel"]: e for e in failed}
    assert set(reasons) == {"gone", "locked"}
    for channel, status, reason in (("gone", 404, "Not Found"), ("locked", 401, "Unauthorized")):
        event = reasons[channel]
        assert event["detail"]["person"] == "ana"
        assert event["detail"]["attempts"] == 1
        error = event["detail"]["error"]
        assert f"answered {status} {reason}: sink answered {status}" in error, error
        assert event["message"] == f"page to Ana via {channel} failed: {error}"
    assert [e["kind"] for e in timeline].count("page_failed") == 2
    assert [e["kind"] for e in timeline].count("page_delivered") == 1

    assert dead_letters.returncode == 0, dead_letters.stderr
    listed = dead_letters.stdout
    for channel, status in (("gone", 404), ("locked", 401)):
        [row] = [line for line in listed.splitlines() if f" {channel} " in f" {line} "]
        assert " page " in row, listed
        assert f"answered {status}" in row, listed
