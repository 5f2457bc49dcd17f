"""Pages queued in the outbox survive a kill -9: the pager answers 503 while an outage pages, so
pages wait in the outbox for their retry; ``opsbook serve`` is killed with SIGKILL; the pager
recovers; a new ``opsbook serve`` on the same store delivers every pending notification exactly
once (counted by ``Idempotency-Key`` at the sink against the outbox rows), on SQLite and on
PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from paging import Channels, paging_config, wait_for_event, wait_for_incident
from peers import (
    Peer,
    demo_service,
    opsbook_serve,
    stage_faults,
    stored_notifications,
    wait_until,
)
from sinks import WebhookSink, webhook_sink

pytestmark = pytest.mark.slow


def _pending_unclaimed(database_url: str) -> list[dict[str, Any]] | None:
    """The pending rows, when at least one page is waiting for a retry and no row is being sent
    (a claim in flight would hold its lease past the restart)."""
    rows = stored_notifications(database_url)
    now = datetime.now(UTC)
    pending = [r for r in rows if r["state"] == "pending"]
    waiting_pages = [r for r in pending if r["kind"] == "page" and r["attempts"] >= 1]
    claimed = [
        r for r in pending if r["claimed_until"] is not None and _utc(r["claimed_until"]) > now
    ]
    return pending if waiting_pages and not claimed else None


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _kill_9(opsbook: Peer) -> None:
    opsbook.process.send_signal(signal.SIGKILL)
    assert opsbook.process.wait(timeout=10) == -signal.SIGKILL


def test_pending_pages_are_delivered_once_after_a_kill_9(tmp_path: Path, store_url: str) -> None:
    with webhook_sink() as sink, demo_service(tmp_path) as demo:
        sink.answer("/pager", then=503)
        config = paging_config(
            demo.url,
            Channels(pager=sink.url("/pager"), chat=sink.url("/chat")),
            ana_notify=["pager"],
        )
        with opsbook_serve(tmp_path, config=config, database_url=store_url) as first:
            stage_faults(demo, {"down": True})
            incident_id = wait_for_incident(first)
            wait_until(
                lambda: sink.received("/pager", status=503) or None,
                what="a page refused by the pager",
                detail=first.log_tail,
            )
            time.sleep(0.3)  # let the deliverer record the failure as a retry
            pending = wait_until(
                lambda: _pending_unclaimed(store_url),
                what="a page pending its retry, not claimed",
                detail=first.log_tail,
            )
            _kill_9(first)
        assert pending
        assert sink.delivered("/pager") == []

        sink.answer("/pager", then=200)
        with opsbook_serve(
            tmp_path, config=config, database_url=store_url, home="opsbook-restarted"
        ) as second:
            # Level 2 is paged 4 s after level 1, by the restarted server; wait for it too.
            wait_for_event(second, incident_id, "paged", count=2, timeout_s=30)
            wait_until(
                lambda: _all_delivered(store_url),
                what="every notification delivered",
                timeout_s=30,
                detail=second.log_tail,
            )
            time.sleep(2)  # a second copy of anything would arrive now
            _assert_delivered_once(sink, store_url, pending)


def _all_delivered(database_url: str) -> bool:
    rows = stored_notifications(database_url)
    return bool(rows) and all(r["state"] == "delivered" for r in rows)


def _assert_delivered_once(
    sink: WebhookSink, database_url: str, pending: list[dict[str, Any]]
) -> None:
    rows = stored_notifications(database_url)
    assert {r["state"] for r in rows} == {"delivered"}
    accepted = Counter(r.key for r in sink.delivered())
    # Every outbox row reached the sink exactly once, and nothing else did.
    assert accepted == Counter(r["idempotency_key"] for r in rows)
    # Among them, each page pending at the kill (refused before it, never twice after).
    for row in pending:
        assert accepted[row["idempotency_key"]] == 1, row
    # What the pager refused before the kill was sent again under the same key, and accepted.
    refused = {r.key for r in sink.received("/pager", status=503)}
    assert refused
    assert all(accepted[key] == 1 for key in refused)
    paged = {r["idempotency_key"] for r in rows if r["kind"] == "page"}
    assert len(paged) == 2  # Ana (level 1) and senior (level 2), by pager
