"""``opsbook notify dead-letters`` and ``opsbook notify retry`` against the real app in-process
(``cli_api``), on a real store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from opsbook.accounts import Role
from opsbook.notify import outbox
from opsbook.store.audit import list_audit

T0 = datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC)
REASON = "POST https://oncall.example.com/*** answered 404 Not Found: no such hook"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text("service: shop\n")
    return path


@pytest.fixture
def api(cli_api: Callable[..., Any], config_file: Path, store_url: str) -> Any:
    return cli_api(config_file, role=Role.RESPONDER, environ={"OPSBOOK_DATABASE_URL": store_url})


def _seed(engine: Engine, states: list[str]) -> list[int]:
    ids = []
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
    return ids


def _states(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {n: outbox.get_notification(conn, n).state for n in range(1, 4)}


def test_dead_letters_lists_them_newest_first_with_the_reason(api: Any, config_file: Path) -> None:
    first, _, third = _seed(api.engine, ["dead", "pending", "dead"])
    result = api.run("notify", "dead-letters", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if "oncall" in line]
    assert [r[:4] for r in rows] == [
        [str(third), "oncall", "alert", "0"],
        [str(first), "oncall", "alert", "0"],
    ]
    assert "2026-11-22 13:11:10" in result.stdout
    assert REASON in result.stdout


def test_dead_letters_says_when_there_are_none(api: Any, config_file: Path) -> None:
    _seed(api.engine, ["pending"])
    result = api.run("notify", "dead-letters", "--config", str(config_file))
    assert (result.exit_code, result.stdout) == (0, "no dead letters\n")


def test_retry_queues_dead_ones_again_and_audits_it(api: Any, config_file: Path) -> None:
    first, _, third = _seed(api.engine, ["dead", "pending", "dead"])
    result = api.run("notify", "retry", str(first), str(third), "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"ok: notification {first} (oncall) queued again",
        f"ok: notification {third} (oncall) queued again",
    ]
    assert _states(api.engine) == {1: "pending", 2: "pending", 3: "pending"}
    with api.engine.connect() as conn:
        audit = list_audit(conn)
    assert sorted((a.actor, a.action, a.subject, a.origin) for a in audit) == [
        ("token:cli-test", "notification.retry", f"notification:{n}", "api testclient")
        for n in (first, third)
    ]
    assert [r for r in api.requests if r[0] == "POST"] == [
        ("POST", f"/api/v1/notifications/{first}/retry"),
        ("POST", f"/api/v1/notifications/{third}/retry"),
    ]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("delivered", "error: notification 2 is delivered; only dead notifications can be retried"),
        ("missing", "error: no notification 9"),
    ],
)
def test_retry_refuses_what_is_not_dead_and_changes_nothing(
    state: str, message: str, api: Any, config_file: Path
) -> None:
    _seed(api.engine, ["dead", "delivered", "dead"])
    target = "9" if state == "missing" else "2"
    result = api.run("notify", "retry", "1", target, "--config", str(config_file))
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr
    # All or none: notification 1 was not queued either.
    assert _states(api.engine) == {1: "dead", 2: "delivered", 3: "dead"}


def test_retry_needs_a_numeric_id(api: Any, config_file: Path) -> None:
    result = api.run("notify", "retry", "abc", "--config", str(config_file))
    assert result.exit_code == 2
    assert "Invalid value for 'ids'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_viewer_may_list_but_not_retry(
    cli_api: Callable[..., Any], config_file: Path, store_url: str
) -> None:
    viewer = cli_api(config_file, role=Role.VIEWER, environ={"OPSBOOK_DATABASE_URL": store_url})
    _seed(viewer.engine, ["dead"])
    listed = viewer.run("notify", "dead-letters", "--config", str(config_file))
    assert listed.exit_code == 0, listed.stderr
    refused = viewer.run("notify", "retry", "1", "--config", str(config_file))
    assert refused.exit_code != 0
    assert refused.stderr.startswith("error: ") and "responder" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    with viewer.engine.connect() as conn:
        assert outbox.get_notification(conn, 1).state == "dead"
