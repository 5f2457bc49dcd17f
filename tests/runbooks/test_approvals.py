"""Danger steps run only with an approval by a different person, bound to the step's digest and
the parameters, unexpired; on both stores, plus the policy's pure rules as tables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from opsbook.errors import Conflict, Forbidden, InputError
from opsbook.runbooks.approvals import decide_approval, request_approval
from opsbook.runbooks.models import Risk, Runbook, StepKind
from opsbook.runbooks.policy import Gate, gate, person_of, self_approval_problem
from opsbook.runbooks.run_models import RunState, StepState, Trigger, TriggerKind
from opsbook.runbooks.runner import execute_run
from opsbook.runbooks.runs import get_run, start_run
from opsbook.runbooks.tables import runbook_run
from runbook_helpers import SETTINGS, T0, clock, rows, runbook, step

ANA = "user:ana"
TTL = timedelta(minutes=15)
DROP = runbook(step("look", "echo looked"), step("drop", "echo dropped", risk=Risk.DANGER))


async def waiting_run(engine: Engine, rb: Runbook = DROP) -> int:
    """A run of ``rb`` started by Ana, run until it waits for the danger step's approval."""
    with engine.begin() as conn:
        run_id = start_run(
            conn,
            rb,
            step_ids=None,
            params={"target": "primary"},
            trigger=Trigger(TriggerKind.PERSON, ANA),
            actor=ANA,
            now=T0,
        )
    assert await execute_run(engine, run_id, rb, settings=SETTINGS, clock=clock()) is (
        RunState.WAITING
    )
    return run_id


def ask(engine: Engine, run_id: int, *, actor: str = ANA) -> int:
    with engine.begin() as conn:
        return request_approval(conn, run_id, "drop", actor=actor, now=T0, ttl=TTL)


def decide(engine: Engine, approval_id: int, actor: str, *, approve: bool = True) -> None:
    with engine.begin() as conn:
        decide_approval(conn, approval_id, actor=actor, approve=approve, now=T0)


def drop_state(engine: Engine, run_id: int) -> str:
    return str(rows(engine, run_id)["steps"][1]["state"])


@pytest.mark.parametrize("approver", [ANA, "user:Ana", "user: ana"])
async def test_the_requester_cannot_approve_their_own_request(
    engine: Engine, approver: str
) -> None:
    run_id = await waiting_run(engine)
    approval_id = ask(engine, run_id)
    with pytest.raises(Forbidden) as caught:
        decide(engine, approval_id, approver)
    assert str(caught.value) == (
        f"{approver} requested this approval; a different person must approve it (no self-approval)"
    )
    assert rows(engine, run_id)["approvals"][0]["decision"] is None
    assert await execute_run(engine, run_id, DROP, settings=SETTINGS, clock=clock()) is (
        RunState.WAITING
    )
    assert drop_state(engine, run_id) == "waiting_approval"


async def test_an_automation_cannot_approve(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    approval_id = ask(engine, run_id)
    with pytest.raises(Forbidden, match="token:ci is not a person"):
        decide(engine, approval_id, "token:ci")


async def test_another_persons_approval_lets_the_danger_step_run(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    assert drop_state(engine, run_id) == "waiting_approval"
    approval_id = ask(engine, run_id)
    decide(engine, approval_id, "user:bo")
    assert await execute_run(engine, run_id, DROP, settings=SETTINGS, clock=clock()) is (
        RunState.SUCCEEDED
    )
    with engine.connect() as conn:
        view = get_run(conn, run_id)
    drop = view.step("drop")
    assert drop is not None and (drop.state, drop.output) == (StepState.OK, "dropped\n")
    (approval,) = view.approvals
    assert (approval.requested_by, approval.decided_by, approval.decision) == (
        ANA,
        "user:bo",
        "approve",
    )
    assert approval.step_digest == DROP.steps[1].digest
    actions = [(a["actor"], a["action"]) for a in rows(engine, run_id)["audit"]]
    assert (ANA, "runbook.approval.request") in actions
    assert ("user:bo", "runbook.approval.approve") in actions


async def test_a_denied_approval_does_not_count(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    decide(engine, ask(engine, run_id), "user:bo", approve=False)
    assert await execute_run(engine, run_id, DROP, settings=SETTINGS, clock=clock()) is (
        RunState.WAITING
    )


async def test_an_expired_approval_does_not_count(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    decide(engine, ask(engine, run_id), "user:bo")
    late = clock()
    late.advance(TTL)
    assert await execute_run(engine, run_id, DROP, settings=SETTINGS, clock=late) is (
        RunState.WAITING
    )
    assert drop_state(engine, run_id) == "waiting_approval"


async def test_an_expired_request_cannot_be_approved(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    approval_id = ask(engine, run_id)
    with engine.begin() as conn, pytest.raises(Conflict, match="expired at 2026-12-06T09:15:00"):
        decide_approval(conn, approval_id, actor="user:bo", approve=True, now=T0 + TTL)


async def test_an_approval_does_not_count_once_the_step_changed(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    decide(engine, ask(engine, run_id), "user:bo")
    reloaded = runbook(
        step("look", "echo looked"), step("drop", "echo dropped all", risk=Risk.DANGER)
    )
    assert await execute_run(engine, run_id, reloaded, settings=SETTINGS, clock=clock()) is (
        RunState.WAITING
    )
    drop = rows(engine, run_id)["steps"][1]
    assert (drop["state"], drop["output"]) == ("waiting_approval", "")
    assert drop["step_digest"] == reloaded.steps[1].digest
    # A new approval of the changed step counts.
    decide(engine, ask(engine, run_id), "user:bo")
    assert await execute_run(engine, run_id, reloaded, settings=SETTINGS, clock=clock()) is (
        RunState.SUCCEEDED
    )


async def test_an_approval_does_not_count_once_the_parameters_changed(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    decide(engine, ask(engine, run_id), "user:bo")
    with engine.begin() as conn:
        conn.execute(
            runbook_run.update()
            .where(runbook_run.c.id == run_id)
            .values(params={"target": "replica"})
        )
    assert await execute_run(engine, run_id, DROP, settings=SETTINGS, clock=clock()) is (
        RunState.WAITING
    )
    assert drop_state(engine, run_id) == "waiting_approval"


async def test_write_steps_need_an_approval_when_config_says_so(engine: Engine) -> None:
    rb = runbook(step("kill", "echo killed", risk=Risk.WRITE))
    with engine.begin() as conn:
        run_id = start_run(
            conn,
            rb,
            step_ids=None,
            params={},
            trigger=Trigger(TriggerKind.ALERT, "42"),
            actor="system:alerts",
            now=T0,
        )
    run = await execute_run(
        engine, run_id, rb, settings=SETTINGS, clock=clock(), write_needs_approval=True
    )
    assert run is RunState.WAITING
    assert rows(engine, run_id)["steps"][0]["state"] == "waiting_approval"


async def test_read_steps_need_no_approval(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    with (
        engine.begin() as conn,
        pytest.raises(InputError, match="a read step: it needs no approval"),
    ):
        request_approval(conn, run_id, "look", actor=ANA, now=T0, ttl=TTL)
    with engine.begin() as conn, pytest.raises(InputError, match="ttl: must be more than 0s"):
        request_approval(conn, run_id, "drop", actor=ANA, now=T0, ttl=timedelta(0))


@pytest.mark.parametrize(
    ("kind", "risk", "write_needs_approval", "expected"),
    [
        (StepKind.SHELL, Risk.READ, False, Gate.NONE),
        (StepKind.SQL, Risk.READ, True, Gate.NONE),
        (StepKind.SHELL, Risk.WRITE, False, Gate.CONFIRM),
        (StepKind.HTTP, Risk.WRITE, True, Gate.APPROVE),
        (StepKind.SQL, Risk.DANGER, False, Gate.APPROVE),
        (StepKind.MANUAL, Risk.READ, False, Gate.TICK),
    ],
)
def test_what_each_step_waits_for(
    kind: StepKind, risk: Risk, write_needs_approval: bool, expected: Gate
) -> None:
    assert gate(kind, risk, write_needs_approval=write_needs_approval) is expected


@pytest.mark.parametrize(
    ("requested_by", "approver", "allowed"),
    [
        ("user:ana", "user:bo", True),
        ("token:ci", "user:bo", True),
        ("user:ana", "user:ana", False),
        ("user:ana", "user:ANA", False),
        ("user:ana", "token:ana", False),
        ("system:alerts", "system:alerts", False),
        ("user:ana", "user:", False),
    ],
)
def test_who_may_approve(requested_by: str, approver: str, allowed: bool) -> None:
    problem = self_approval_problem(requested_by=requested_by, approver=approver)
    assert (problem is None) is allowed


def test_the_person_part_of_an_actor() -> None:
    assert [person_of(a) for a in ["user:Ana", "token:ci", "system:x", "user:"]] == [
        "ana",
        None,
        None,
        None,
    ]
