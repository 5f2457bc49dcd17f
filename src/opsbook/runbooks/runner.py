"""Run a recorded run's steps in order, storing each outcome (masked) as it finishes.

The store is touched in short transactions between steps, never while a step runs, so a long
shell step holds no connection and every finished step is committed before the next starts.
Those transactions run in worker threads (``asyncio.to_thread``, as the API routes do): the
engine is sync, and a slow store must never stall the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.clock import Clock
from opsbook.errors import Conflict, InputError
from opsbook.redaction import mask_values
from opsbook.runbooks.approvals import approval_problem
from opsbook.runbooks.execute import run_step
from opsbook.runbooks.models import Runbook, Step
from opsbook.runbooks.outcome import (
    OutputCallback,
    RunSettings,
    StepContext,
    StepOutcome,
    cap_text,
)
from opsbook.runbooks.policy import Gate, gate
from opsbook.runbooks.run_models import RunState, StepState
from opsbook.runbooks.runs import run_row, run_values, writes_need_approval
from opsbook.runbooks.tables import runbook_run, runbook_run_step
from opsbook.runbooks.values import Value, secret_values

if TYPE_CHECKING:
    import aiohttp

MAX_ERROR_BYTES = 10_000
# A step that ended in one of these does not fail its run.
_SUCCESS = (StepState.OK.value, StepState.DONE.value)


async def execute_run(
    engine: Engine,
    run_id: int,
    runbook: Runbook,
    *,
    settings: RunSettings,
    clock: Clock,
    secrets: Mapping[str, str] | None = None,
    mask: Sequence[str] = (),
    dsns: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    write_needs_approval: bool = False,
    write_approval_during: Collection[str] = (),
    on_output: OutputCallback | None = None,
    keep_going: bool = False,
) -> RunState:
    """Run (or resume) run ``run_id`` of ``runbook`` and return the state it stopped in.

    1. Claim the run: ``pending``/``waiting`` -> ``running`` in one conditional update; a run
       in any other state raises ``Conflict`` (someone else runs it, or it ended).
    2. For each step not finished yet, in order: a step whose digest changed since the run
       started gets the new digest (noted), so a confirmation or approval of the old text no
       longer counts. Then by ``policy.gate``: a manual step not ticked, a ``write`` step not
       confirmed, a step needing an approval with none that counts -> the step is marked
       waiting and the run ``waiting``; stop (call again to resume).
    3. Otherwise mark it ``running`` (committed), run it with ``execute.run_step``, and commit
       its outcome. A step that did not end ``ok`` fails the run; later steps become
       ``skipped`` -- unless ``keep_going``: then the later steps run too, and the run ends
       ``failed`` once every step had its turn.
    4. Every step done -> ``succeeded`` (``failed`` if one failed under ``keep_going``).

    ``keep_going`` is for auto-diagnostics: its read steps only look, and when the first
    (``healthz``) fails is exactly when the next one's output matters. A person's run stops at
    a failure: the next step may be a fix that assumes the check before it passed.

    ``secrets`` are the plaintext values of secret parameters (never stored; give them again
    on each resume); ``mask`` any other plaintext to keep out of what is stored (tokens);
    ``dsns`` the resolved connection string of each ``db=`` name, masked too.
    ``write_needs_approval`` makes ``write`` steps need an approval like ``danger`` ones;
    ``write_approval_during`` (``runbooks.approvals.write_during``) does so for a run whose
    incident has one of these severities when the step is reached. Every store call runs in a
    worker thread (``asyncio.to_thread``), never on the loop. Raises
    ``NotFound``, ``Conflict``, ``InputError`` (a secret parameter missing) before changing
    anything. Cancelling the task marks the step and the run ``cancelled`` and re-raises.
    """
    dsns = dict(dsns or {})
    # Every store call runs in a worker thread: the engine is sync (SQLAlchemy Core), and a
    # slow store must not stall the loop that also runs probes, deliveries and other runs.
    run, values, hidden = await asyncio.to_thread(
        _claim, engine, run_id, runbook, clock, secrets or {}, [*mask, *dsns.values()]
    )
    during = frozenset(write_approval_during)
    for position in await asyncio.to_thread(_positions, engine, run_id):
        ready = await asyncio.to_thread(
            _ready_tx,
            engine,
            run_id,
            position,
            runbook,
            run,
            clock,
            write_needs_approval,
            during,
        )
        if ready is None:
            continue
        if isinstance(ready, RunState):
            return ready
        ctx = StepContext(
            values=values,
            secrets=hidden,
            settings=settings,
            clock=clock,
            on_output=on_output,
            session=session,
            dsn=dsns.get(ready.db) if ready.db else None,
        )
        try:
            outcome = await run_step(ready, ctx)
        except asyncio.CancelledError:
            # Recorded even if the task is cancelled again meanwhile: the thread finishes.
            await asyncio.to_thread(
                _finish,
                engine,
                run_id,
                position,
                clock,
                StepState.CANCELLED,
                "the run was cancelled",
                hidden,
            )
            raise
        except InputError as exc:
            if not keep_going:
                return await asyncio.to_thread(
                    _finish, engine, run_id, position, clock, StepState.FAILED, str(exc), hidden
                )
            await asyncio.to_thread(
                _mark, engine, run_id, position, clock, StepState.FAILED, str(exc), hidden
            )
            continue
        except Exception as exc:
            await asyncio.to_thread(
                _finish,
                engine,
                run_id,
                position,
                clock,
                StepState.FAILED,
                f"{type(exc).__name__}: {exc}",
                hidden,
            )
            raise
        await asyncio.to_thread(_store_tx, engine, run_id, position, outcome, hidden, settings)
        if not outcome.is_ok and not keep_going:
            return await asyncio.to_thread(_end, engine, run_id, clock, RunState.FAILED)
    if keep_going:
        return await asyncio.to_thread(_end_all_run, engine, run_id, clock)
    return await asyncio.to_thread(_end, engine, run_id, clock, RunState.SUCCEEDED)


def _claim(
    engine: Engine,
    run_id: int,
    runbook: Runbook,
    clock: Clock,
    secrets: Mapping[str, str],
    mask: Sequence[str],
) -> tuple[Any, dict[str, Value], list[str]]:
    """Step 1: the run's row, its values and what to mask, once it is ours (``running``)."""
    with engine.begin() as conn:
        run = run_row(conn, run_id)
        if run.runbook != runbook.name:
            raise InputError(
                f"run {run_id} is of runbook {run.runbook}, not {runbook.name}", field="runbook"
            )
        values = run_values(runbook, run.params, secrets)
        hidden = [*secret_values(runbook.parameters, values), *mask]
        claimed = conn.execute(
            runbook_run.update()
            .where(
                runbook_run.c.id == run_id,
                runbook_run.c.state.in_([RunState.PENDING.value, RunState.WAITING.value]),
            )
            .values(
                state=RunState.RUNNING.value,
                started_at=sa.func.coalesce(runbook_run.c.started_at, clock.now()),
            )
        )
        if claimed.rowcount != 1:
            raise Conflict(f"run {run_id} is {run.state}; only a pending or waiting run can run")
    return run, values, hidden


def _ready_tx(
    engine: Engine,
    run_id: int,
    position: int,
    runbook: Runbook,
    run: Any,
    clock: Clock,
    write_needs_approval: bool,
    during: frozenset[str],
) -> Step | RunState | None:
    with engine.begin() as conn:
        # Read at each gate, not once: an incident raised to SEV1 mid-run counts from then.
        if not write_needs_approval:
            write_needs_approval = writes_need_approval(conn, run.incident_id, during=during)
        return _ready(conn, run_id, position, runbook, run.params, clock, write_needs_approval)


def _store_tx(
    engine: Engine,
    run_id: int,
    position: int,
    outcome: StepOutcome,
    hidden: Sequence[str],
    settings: RunSettings,
) -> None:
    with engine.begin() as conn:
        _store(conn, run_id, position, outcome, hidden, settings)


def _positions(engine: Engine, run_id: int) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(runbook_run_step.c.position)
                .where(runbook_run_step.c.run_id == run_id)
                .order_by(runbook_run_step.c.position)
            ).scalars()
        )


def _ready(
    conn: Connection,
    run_id: int,
    position: int,
    runbook: Runbook,
    params: dict[str, str | None],
    clock: Clock,
    write_needs_approval: bool,
) -> Step | RunState | None:
    """The step to run now (marked running), ``None`` when it is finished, or the run's new
    state when it must wait or cannot go on."""
    row = conn.execute(
        sa.select(runbook_run_step).where(
            runbook_run_step.c.run_id == run_id, runbook_run_step.c.position == position
        )
    ).one()
    if not StepState(row.state).is_open:
        return None
    step = runbook.step(row.step_id)
    if step is None:
        _set_step(
            conn,
            run_id,
            position,
            state=StepState.REFUSED.value,
            error=f"step {row.step_id} is no longer in runbook {runbook.name}",
        )
        return _stop(conn, run_id, clock, RunState.FAILED)
    if step.digest != row.step_digest:
        _set_step(
            conn,
            run_id,
            position,
            step_digest=step.digest,
            kind=step.kind.value,
            risk=step.risk.value,
            note=f"the step changed since the run started (was {row.step_digest[:12]})",
        )
    needed = gate(step.kind, step.risk, write_needs_approval=write_needs_approval)
    waiting: StepState | None = None
    if needed is Gate.TICK:
        waiting = StepState.PENDING
    elif needed is Gate.CONFIRM and row.confirmed_digest != step.digest:
        waiting = StepState.WAITING_CONFIRMATION
    elif needed is Gate.APPROVE:
        problem = approval_problem(
            conn, run_id, step.id, step_digest=step.digest, params=params, now=clock.now()
        )
        if problem is not None:
            waiting = StepState.WAITING_APPROVAL
    if waiting is not None:
        _set_step(conn, run_id, position, state=waiting.value)
        return _stop(conn, run_id, clock, RunState.WAITING)
    _set_step(conn, run_id, position, state=StepState.RUNNING.value, started_at=clock.now())
    return step


def _store(
    conn: Connection,
    run_id: int,
    position: int,
    outcome: StepOutcome,
    hidden: Sequence[str],
    settings: RunSettings,
) -> None:
    output, cut = cap_text(mask_values(outcome.output, hidden), settings.output_limit_bytes)
    error, _ = cap_text(mask_values(outcome.error, hidden), MAX_ERROR_BYTES)
    rows: dict[str, Any] | None = None
    if outcome.columns:
        rows = {
            "columns": list(outcome.columns),
            "rows": [
                [None if c is None else mask_values(c, hidden) for c in r] for r in outcome.rows
            ],
        }
    _set_step(
        conn,
        run_id,
        position,
        state=StepState(outcome.status.value).value,
        output=output,
        error=error,
        exit_code=outcome.exit_code,
        http_status=outcome.http_status,
        rows=rows,
        truncated=outcome.truncated or cut,
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
    )


def _finish(
    engine: Engine,
    run_id: int,
    position: int,
    clock: Clock,
    state: StepState,
    error: str,
    hidden: Sequence[str],
) -> RunState:
    _mark(engine, run_id, position, clock, state, error, hidden)
    ended = RunState.CANCELLED if state is StepState.CANCELLED else RunState.FAILED
    return _end(engine, run_id, clock, ended)


def _mark(
    engine: Engine,
    run_id: int,
    position: int,
    clock: Clock,
    state: StepState,
    error: str,
    hidden: Sequence[str],
) -> None:
    with engine.begin() as conn:
        text, _ = cap_text(mask_values(error, hidden), MAX_ERROR_BYTES)
        _set_step(conn, run_id, position, state=state.value, error=text, ended_at=clock.now())


def _end(engine: Engine, run_id: int, clock: Clock, state: RunState) -> RunState:
    with engine.begin() as conn:
        return _stop(conn, run_id, clock, state)


def _end_all_run(engine: Engine, run_id: int, clock: Clock) -> RunState:
    # Read from the store, not kept in a local: a resumed run's earlier steps count too.
    with engine.begin() as conn:
        failed = conn.execute(
            sa.select(sa.func.count())
            .select_from(runbook_run_step)
            .where(
                runbook_run_step.c.run_id == run_id,
                runbook_run_step.c.state.not_in(_SUCCESS),
            )
        ).scalar_one()
        return _stop(conn, run_id, clock, RunState.FAILED if failed else RunState.SUCCEEDED)


def _stop(conn: Connection, run_id: int, clock: Clock, state: RunState) -> RunState:
    if state.is_ended:
        conn.execute(
            runbook_run_step.update()
            .where(
                runbook_run_step.c.run_id == run_id,
                runbook_run_step.c.state.in_([s.value for s in StepState if s.is_open]),
            )
            .values(state=StepState.SKIPPED.value)
        )
    conn.execute(
        runbook_run.update()
        .where(runbook_run.c.id == run_id)
        .values(state=state.value, ended_at=clock.now() if state.is_ended else None)
    )
    return state


def _set_step(conn: Connection, run_id: int, position: int, **values: Any) -> None:
    conn.execute(
        runbook_run_step.update()
        .where(runbook_run_step.c.run_id == run_id, runbook_run_step.c.position == position)
        .values(**values)
    )
