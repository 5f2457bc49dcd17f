"""Runbook runs: start one (``POST /api/v1/runbooks/{name}/runs``), read runs and their steps,
confirm, tick, ask for and decide approvals, cancel, and follow a run's output as server-sent
events. Runs execute in the background on the server's event loop (``web/run_tasks.py``); a
write that lets a waiting run go on (a confirmation, a tick, an approval) resumes it.

Every text a run stores is masked by the runner (configured secrets, DSNs, secret parameter
values); answers are built from what is stored. Errors name the field, never the value.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection

from opsbook.errors import InputError, NotFound
from opsbook.incidents.tables import incident
from opsbook.runbooks.approvals import decide_approval, request_approval
from opsbook.runbooks.execute import run_step
from opsbook.runbooks.models import Runbook
from opsbook.runbooks.outcome import StepContext
from opsbook.runbooks.policy import gate
from opsbook.runbooks.run_models import RunState, RunView, Trigger, TriggerKind
from opsbook.runbooks.runs import (
    cancel_run,
    choose_steps,
    confirm_step,
    get_run,
    list_runs,
    run_row,
    start_run,
    tick_step,
    writes_need_approval,
)
from opsbook.runbooks.values import check_values, secret_values
from opsbook.store.audit import record_audit
from opsbook.web.api.runbooks import config_secrets, find_runbook
from opsbook.web.auth import ALLOW_VIEWER, ResponderDep
from opsbook.web.deps import IdField, IdPath, Services, get_services
from opsbook.web.openapi import NO_NUL, error_response
from opsbook.web.run_tasks import RunTasks, database_dsns, run_settings

router = APIRouter(prefix="/api/v1", tags=["runbooks"], dependencies=[Depends(ALLOW_VIEWER)])

Model = TypeVar("Model", bound=BaseModel)
BodyDep = Annotated[Any, Body()]
StepPath = Annotated[str, Path(max_length=200, pattern=NO_NUL, description="A step id of the run.")]
POLL_S = 0.5
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: error_response("The run or step is not in a state that takes this")
}
SELF_APPROVAL: dict[int | str, dict[str, Any]] = {
    403: error_response("The role does not allow this, or it is a self-approval")
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_In):
    steps: list[Annotated[str, Field(max_length=200)]] | None = None
    """Step ids to run (in the runbook's order); none runs every step."""
    params: dict[str, str] = {}
    incident_id: IdField | None = None
    dry_run: bool = False
    """Show what each step would run (shell and HTTP rendered, SQL EXPLAINed); record nothing."""


class TickCreate(_In):
    note: str = Field(default="", max_length=2000, pattern=NO_NUL)


class ApprovalDecision(_In):
    approve: bool


def _parse(model: type[Model], body: Any) -> Model:
    try:
        return model.model_validate({} if body is None else body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in tuple(first["loc"])
        )
        message = {"missing": "is required", "extra_forbidden": "is not a known field"}.get(
            first["type"], first["msg"]
        )
        raise InputError(f"{path}: {message}", field=path, location="body") from None


def _tasks(request: Request) -> RunTasks:
    tasks = getattr(request.app.state, "run_tasks", None)
    if not isinstance(tasks, RunTasks):
        raise RuntimeError("app.state.run_tasks is missing; build the app with create_app()")
    return tasks


def _origin(request: Request) -> str:
    return f"api {request.client.host}" if request.client else "api"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def run_json(view: RunView) -> dict[str, Any]:
    """The run, its steps (state, masked output, exit code...) and approvals."""
    summary = asdict(view.run)
    trigger = summary.pop("trigger")
    shown: dict[str, Any] = _jsonable(
        {
            **summary,
            "trigger": {"kind": trigger["kind"], "detail": trigger["detail"]},
            "steps": [asdict(s) for s in view.steps],
            "approvals": [asdict(a) for a in view.approvals],
        }
    )
    return shown


def _read(services: Services, run_id: int) -> dict[str, Any]:
    with services.engine.begin() as conn:
        return run_json(get_run(conn, run_id))


def _runbook_of(services: Services, run_id: int) -> Runbook:
    with services.engine.begin() as conn:
        name = run_row(conn, run_id).runbook
    runbook = services.runbooks.registry.get(name)
    if runbook is None:
        raise NotFound(f"runbook {name} of run {run_id} is no longer loaded", field="run_id")
    return runbook


def _resume(request: Request, services: Services, run_id: int, runbook: Runbook) -> None:
    _tasks(request).launch(
        run_id,
        runbook,
        config=services.config,
        loaded=services.runbooks,
        engine=services.engine,
        clock=services.clock,
        mask=config_secrets(services.config),
    )


def _check_steps(runbook: Runbook, steps: list[str] | None) -> None:
    """Unknown step ids named by their place in the body (``steps[1]``), never echoed."""
    known = {s.id for s in runbook.steps}
    for index, step in enumerate(steps or ()):
        if step not in known:
            raise InputError(
                f"$.steps[{index}]: no such step in runbook {runbook.name} "
                f"(its steps: {', '.join(sorted(known))})",
                field=f"$.steps[{index}]",
                location="body",
            )


def _check_incident(conn: Connection, incident_id: int | None) -> None:
    if incident_id is not None:
        found = conn.execute(sa.select(incident.c.id).where(incident.c.id == incident_id)).first()
        if found is None:
            raise InputError("$.incident_id: no such incident", field="$.incident_id")


def _start(services: Services, runbook: Runbook, run_in: RunCreate, actor: str, origin: str) -> int:
    with services.engine.begin() as conn:
        _check_incident(conn, run_in.incident_id)
        kind = TriggerKind.PERSON if actor.startswith("user:") else TriggerKind.API
        return start_run(
            conn,
            runbook,
            step_ids=run_in.steps,
            params=run_in.params,
            trigger=Trigger(kind, actor),
            actor=actor,
            now=services.clock.now(),
            incident_id=run_in.incident_id,
            origin=origin,
        )


def _dry_run_writes_need_approval(services: Services, incident_id: int | None) -> bool:
    """What the real run would apply now: ``runbooks.approvals.write_during`` for its incident's
    severity (an unknown incident is refused, as a real run would be)."""
    with services.engine.connect() as conn:
        _check_incident(conn, incident_id)
        return writes_need_approval(
            conn, incident_id, during=services.config.runbooks.approvals.write_during
        )


async def _dry_run(services: Services, runbook: Runbook, run_in: RunCreate) -> dict[str, Any]:
    steps = choose_steps(runbook, run_in.steps)
    values = check_values(
        run_in.params, parameters=runbook.parameters, names=[n for s in steps for n in s.params]
    )
    write_needs_approval = await asyncio.to_thread(
        _dry_run_writes_need_approval, services, run_in.incident_id
    )
    dsns = database_dsns(services.config)
    hidden = [
        *secret_values(runbook.parameters, values),
        *config_secrets(services.config),
        *dsns.values(),
    ]
    settings = run_settings(services.config, services.runbooks)
    previews = []
    for step in steps:
        ctx = StepContext(
            values=values,
            secrets=hidden,
            settings=settings,
            clock=services.clock,
            dry_run=True,
            dsn=dsns.get(step.db) if step.db else None,
        )
        outcome = await run_step(step, ctx)
        previews.append(
            {
                "step_id": step.id,
                "kind": str(step.kind),
                "risk": str(step.risk),
                "gate": str(gate(step.kind, step.risk, write_needs_approval=write_needs_approval)),
                "status": str(outcome.status),
                "rendered": outcome.rendered,
                "output": outcome.output,
                "error": outcome.error,
            }
        )
    return {"runbook": runbook.name, "dry_run": True, "steps": previews}


@router.post(
    "/runbooks/{name}/runs",
    status_code=202,
    responses={200: {"description": "A dry run: what each step would run; nothing recorded"}},
)
async def start(name: str, request: Request, principal: ResponderDep, body: BodyDep = None) -> Any:
    """Start a run of runbook ``name``; it executes in the background. 202 with the run."""
    services = get_services(request)
    run_in = _parse(RunCreate, body)
    runbook = find_runbook(services.runbooks, name)
    _check_steps(runbook, run_in.steps)
    if run_in.dry_run:
        return JSONResponse(await _dry_run(services, runbook, run_in))
    run_id = await asyncio.to_thread(
        _start, services, runbook, run_in, principal.actor, _origin(request)
    )
    secret = {p.name for p in runbook.parameters if p.secret}
    _tasks(request).launch(
        run_id,
        runbook,
        config=services.config,
        loaded=services.runbooks,
        engine=services.engine,
        clock=services.clock,
        mask=config_secrets(services.config),
        secrets={k: v for k, v in run_in.params.items() if k in secret},
    )
    return await asyncio.to_thread(_read, services, run_id)


@router.get("/runs")
def runs(
    request: Request,
    runbook: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The newest runs (of ``runbook`` if given), newest first, without their steps."""
    services = get_services(request)
    with services.engine.begin() as conn:
        found = list_runs(conn, runbook=runbook, limit=limit)
    return {"runs": [_jsonable(asdict(r)) for r in found]}


@router.get("/runs/{run_id}")
def show(run_id: IdPath, request: Request) -> dict[str, Any]:
    """One run: its steps with state, output (masked), exit code, and its approvals."""
    return _read(get_services(request), run_id)


async def _write_then_resume(
    request: Request, run_id: int, write: Callable[[Services, Connection], object]
) -> dict[str, Any]:
    services = get_services(request)
    runbook = await asyncio.to_thread(_runbook_of, services, run_id)

    def work() -> None:
        with services.engine.begin() as conn:
            write(services, conn)

    await asyncio.to_thread(work)
    _resume(request, services, run_id, runbook)
    return await asyncio.to_thread(_read, services, run_id)


@router.post("/runs/{run_id}/steps/{step}/confirm", responses=CONFLICT)
async def confirm(
    run_id: IdPath, step: StepPath, request: Request, principal: ResponderDep
) -> dict[str, Any]:
    """Confirm a ``write`` step, then resume the run."""
    return await _write_then_resume(
        request,
        run_id,
        lambda s, conn: confirm_step(
            conn, run_id, step, actor=principal.actor, now=s.clock.now(), origin=_origin(request)
        ),
    )


@router.post("/runs/{run_id}/steps/{step}/tick", responses=CONFLICT)
async def tick(
    run_id: IdPath,
    step: StepPath,
    request: Request,
    principal: ResponderDep,
    body: BodyDep = None,
) -> dict[str, Any]:
    """Tick off a manual step (with an optional ``note``), then resume the run."""
    tick_in = _parse(TickCreate, body)
    return await _write_then_resume(
        request,
        run_id,
        lambda s, conn: tick_step(
            conn,
            run_id,
            step,
            actor=principal.actor,
            note=tick_in.note,
            now=s.clock.now(),
            origin=_origin(request),
        ),
    )


@router.post("/runs/{run_id}/steps/{step}/approval", status_code=201, responses=CONFLICT)
def ask_approval(
    run_id: IdPath, step: StepPath, request: Request, principal: ResponderDep
) -> dict[str, Any]:
    """Ask another person to approve a step (open for ``runbooks.approvals.ttl``), announced
    to the approval channels; answers the run, with the new approval."""
    services = get_services(request)
    with services.engine.begin() as conn:
        request_approval(
            conn,
            run_id,
            step,
            actor=principal.actor,
            now=services.clock.now(),
            ttl=services.config.runbooks.approvals.ttl,
            origin=_origin(request),
            config=services.config,
        )
    # The announcement was queued with the request: send it now, not at the next poll.
    if services.deliverer is not None:
        services.deliverer.wake()
    return _read(services, run_id)


@router.post("/approvals/{approval_id}", responses={**CONFLICT, **SELF_APPROVAL})
async def decide(
    approval_id: IdPath, request: Request, principal: ResponderDep, body: BodyDep = None
) -> dict[str, Any]:
    """Approve (a person other than the requester) or deny; an approval resumes the run."""
    decision = _parse(ApprovalDecision, body)
    services = get_services(request)

    def work() -> int:
        with services.engine.begin() as conn:
            view = decide_approval(
                conn,
                approval_id,
                actor=principal.actor,
                approve=decision.approve,
                now=services.clock.now(),
                origin=_origin(request),
            )
        return view.run_id

    run_id = await asyncio.to_thread(work)
    if decision.approve:
        _resume(request, services, run_id, await asyncio.to_thread(_runbook_of, services, run_id))
    return await asyncio.to_thread(_read, services, run_id)


@router.post("/runs/{run_id}/cancel", responses=CONFLICT)
async def cancel(run_id: IdPath, request: Request, principal: ResponderDep) -> dict[str, Any]:
    """Cancel a run: a running one's task is cancelled (its step recorded ``cancelled``); a
    pending or waiting one ends with its open steps skipped."""
    services = get_services(request)
    tasks = _tasks(request)
    now, origin = services.clock.now(), _origin(request)
    if await tasks.cancel(run_id):

        def audit() -> None:
            with services.engine.begin() as conn:
                record_audit(
                    conn,
                    actor=principal.actor,
                    action="runbook.run.cancel",
                    subject=f"runbook_run:{run_id}",
                    detail={"running": True},
                    origin=origin,
                    at=now,
                )

        await asyncio.to_thread(audit)
    else:

        def work() -> None:
            with services.engine.begin() as conn:
                cancel_run(conn, run_id, actor=principal.actor, now=now, origin=origin)

        await asyncio.to_thread(work)
    return await asyncio.to_thread(_read, services, run_id)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def events(run_id: IdPath, request: Request) -> StreamingResponse:
    """Server-sent events while the run runs: ``output`` (masked chunks), ``step`` (a step's
    new state) and a last ``end`` (the run's state) once it is no longer running."""
    services = get_services(request)
    tasks = _tasks(request)
    await asyncio.to_thread(_read, services, run_id)  # 404 before the stream starts
    queue = tasks.listen(run_id)

    async def stream() -> AsyncIterator[bytes]:
        seen: dict[str, str] = {}
        try:
            while True:
                view = await asyncio.to_thread(_read, services, run_id)
                for step in view["steps"]:
                    if seen.get(step["step_id"]) != step["state"]:
                        seen[step["step_id"]] = step["state"]
                        yield _sse("step", {k: step[k] for k in ("step_id", "state", "exit_code")})
                state = RunState(view["state"])
                if state not in (RunState.PENDING, RunState.RUNNING) and not tasks.is_active(
                    run_id
                ):
                    yield _sse("end", {"state": state.value})
                    return
                try:
                    item = await asyncio.wait_for(queue.get(), POLL_S)
                except TimeoutError:
                    continue
                if "output" in item:
                    yield _sse("output", {"chunk": item["output"]})
        finally:
            tasks.unlisten(run_id, queue)

    return StreamingResponse(stream(), media_type="text/event-stream")
