"""Recorded runs on both stores: steps run for real and their outcome is stored, write steps
wait for a confirmation, manual steps for a tick, a failed step stops the run, secrets never
reach the store, a crash leaves runs marked interrupted, and the active runs are found by index."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.errors import Conflict, InputError, NotFound
from opsbook.runbooks.models import Risk, StepKind
from opsbook.runbooks.run_models import RunState, StepState, Trigger, TriggerKind
from opsbook.runbooks.runner import execute_run
from opsbook.runbooks.runs import (
    cancel_run,
    confirm_step,
    get_run,
    list_active_runs,
    list_runs,
    mark_interrupted,
    start_run,
    tick_step,
)
from opsbook.runbooks.tables import runbook_run
from runbook_helpers import CANARY, SETTINGS, T0, clock, rows, runbook, step

ANA = "user:ana"
BY_ANA = Trigger(TriggerKind.PERSON, ANA)


def start(engine: Engine, rb, **kwargs) -> int:  # type: ignore[no-untyped-def]
    kwargs.setdefault("step_ids", None)
    kwargs.setdefault("params", {})
    with engine.begin() as conn:
        return start_run(conn, rb, trigger=BY_ANA, actor=ANA, now=T0, **kwargs)


async def test_a_read_step_runs_for_real_and_its_output_is_stored(engine: Engine) -> None:
    rb = runbook(step("hello", "echo hi"))
    run_id = start(engine, rb)
    seen: list[str] = []
    state = await execute_run(
        engine, run_id, rb, settings=SETTINGS, clock=clock(), on_output=seen.append
    )
    assert state is RunState.SUCCEEDED
    with engine.connect() as conn:
        view = get_run(conn, run_id)
    assert view.run.state is RunState.SUCCEEDED
    assert view.run.trigger == BY_ANA
    assert view.run.started_at == T0 and view.run.ended_at == T0
    (hello,) = view.steps
    assert (hello.state, hello.output, hello.exit_code) == (StepState.OK, "hi\n", 0)
    assert hello.step_digest == rb.steps[0].digest
    assert "".join(seen) == "hi\n"
    with engine.connect() as conn:
        assert [s.id for s in list_runs(conn)] == [run_id]
        assert list_active_runs(conn) == []


async def test_a_write_step_waits_until_a_responder_confirms_it(engine: Engine) -> None:
    rb = runbook(step("look", "echo looked"), step("kill", "echo killed", risk=Risk.WRITE))
    run_id = start(engine, rb)
    state = await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock())
    assert state is RunState.WAITING
    stored = rows(engine, run_id)
    assert [s["state"] for s in stored["steps"]] == ["ok", "waiting_confirmation"]
    assert stored["steps"][1]["output"] == ""
    with engine.connect() as conn:
        assert [r.id for r in list_active_runs(conn)] == [run_id]

    with engine.begin() as conn:
        confirm_step(conn, run_id, "kill", actor="user:bo", now=T0)
    state = await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock())
    assert state is RunState.SUCCEEDED
    with engine.connect() as conn:
        kill = get_run(conn, run_id).step("kill")
    assert kill is not None
    assert (kill.state, kill.output, kill.confirmed_by) == (StepState.OK, "killed\n", "user:bo")
    actions = [(a["actor"], a["action"]) for a in rows(engine, run_id)["audit"]]
    assert (ANA, "runbook.run") in actions
    assert ("user:bo", "runbook.step.confirm") in actions


async def test_a_confirmation_of_a_changed_step_does_not_count(engine: Engine) -> None:
    rb = runbook(step("kill", "echo killed", risk=Risk.WRITE))
    run_id = start(engine, rb)
    with engine.begin() as conn:
        confirm_step(conn, run_id, "kill", actor="user:bo", now=T0)
    reloaded = runbook(step("kill", "echo killed everything", risk=Risk.WRITE))
    state = await execute_run(engine, run_id, reloaded, settings=SETTINGS, clock=clock())
    assert state is RunState.WAITING
    (kill,) = rows(engine, run_id)["steps"]
    assert kill["state"] == "waiting_confirmation"
    assert kill["step_digest"] == reloaded.steps[0].digest
    assert "changed since the run started" in kill["note"]


@pytest.mark.parametrize(
    ("risk", "kind", "message"),
    [
        (Risk.READ, StepKind.SHELL, "a read step: it needs no confirmation"),
        (Risk.DANGER, StepKind.SHELL, "needs an approval by another person"),
        (Risk.READ, StepKind.MANUAL, "a manual step: tick it off instead"),
    ],
)
def test_only_write_steps_take_a_confirmation(
    engine: Engine, risk: Risk, kind: StepKind, message: str
) -> None:
    rb = runbook(step("s", "do it", risk=risk, kind=kind))
    run_id = start(engine, rb)
    with engine.begin() as conn, pytest.raises(InputError, match=message):
        confirm_step(conn, run_id, "s", actor="user:bo", now=T0)
    assert rows(engine, run_id)["steps"][0]["confirmed_by"] is None


async def test_a_manual_step_waits_for_a_tick_that_records_who_and_the_note(
    engine: Engine,
) -> None:
    rb = runbook(
        step("stripe", "Check the Stripe dashboard", kind=StepKind.MANUAL),
        step("after", "echo after"),
    )
    run_id = start(engine, rb)
    assert await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock()) is (
        RunState.WAITING
    )
    later = T0 + timedelta(minutes=3)
    with engine.begin() as conn:
        tick_step(conn, run_id, "stripe", actor="user:bo", note=" no failed payments ", now=later)
    with engine.begin() as conn, pytest.raises(Conflict, match="is done already"):
        tick_step(conn, run_id, "stripe", actor="user:bo", now=later)
    assert await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock()) is (
        RunState.SUCCEEDED
    )
    with engine.connect() as conn:
        view = get_run(conn, run_id)
    stripe, after = view.steps
    assert (stripe.state, stripe.done_by, stripe.note) == (
        StepState.DONE,
        "user:bo",
        "no failed payments",
    )
    assert stripe.ended_at == later
    assert after.output == "after\n"
    assert ("user:bo", "runbook.step.tick") in [
        (a["actor"], a["action"]) for a in rows(engine, run_id)["audit"]
    ]


def test_only_manual_steps_are_ticked(engine: Engine) -> None:
    rb = runbook(step("look", "echo looked"))
    run_id = start(engine, rb)
    with engine.begin() as conn, pytest.raises(InputError, match="only manual steps"):
        tick_step(conn, run_id, "look", actor="user:bo", now=T0)


async def test_a_failing_step_fails_the_run_and_later_steps_are_skipped(engine: Engine) -> None:
    rb = runbook(
        step("one", "echo one"),
        step("two", "echo broken >&2; exit 3"),
        step("three", "echo three"),
        step("four", "tick", kind=StepKind.MANUAL),
    )
    run_id = start(engine, rb)
    assert await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock()) is (
        RunState.FAILED
    )
    stored = rows(engine, run_id)
    assert [s["state"] for s in stored["steps"]] == ["ok", "failed", "skipped", "skipped"]
    assert stored["steps"][1]["exit_code"] == 3
    assert "broken" in stored["steps"][1]["output"]
    assert stored["steps"][2]["output"] == ""
    assert stored["run"][0]["state"] == "failed"
    with engine.begin() as conn, pytest.raises(Conflict, match="is failed"):
        tick_step(conn, run_id, "four", actor="user:bo", now=T0)
    with pytest.raises(Conflict, match="only a pending or waiting run can run"):
        await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock())


async def test_keep_going_runs_every_step_after_a_failure_and_fails_the_run(
    engine: Engine,
) -> None:
    rb = runbook(
        step("one", "echo broken >&2; exit 3"),
        step("two", "echo two"),
        step("three", "exit 4"),
    )
    run_id = start(engine, rb)
    ended = await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock(), keep_going=True)
    assert ended is RunState.FAILED
    stored = rows(engine, run_id)
    assert [s["state"] for s in stored["steps"]] == ["failed", "ok", "failed"]
    assert [s["exit_code"] for s in stored["steps"]] == [3, 0, 4]
    assert stored["steps"][1]["output"] == "two\n"
    assert stored["run"][0]["state"] == "failed"


async def test_keep_going_with_every_step_ok_succeeds(engine: Engine) -> None:
    rb = runbook(step("one", "echo one"), step("two", "echo two"))
    run_id = start(engine, rb)
    ended = await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock(), keep_going=True)
    assert ended is RunState.SUCCEEDED
    assert [s["state"] for s in rows(engine, run_id)["steps"]] == ["ok", "ok"]


async def test_a_canary_secret_never_reaches_the_store(engine: Engine) -> None:
    rb = runbook(
        step("use", 'echo "token={{ token }} on {{ target }}"'),
        step("again", "echo {{ token }} >&2; exit 1"),
    )
    run_id = start(engine, rb, params={"token": CANARY, "target": "replica"})
    state = await execute_run(
        engine, run_id, rb, settings=SETTINGS, clock=clock(), secrets={"token": CANARY}
    )
    assert state is RunState.FAILED
    stored = rows(engine, run_id)
    assert stored["run"][0]["params"] == {"token": "***", "target": "replica"}
    assert stored["steps"][0]["output"] == "token=*** on replica\n"
    assert stored["steps"][1]["output"] == "***\n"
    assert CANARY not in repr(stored)


async def test_a_secret_parameter_must_be_given_again_to_run(engine: Engine) -> None:
    rb = runbook(step("use", "echo {{ token }}"))
    run_id = start(engine, rb, params={"token": CANARY})
    missing = r"params\.token: a secret parameter's value is not stored"
    with pytest.raises(InputError, match=missing):
        await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock())
    assert rows(engine, run_id)["run"][0]["state"] == "pending"


def test_unknown_step_ids_are_all_named_and_nothing_is_written(engine: Engine) -> None:
    rb = runbook(step("look", "echo looked"), step("kill", "echo x", risk=Risk.WRITE))
    with engine.begin() as conn, pytest.raises(InputError) as caught:
        start_run(
            conn,
            rb,
            step_ids=["kill", "nope", "gone"],
            params={},
            trigger=BY_ANA,
            actor=ANA,
            now=T0,
        )
    assert str(caught.value) == (
        "steps: no such step in db-fix: nope, gone (its steps: look, kill)"
    )
    assert caught.value.field == "steps"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(runbook_run)).scalar() == 0


def test_a_bad_parameter_is_named(engine: Engine) -> None:
    rb = runbook(step("look", "echo {{ target }}"))
    with (
        engine.begin() as conn,
        pytest.raises(InputError, match=r"params\.tagret: no such parameter"),
    ):
        start_run(
            conn, rb, step_ids=None, params={"tagret": "x"}, trigger=BY_ANA, actor=ANA, now=T0
        )


async def test_chosen_steps_run_in_the_runbooks_order(engine: Engine) -> None:
    rb = runbook(step("a", "echo a"), step("b", "echo b"), step("c", "echo c"))
    run_id = start(engine, rb, step_ids=["c", "a"])
    await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock())
    assert [(s["step_id"], s["output"]) for s in rows(engine, run_id)["steps"]] == [
        ("a", "a\n"),
        ("c", "c\n"),
    ]


def test_a_run_left_running_is_marked_interrupted(engine: Engine) -> None:
    rb = runbook(step("a", "echo a"), step("b", "echo b"))
    run_id = start(engine, rb)
    waiting_id = start(engine, rb)
    with engine.begin() as conn:
        conn.execute(runbook_run.update().where(runbook_run.c.id == run_id).values(state="running"))
        conn.execute(
            runbook_run.update().where(runbook_run.c.id == waiting_id).values(state="waiting")
        )
        conn.execute(
            sa.text(
                "UPDATE runbook_run_step SET state = 'running' WHERE run_id = :r AND position = 0"
            ),
            {"r": run_id},
        )
    later = T0 + timedelta(hours=1)
    with engine.begin() as conn:
        assert mark_interrupted(conn, now=later) == [run_id]
    with engine.connect() as conn:
        view = get_run(conn, run_id)
        assert get_run(conn, waiting_id).run.state is RunState.WAITING
    assert (view.run.state, view.run.ended_at) == (RunState.INTERRUPTED, later)
    assert [s.state for s in view.steps] == [StepState.INTERRUPTED, StepState.PENDING]
    with engine.begin() as conn:
        assert mark_interrupted(conn, now=later) == []


def test_runs_are_listed_newest_first_and_by_runbook(engine: Engine) -> None:
    rb = runbook(step("a", "echo a"))
    first, second = start(engine, rb), start(engine, rb)
    with engine.connect() as conn:
        assert [r.id for r in list_runs(conn)] == [second, first]
        assert [r.id for r in list_runs(conn, runbook="db-fix", limit=1)] == [second]
        assert list_runs(conn, runbook="other") == []
        with pytest.raises(NotFound, match="no runbook run 999999"):
            get_run(conn, 999999)


def test_finding_active_runs_and_a_runbooks_runs_uses_an_index(engine: Engine) -> None:
    rb = runbook(step("a", "echo a"))
    for _ in range(3):
        start(engine, rb)
    active = sa.select(runbook_run.c.id).where(runbook_run.c.state.in_(["running", "waiting"]))
    recent = (
        sa.select(runbook_run.c.id)
        .where(runbook_run.c.runbook == "db-fix")
        .order_by(runbook_run.c.id.desc())
        .limit(10)
    )
    for query, index in [(active, "ix_runbook_run_state"), (recent, "ix_runbook_run_runbook_id")]:
        with engine.connect() as conn:
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            if conn.dialect.name == "sqlite":
                plan = " ".join(
                    str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
                )
                assert f"USING COVERING INDEX {index}" in plan or f"USING INDEX {index}" in plan
                assert "SCAN runbook_run" not in plan, plan
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = " ".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
                assert index in plan, plan
                assert "Seq Scan" not in plan, plan


async def test_a_waiting_run_can_be_cancelled(engine: Engine) -> None:
    rb = runbook(step("look", "echo looked"), step("kill", "echo x", risk=Risk.WRITE))
    run_id = start(engine, rb)
    await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock())
    with engine.begin() as conn:
        cancel_run(conn, run_id, actor="user:bo", now=T0)
    stored = rows(engine, run_id)
    assert stored["run"][0]["state"] == "cancelled"
    assert [s["state"] for s in stored["steps"]] == ["ok", "skipped"]
    assert ("user:bo", "runbook.run.cancel") in [(a["actor"], a["action"]) for a in stored["audit"]]
    with engine.begin() as conn, pytest.raises(Conflict, match="is cancelled"):
        cancel_run(conn, run_id, actor="user:bo", now=T0)


async def test_cancelling_the_running_task_marks_the_step_and_the_run_cancelled(
    engine: Engine,
) -> None:
    rb = runbook(step("wait", "echo started; sleep 30"), step("after", "echo after"))
    run_id = start(engine, rb)
    started = asyncio.Event()
    task = asyncio.ensure_future(
        execute_run(
            engine,
            run_id,
            rb,
            settings=SETTINGS,
            clock=clock(),
            on_output=lambda _chunk: started.set(),
        )
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    assert rows(engine, run_id)["steps"][0]["state"] == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = rows(engine, run_id)
    assert stored["run"][0]["state"] == "cancelled"
    assert [s["state"] for s in stored["steps"]] == ["cancelled", "skipped"]
