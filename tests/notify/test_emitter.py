"""The alert engine's emit: notices become outbox rows in the engine's own transaction."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from notify_helpers import T0, make_alert, make_config, make_notice
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from opsbook.clock import FrozenClock
from opsbook.notify import OutboxEmitter, render_alertmanager_payload
from opsbook.notify.tables import notification

CONFIG = make_config(
    oncall={"url": "https://oncall.example.com/hook"}, chat={"url": "https://chat.example.com/x"}
)


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(notification).order_by(notification.c.id)))


def test_each_notice_is_one_pending_row_for_its_channel(engine: Engine, clock: FrozenClock) -> None:
    oncall, chat = make_notice(), make_notice(receiver="chat")
    with engine.begin() as conn:
        OutboxEmitter(CONFIG, clock=clock)(conn, [oncall, chat])
    rows = _rows(engine)
    assert [(r.channel, r.kind, r.state, r.idempotency_key) for r in rows] == [
        ("oncall", "alert", "pending", 'oncall:oncall:{alertname="api-down"}#1'),
        ("chat", "alert", "pending", 'chat:chat:{alertname="api-down"}#1'),
    ]
    assert rows[0].payload == render_alertmanager_payload(oncall)
    assert (rows[0].created_at, rows[0].due_at, rows[0].attempts) == (T0, T0, 0)


def test_notices_are_written_in_one_statement(engine: Engine, clock: FrozenClock) -> None:
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    notices = [make_notice(sequence=n) for n in range(20)]
    with engine.begin() as conn:
        OutboxEmitter(CONFIG, clock=clock)(conn, notices)
    assert sum(s.lstrip().upper().startswith("INSERT") for s in statements) == 1
    assert len(_rows(engine)) == 20


def test_they_roll_back_with_the_callers_transaction(engine: Engine, clock: FrozenClock) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        OutboxEmitter(CONFIG, clock=clock)(conn, [make_notice()])
        raise RuntimeError("the alert transition failed")
    assert _rows(engine) == []


def test_the_same_notice_twice_is_enqueued_once(engine: Engine, clock: FrozenClock) -> None:
    emit = OutboxEmitter(CONFIG, clock=clock)
    with engine.begin() as conn:
        emit(conn, [make_notice()])
    with engine.begin() as conn:
        emit(conn, [make_notice(), make_notice(sequence=2)])
    assert [r.idempotency_key[-2:] for r in _rows(engine)] == ["#1", "#2"]


def test_a_receiver_with_no_channel_is_skipped_with_a_log_line(
    engine: Engine, clock: FrozenClock
) -> None:
    with capture_logs() as logs, engine.begin() as conn:
        OutboxEmitter(CONFIG, clock=clock)(conn, [make_notice(receiver="pager"), make_notice()])
    assert [r.channel for r in _rows(engine)] == ["oncall"]
    assert logs == [
        {
            "event": "notice_for_unknown_channel",
            "channel": "pager",
            "key": 'pager:{alertname="api-down"}#1',
            "log_level": "warning",
        }
    ]


def test_a_long_group_key_still_fits_and_stays_stable(engine: Engine, clock: FrozenClock) -> None:
    labels = {f"label{n}": "v" * 30 for n in range(12)}
    group_key = "oncall:{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    notice = make_notice(make_alert(labels=labels), group_key=group_key, key=f"{group_key}#1")
    emit = OutboxEmitter(CONFIG, clock=clock)
    with engine.begin() as conn:
        emit(conn, [notice])
    with engine.begin() as conn:
        emit(conn, [notice])
    [row] = _rows(engine)
    assert len(row.idempotency_key) <= 300
    assert row.idempotency_key.startswith("oncall:sha256:")
