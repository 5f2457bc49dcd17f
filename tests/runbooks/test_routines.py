"""Routines: a runbook with ``schedule:`` opens one run per due time (in its timezone, DST
included), once across passes, restarts and two processes; reminds its channels when it opens
and once when overdue; and shows in ``opsbook status`` (both store backends, frozen clocks)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.engine import Engine

from auth_helpers import grant
from incidents.paging_helpers import config_body
from opsbook.accounts import Role
from opsbook.clock import FrozenClock
from opsbook.config import Config, load
from opsbook.notify.tables import notification
from opsbook.runbooks.models import Registry, Runbook
from opsbook.runbooks.parse import parse_runbook
from opsbook.runbooks.registry import Loaded, load_for_config
from opsbook.runbooks.routine_notify import RoutineEmitter
from opsbook.runbooks.routine_task import RoutineTask, routine_states
from opsbook.runbooks.routines import GRACE, describe, latest_due, next_due
from opsbook.runbooks.run_models import RunState, StepState, TriggerKind
from opsbook.runbooks.runs import get_run, list_runs, tick_step
from opsbook.runbooks.tables import routine_run
from opsbook.web import create_app
from opsbook.web.routine_metrics import RoutineCollector, store_states
from runbook_helpers import SETTINGS

BERLIN = "Europe/Berlin"
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

DAILY = """\
---
title: Daily checks
schedule: "0 9 * * *"
channels: [pager, email]
grace: 2h
---
# Daily checks

```sh {name=disk}
echo "disk 41%"
```

- [ ] Look at the error dashboard
- [ ] Check the backup ran
"""


def _runbook(text: str = DAILY, name: str = "daily-checks") -> Runbook:
    runbook, problems = parse_runbook(text, name=name, file=f"{name}.md")
    assert problems == [] and runbook is not None
    return runbook


def _errors(front: str) -> list[str]:
    _, problems = parse_runbook(f"---\n{front}---\n# T\n\n- [ ] a\n", name="rb", file="rb.md")
    return [f"rb.md:{p.line}:{p.column}: {p.message}" for p in problems]


def _config() -> Config:
    return Config.model_validate(config_body())


def _task(engine: Engine, clock: FrozenClock, *runbooks: Runbook, **kw: Any) -> RoutineTask:
    registry = Registry({rb.name: rb for rb in runbooks or (_runbook(),)})
    return RoutineTask(
        engine,
        registry=registry,
        emit=RoutineEmitter(_config(), clock=clock),
        settings=SETTINGS,
        clock=clock,
        **kw,
    )


def _routine_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(routine_run).order_by(routine_run.c.due_at)))


def _notifications(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(notification).where(notification.c.kind == "routine").order_by("id")
            )
        )


# -- due times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "tz", "now", "due"),
    [
        # 09:00 in Berlin is 07:00 UTC in summer (CEST) and 08:00 UTC in winter (CET).
        ("0 9 * * *", BERLIN, "2026-06-01T12:00Z", "2026-06-01T07:00Z"),
        ("0 9 * * *", BERLIN, "2026-12-01T12:00Z", "2026-12-01T08:00Z"),
        # Exactly at the due minute counts; a second before it is the previous day's.
        ("0 9 * * *", "UTC", "2026-06-01T09:00:30Z", "2026-06-01T09:00Z"),
        ("0 9 * * *", "UTC", "2026-06-01T08:59:59Z", "2026-05-31T09:00Z"),
        # Spring forward (29 March 2026): 02:30 does not exist, cron runs at 03:00 CEST.
        ("30 2 * * *", BERLIN, "2026-03-29T01:30Z", "2026-03-29T01:00Z"),
        # The day before and after the change, 02:30 local as usual.
        ("30 2 * * *", BERLIN, "2026-03-28T12:00Z", "2026-03-28T01:30Z"),
        ("30 2 * * *", BERLIN, "2026-03-30T12:00Z", "2026-03-30T00:30Z"),
        # Fall back (25 October 2026): 02:30 happens twice; it is due once, at the first.
        ("30 2 * * *", BERLIN, "2026-10-25T12:00Z", "2026-10-25T00:30Z"),
        ("0 9 * * 1", "UTC", "2026-06-03T12:00Z", "2026-06-01T09:00Z"),  # weekly, Monday
        ("0 6 1 * *", "UTC", "2026-06-20T00:00Z", "2026-06-01T06:00Z"),  # monthly
    ],
)
def test_the_due_time_is_the_latest_cron_match_in_the_routines_timezone(
    schedule: str, tz: str, now: str, due: str
) -> None:
    found = latest_due(schedule, tz, datetime.fromisoformat(now))
    assert found == datetime.fromisoformat(due)
    assert found.tzinfo is UTC


def test_the_repeated_hour_at_fall_back_makes_one_due_time_not_two() -> None:
    at = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    seen = set()
    while at < datetime(2026, 10, 25, 3, 0, tzinfo=UTC):
        seen.add(latest_due("30 2 * * *", BERLIN, at))
        at += timedelta(minutes=10)
    assert seen == {
        datetime(2026, 10, 24, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    }
    assert next_due("30 2 * * *", BERLIN, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )


# -- front matter ------------------------------------------------------------------------------


def test_a_routines_front_matter_becomes_its_values() -> None:
    runbook = _runbook()
    assert (runbook.schedule, runbook.timezone, runbook.channels) == (
        "0 9 * * *",
        None,
        ("pager", "email"),
    )
    assert runbook.grace == timedelta(hours=2)
    assert _runbook(DAILY.replace("grace: 2h\n", "")).grace is None  # GRACE applies


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("schedule: '0 9 * * *'\ngrace: soon\n",
         "rb.md:3:8: grace: 'soon' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("schedule: '0 9 * * *'\ngrace: 0s\n", "rb.md:3:8: grace: must be longer than 0s"),
        ("schedule: '0 9 * * *'\nchannels: [Ops Room]\n",
         "rb.md:3:12: channels[0]: 'Ops Room' is not a valid id (use lowercase letters, "
         "digits, '-' and '_', starting with a letter or digit)"),
        ("schedule: '0 9 * * *'\nchannels: {a: 1}\n",
         "rb.md:3:11: channels: must be a list of names, not a mapping"),
        ("channels: [ops]\n", "rb.md:2:1: channels: only a routine has one (add schedule: too)"),
        ("grace: 1h\n", "rb.md:2:1: grace: only a routine has one (add schedule: too)"),
        ("schedule: '0 9 * * *'\nparameters:\n  host: {}\n",
         "rb.md:4:3: parameters.host: a routine opens by itself, so each parameter needs a "
         "default (or required: false)"),
    ],
)  # fmt: skip
def test_it_rejects_bad_routine_front_matter(front: str, message: str) -> None:
    assert _errors(front) == [message]


# -- opening runs ------------------------------------------------------------------------------


async def test_a_due_routine_opens_one_run_that_runs_its_read_steps_and_waits(
    engine: Engine,
) -> None:
    clock = FrozenClock(T0 - timedelta(minutes=1))
    task = _task(engine, clock)
    await task.run_once()  # 08:59: yesterday's 09:00 is the latest due time
    assert [r.due_at for r in _routine_rows(engine)] == [T0 - timedelta(days=1)]
    clock.advance(timedelta(minutes=1))
    opened = await task.run_once()
    assert [o.due_at for o in opened] == [T0]
    with engine.connect() as conn:
        view = get_run(conn, opened[0].run_id)
    assert (view.run.trigger.kind, view.run.trigger.detail) == (
        TriggerKind.SCHEDULE,
        "daily-checks",
    )
    assert view.run.created_by == "system:schedule"
    assert view.run.state is RunState.WAITING
    states = [(s.step_id, s.state) for s in view.steps]
    assert states[0] == ("disk", StepState.OK)
    assert "disk 41%" in view.steps[0].output
    assert all(state.is_open for _, state in states[1:])


async def test_two_passes_a_restart_and_a_second_process_open_it_once(engine: Engine) -> None:
    clock = FrozenClock(T0 + timedelta(seconds=5))
    first = _task(engine, clock)
    assert len(await first.run_once()) == 1
    assert await first.run_once() == []
    # A restarted server (a new task on the same store) and two processes passing at once.
    clock.advance(timedelta(minutes=30))
    assert await _task(engine, clock).run_once() == []
    clock.advance(timedelta(days=1))
    a, b = _task(engine, clock), _task(engine, clock)
    both = await asyncio.gather(a.run_once(), b.run_once())
    assert sorted(len(x) for x in both) == [0, 1]
    with engine.connect() as conn:
        runs = list_runs(conn, runbook="daily-checks")
    assert len(runs) == 2
    assert [r.due_at for r in _routine_rows(engine)] == [T0, T0 + timedelta(days=1)]
    # One "opened" reminder per channel per due time, never two.
    keys = [n.idempotency_key for n in _notifications(engine) if ":opened:" in n.idempotency_key]
    assert len(keys) == 4 == len(set(keys))


async def test_a_server_down_over_several_due_times_opens_one_run_for_the_latest(
    engine: Engine,
) -> None:
    clock = FrozenClock(T0)
    task = _task(engine, clock)
    await task.run_once()
    clock.advance(timedelta(days=3, hours=5))  # down for three due times
    opened = await _task(engine, clock).run_once()
    assert [o.due_at for o in opened] == [T0 + timedelta(days=3)]
    assert len(_routine_rows(engine)) == 2


# -- reminders ---------------------------------------------------------------------------------


async def test_it_reminds_when_opened_and_once_when_overdue(engine: Engine) -> None:
    clock = FrozenClock(T0)
    task = _task(engine, clock)
    await task.run_once()
    sent = _notifications(engine)
    assert [(n.channel, n.idempotency_key) for n in sent] == [
        ("pager", "routine:daily-checks:2026-06-01T09:00:00Z:opened:pager"),
        ("email", "routine:daily-checks:2026-06-01T09:00:00Z:opened:email"),
    ]
    body = sent[0].payload
    assert body["type"] == "routine" and body["event"] == "opened"
    assert body["run"]["due_at"] == "2026-06-01T09:00:00Z"
    assert body["run"]["steps_total"] == 3
    assert sent[1].payload["subject"] == "[shop] routine daily-checks is due: Daily checks"
    assert sent[1].payload["to"] == ["oncall@shop.example"]
    clock.advance(timedelta(hours=1, minutes=59))  # grace is 2h: not overdue yet
    await task.run_once()
    assert len(_notifications(engine)) == 2
    clock.advance(timedelta(minutes=1))
    await task.run_once()
    await task.run_once()
    clock.advance(timedelta(hours=3))
    await _task(engine, clock).run_once()  # a restart does not remind again either
    overdue = [n for n in _notifications(engine) if ":overdue:" in n.idempotency_key]
    assert [n.channel for n in overdue] == ["pager", "email"]
    assert overdue[0].payload["event"] == "overdue"
    assert overdue[0].payload["run"]["steps_done"] == 1  # the read step ran
    assert "still open" in overdue[1].payload["body"]
    assert "1/3 steps ticked" in overdue[1].payload["body"]


async def test_reminders_link_to_the_runs_page_under_the_public_url(engine: Engine) -> None:
    clock = FrozenClock(T0)
    config = Config.model_validate(config_body(server={"public_url": "https://ops.example/"}))
    registry = Registry({"daily-checks": _runbook()})
    task = RoutineTask(
        engine,
        registry=registry,
        emit=RoutineEmitter(config, clock=clock),
        settings=SETTINGS,
        clock=clock,
    )
    await task.run_once()
    hook, email = _notifications(engine)
    run_id = hook.payload["run"]["id"]
    assert hook.payload["run"]["url"] == f"https://ops.example/runs/{run_id}"
    assert hook.payload["run"]["api_url"] == f"https://ops.example/api/v1/runs/{run_id}"
    assert email.payload["body"].splitlines()[-1] == f"https://ops.example/runs/{run_id}"


async def test_reminders_carry_no_link_without_a_public_url(engine: Engine) -> None:
    await _task(engine, FrozenClock(T0)).run_once()
    hook, email = _notifications(engine)
    assert (hook.payload["run"]["url"], hook.payload["run"]["api_url"]) == (None, None)
    assert "/runs/" not in email.payload["body"]


async def test_a_finished_run_is_never_overdue(engine: Engine) -> None:
    clock = FrozenClock(T0)
    task = _task(engine, clock)
    (opened,) = await task.run_once()
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runbook_run SET state='succeeded' WHERE id=:i"), {"i": opened.run_id}
        )
    clock.advance(GRACE * 5)
    await task.run_once()
    assert not [n for n in _notifications(engine) if ":overdue:" in n.idempotency_key]
    with engine.connect() as conn:
        (status,) = routine_states(
            conn, Registry({"daily-checks": _runbook()}), timezone="UTC", now=clock.now()
        )
    assert status.is_overdue is False and status.state == "succeeded"


async def test_a_routine_naming_no_channel_sends_nothing_but_still_opens(engine: Engine) -> None:
    quiet = _runbook(DAILY.replace("channels: [pager, email]\n", ""), name="quiet")
    clock = FrozenClock(T0 + GRACE * 3)
    assert len(await _task(engine, clock, quiet).run_once()) == 1
    clock.advance(GRACE)
    await _task(engine, clock, quiet).run_once()
    assert _notifications(engine) == []
    assert _routine_rows(engine)[0].overdue_at is not None


# -- status ------------------------------------------------------------------------------------


async def test_routine_states_say_how_far_the_run_got(engine: Engine) -> None:
    clock = FrozenClock(T0)
    task = _task(engine, clock)
    (opened,) = await task.run_once()
    with engine.begin() as conn:
        tick_step(conn, opened.run_id, "step-2", actor="user:ana", now=clock.now())
    clock.advance(timedelta(hours=3))
    with engine.connect() as conn:
        (status,) = routine_states(
            conn, Registry({"daily-checks": _runbook()}), timezone="UTC", now=clock.now()
        )
    assert (status.steps_done, status.steps_total, status.is_overdue) == (2, 3, True)
    assert status.next_due_at == T0 + timedelta(days=1)
    assert describe(status, now=clock.now()) == (
        "routine daily-checks due 09:00 UTC, open 3h, 2/3 ticked"
    )
    berlin = replace(status, timezone=BERLIN)
    assert describe(berlin, now=clock.now()).startswith(
        "routine daily-checks due 11:00 Europe/Berlin"
    )
    days = describe(status, now=clock.now() + timedelta(days=2))
    assert days == "routine daily-checks due 2026-06-01 09:00 UTC, open 2d, 2/3 ticked"


def test_metrics_say_which_routine_is_overdue(engine: Engine) -> None:
    clock = FrozenClock(T0)
    registry = Registry({"daily-checks": _runbook()})
    asyncio.run(_task(engine, clock).run_once())
    metrics = CollectorRegistry()
    metrics.register(RoutineCollector(store_states(engine, registry, timezone="UTC", clock=clock)))
    assert (
        'opsbook_routine_overdue{routine="daily-checks"} 0.0' in generate_latest(metrics).decode()
    )
    clock.advance(timedelta(hours=2))
    assert (
        'opsbook_routine_overdue{routine="daily-checks"} 1.0' in generate_latest(metrics).decode()
    )


def test_a_routine_naming_an_unknown_channel_is_an_error_at_its_place(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "daily-checks.md").write_text(DAILY)
    config_file = tmp_path / "opsbook.yaml"
    config_file.write_text(
        "service: shop\nchannels:\n  pager: {webhook: {url: 'http://127.0.0.1:1/hook'}}\n"
    )
    loaded = load_for_config(config_file, load(config_file), environ={})
    assert [str(p) for p in loaded.problems] == [
        f"{tmp_path / 'runbooks' / 'daily-checks.md'}:4:19: channels: no channel named "
        "'email' in the config; have: pager"
    ]


def test_opsbook_serve_runs_the_routine_task(engine: Engine, tmp_path: Path) -> None:
    # The app as ``opsbook serve`` builds it: the routines task opens the due run on its first
    # pass, /api/v1/routines and /metrics report it.
    config = Config.model_validate(config_body())
    runbook = _runbook(DAILY.replace("grace: 2h\n", ""))
    loaded = Loaded(Registry({runbook.name: runbook}), (), tmp_path)
    clock = FrozenClock(T0 + timedelta(hours=1, minutes=5))
    app = create_app(config, engine=engine, environ={}, clock=clock, runbooks=loaded)
    with TestClient(app) as client:
        token = grant(engine, Role.VIEWER)
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 10
        while not _routine_rows(engine) or _routine_rows(engine)[0].run_id is None:
            assert time.monotonic() < deadline, "the routines task opened no run"
            time.sleep(0.05)
        while True:
            (found,) = client.get("/api/v1/routines", headers=headers).json()["routines"]
            if found["state"] == "waiting" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (found["name"], found["due_at"], found["state"], found["overdue"]) == (
            "daily-checks",
            T0.isoformat(),
            "waiting",
            True,
        )
        assert found["line"] == "routine daily-checks due 09:00 UTC, open 1h05m, 1/3 ticked"
        metrics = client.get("/metrics").text
        assert 'opsbook_routine_overdue{routine="daily-checks"} 1.0' in metrics
