"""``opsbook notify dead-letters`` and ``opsbook notify retry`` on a real store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from notify_helpers import T0

from opsbook.notify import outbox
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import list_audit

REASON = "POST https://oncall.example.com/*** answered 404 Not Found: no such hook"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text("service: shop\n")
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", store_url)
    monkeypatch.setenv("USER", "ana")
    return path


def _seed(store_url: str, states: list[str]) -> list[int]:
    engine = create_engine(store_url)
    ids = []
    try:
        upgrade(engine)
        with engine.begin() as conn:
            for n, state in enumerate(states):
                row = outbox.enqueue(
                    conn,
                    channel="oncall",
                    kind="alert",
                    payload={"version": "4"},
                    idempotency_key=f"k{n}",
                    now=T0,
                )
                assert row is not None
                ids.append(row)
                if state == "dead":
                    outbox.mark_dead(conn, row, reason=REASON, now=T0 + timedelta(minutes=n))
                elif state == "delivered":
                    outbox.mark_delivered(conn, row, now=T0)
    finally:
        engine.dispose()
    return ids


def _states(store_url: str) -> dict[int, str]:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            return {n: outbox.get_notification(conn, n).state for n in range(1, 4)}
    finally:
        engine.dispose()


def test_dead_letters_lists_them_newest_first_with_the_reason(
    run_cli: Any, config_file: Path, store_url: str
) -> None:
    first, _, third = _seed(store_url, ["dead", "pending", "dead"])
    result = run_cli("notify", "dead-letters", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if "oncall" in line]
    assert [r[:4] for r in rows] == [
        [str(third), "oncall", "alert", "0"],
        [str(first), "oncall", "alert", "0"],
    ]
    assert "2026-11-22 13:11:10" in result.stdout
    assert REASON in result.stdout


def test_dead_letters_says_when_there_are_none(
    run_cli: Any, config_file: Path, store_url: str
) -> None:
    _seed(store_url, ["pending"])
    result = run_cli("notify", "dead-letters", "--config", str(config_file))
    assert (result.exit_code, result.stdout) == (0, "no dead letters\n")


def test_retry_queues_dead_ones_again_and_audits_it(
    run_cli: Any, config_file: Path, store_url: str
) -> None:
    first, _, third = _seed(store_url, ["dead", "pending", "dead"])
    result = run_cli("notify", "retry", str(first), str(third), "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"ok: notification {first} (oncall) queued again",
        f"ok: notification {third} (oncall) queued again",
    ]
    assert _states(store_url) == {1: "pending", 2: "pending", 3: "pending"}
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            audit = list_audit(conn)
    finally:
        engine.dispose()
    assert sorted((a.actor, a.action, a.subject, a.origin) for a in audit) == [
        ("user:ana", "notification.retry", f"notification:{n}", "cli") for n in (first, third)
    ]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("delivered", "error: notification 2 is delivered; only dead notifications can be retried"),
        ("missing", "error: no notification 9"),
    ],
)
def test_retry_refuses_what_is_not_dead_and_changes_nothing(
    state: str, message: str, run_cli: Any, config_file: Path, store_url: str
) -> None:
    _seed(store_url, ["dead", "delivered", "dead"])
    target = "9" if state == "missing" else "2"
    result = run_cli("notify", "retry", "1", target, "--config", str(config_file))
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr
    # All or none: notification 1 was not queued either.
    assert _states(store_url) == {1: "dead", 2: "delivered", 3: "dead"}


def test_retry_needs_a_numeric_id(run_cli: Any, config_file: Path) -> None:
    result = run_cli("notify", "retry", "abc", "--config", str(config_file))
    assert result.exit_code == 2
    assert "Invalid value for 'ids'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.empty_store
def test_an_unmigrated_store_is_one_red_line(run_cli: Any, config_file: Path) -> None:
    result = run_cli("notify", "dead-letters", "--config", str(config_file))
    assert result.exit_code == 1
    # A missing SQLite file is named and not created; an empty PostgreSQL database is named.
    assert ("no store at " in result.stderr) or ("holds no opsbook data" in result.stderr)
    assert "db upgrade" not in result.stderr
