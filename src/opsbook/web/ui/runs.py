"""``/runs``: recent runbook runs (filter by runbook and state); ``/runs/{id}``: one run, each
step with its risk, gate, state, output (masked as stored, escaped), exit code and duration,
and the forms that move it on: confirm a ``write`` step, ask for and decide an approval of a
``danger`` one, tick off a manual one with a note, cancel the run.

Forms post with the session's CSRF token (``FormDep``), need the responder role, call the same
domain functions as ``/api/v1/runs`` (``runs``, ``approvals``) and resume the run on the app's
``RunTasks``; the answer is 303 back to the run page, a refusal with its message (signed,
``run_actions``). Approve is not offered to the person who asked; if posted anyway the
service's refusal is shown. While a run is active the page follows
``/api/v1/runs/{id}/events`` (static/ui/run-live.js): new output is appended as it comes and
the page's live part is fetched again when a step or the run changes state. Without
JavaScript the page is complete and a reload shows the news.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Connection

from opsbook.accounts import Principal, Role
from opsbook.errors import Conflict, Forbidden, InputError
from opsbook.runbooks.approvals import decide_approval, request_approval
from opsbook.runbooks.models import Runbook
from opsbook.runbooks.policy import gate, self_approval_problem
from opsbook.runbooks.run_lists import find_runs
from opsbook.runbooks.run_models import ApprovalView, RunState, RunStepView, RunView, StepState
from opsbook.runbooks.runs import cancel_run, confirm_step, get_run, tick_step
from opsbook.store.audit import record_audit
from opsbook.web.deps import IdPath, Services, get_services
from opsbook.web.openapi import NO_NUL
from opsbook.web.ui.actions import ui_origin
from opsbook.web.ui.run_actions import error_location, launch, run_tasks, shown_error
from opsbook.web.ui.session import FormDep, PageDep, needs_role
from opsbook.web.ui.templating import Pages

LIST_LIMIT = 100
APPROVAL_TTL = timedelta(hours=1)
StepPath = Annotated[str, Path(max_length=200, pattern=NO_NUL)]


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    approval: ApprovalView
    is_open: bool
    """Not decided and not expired."""
    refusal: str | None
    """Why the viewer may not approve it (their own request), or None."""


@dataclass(frozen=True, slots=True)
class StepRow:
    step: RunStepView
    gate: str
    text: str | None
    """The step as the loaded runbook has it (placeholders left in), None if gone."""
    duration: timedelta | None
    approvals: list[ApprovalRow]
    can_confirm: bool
    can_ask: bool
    can_tick: bool


def step_rows(
    view: RunView, runbook: Runbook | None, *, actor: str, can_act: bool, now: datetime
) -> list[StepRow]:
    """Each step of the run with the forms the viewer may use on it now (none to a viewer,
    none on an ended run)."""
    active = can_act and not view.run.state.is_ended
    rows = []
    for step in view.steps:
        needed = gate(step.kind, step.risk)
        approvals = [
            ApprovalRow(
                approval=a,
                is_open=a.decision is None and now < a.expires_at,
                refusal=self_approval_problem(requested_by=a.requested_by, approver=actor),
            )
            for a in view.approvals
            if a.step_id == step.step_id
        ]
        is_open = step.state.is_open
        wants_approval = needed == "approve" or step.state is StepState.WAITING_APPROVAL
        loaded = runbook.step(step.step_id) if runbook is not None else None
        rows.append(
            StepRow(
                step=step,
                gate="approve" if step.state is StepState.WAITING_APPROVAL else needed.value,
                text=loaded.text if loaded is not None else None,
                duration=(
                    step.ended_at - step.started_at
                    if step.started_at is not None and step.ended_at is not None
                    else None
                ),
                approvals=approvals,
                can_confirm=active
                and is_open
                and needed == "confirm"
                and not wants_approval
                and step.confirmed_by is None,
                can_ask=active
                and is_open
                and wants_approval
                and not any(a.is_open or a.approval.decision == "approve" for a in approvals),
                can_tick=active and is_open and needed == "tick",
            )
        )
    return rows


def _state_filter(raw: str) -> RunState | None:
    if not raw:
        return None
    try:
        return RunState(raw)
    except ValueError:
        raise InputError(
            f"state: not a run state (one of {', '.join(RunState)})", field="state"
        ) from None


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/runs")
    def run_list(
        request: Request,
        principal: PageDep,
        runbook: Annotated[str, Query(max_length=200, pattern=NO_NUL)] = "",
        state: Annotated[str, Query(max_length=20, pattern=NO_NUL)] = "",
    ) -> Response:
        services = get_services(request)
        chosen = _state_filter(state)
        with services.engine.begin() as conn:
            found = find_runs(conn, runbook=runbook or None, state=chosen, limit=LIST_LIMIT)
        return pages.render(
            request,
            "runs.html",
            {
                "title": "Runs",
                "runs": found,
                "runbook": runbook,
                "state": state,
                "states": [s.value for s in RunState],
                "runbooks": sorted(services.runbooks.registry.runbooks),
                "limit": LIST_LIMIT,
            },
            principal=principal,
        )

    @routes.get("/runs/{run_id}")
    def run_page(run_id: IdPath, request: Request, principal: PageDep) -> Response:
        services = get_services(request)
        with services.engine.begin() as conn:
            view = get_run(conn, run_id)
        runbook = services.runbooks.registry.get(view.run.runbook)
        can_act = principal.role.allows(Role.RESPONDER)
        error = shown_error(request, run_id)
        return pages.render(
            request,
            "run.html",
            {
                "title": f"Run {run_id}",
                "run": view.run,
                "runbook_title": runbook.title if runbook is not None else view.run.runbook,
                "steps": step_rows(
                    view,
                    runbook,
                    actor=principal.actor,
                    can_act=can_act,
                    now=services.clock.now(),
                ),
                "can_act": can_act,
                "is_active": not view.run.state.is_ended,
                "error": error,
            },
            principal=principal,
        )

    async def act(
        request: Request,
        principal: Principal,
        run_id: int,
        form: str,
        write: Callable[[Connection, Services], tuple[bool, str]],
    ) -> Response:
        """Make ``write``'s change in one transaction; it returns whether to resume the run
        and the step to show. A refusal goes back to the page with its message."""
        needs_role(principal, Role.RESPONDER)
        services = get_services(request)

        def work() -> tuple[bool, str, Runbook | None]:
            with services.engine.begin() as conn:
                resume, step = write(conn, services)
                name = get_run(conn, run_id).run.runbook
            return resume, step, services.runbooks.registry.get(name)

        try:
            resume, step, runbook = await asyncio.to_thread(work)
        except (InputError, Conflict, Forbidden) as exc:
            return RedirectResponse(error_location(request, run_id, form, exc.message), 303)
        if resume and runbook is not None:
            launch(request, services, run_id, runbook)
        return RedirectResponse(f"/runs/{run_id}#step-{quote(step, safe='')}", 303)

    @routes.post("/runs/{run_id}/steps/{step}/confirm")
    async def confirm(
        run_id: IdPath, step: StepPath, request: Request, principal: FormDep
    ) -> Response:
        def write(conn: Connection, services: Services) -> tuple[bool, str]:
            confirm_step(
                conn,
                run_id,
                step,
                actor=principal.actor,
                now=services.clock.now(),
                origin=ui_origin(request),
            )
            return True, step

        return await act(request, principal, run_id, f"step-{step}", write)

    @routes.post("/runs/{run_id}/steps/{step}/tick")
    async def tick(
        run_id: IdPath, step: StepPath, request: Request, principal: FormDep
    ) -> Response:
        note = request.state.form.get("note", "")

        def write(conn: Connection, services: Services) -> tuple[bool, str]:
            tick_step(
                conn,
                run_id,
                step,
                actor=principal.actor,
                note=note,
                now=services.clock.now(),
                origin=ui_origin(request),
            )
            return True, step

        return await act(request, principal, run_id, f"step-{step}", write)

    @routes.post("/runs/{run_id}/steps/{step}/approval")
    async def ask(run_id: IdPath, step: StepPath, request: Request, principal: FormDep) -> Response:
        def write(conn: Connection, services: Services) -> tuple[bool, str]:
            request_approval(
                conn,
                run_id,
                step,
                actor=principal.actor,
                now=services.clock.now(),
                ttl=APPROVAL_TTL,
                origin=ui_origin(request),
            )
            return False, step

        return await act(request, principal, run_id, f"step-{step}", write)

    @routes.post("/runs/{run_id}/approvals/{approval_id}")
    async def decide(
        run_id: IdPath, approval_id: IdPath, request: Request, principal: FormDep
    ) -> Response:
        decision = request.state.form.get("decision", "")

        def write(conn: Connection, services: Services) -> tuple[bool, str]:
            if decision not in ("approve", "deny"):
                raise InputError("decision: choose approve or deny", field="decision")
            # An approval of another run is not this page's: refused as unknown.
            shown = {a.id: a.step_id for a in get_run(conn, run_id).approvals}
            if approval_id not in shown:
                raise InputError(
                    f"approval_id: run {run_id} has no approval {approval_id}",
                    field="approval_id",
                )
            decide_approval(
                conn,
                approval_id,
                actor=principal.actor,
                approve=decision == "approve",
                now=services.clock.now(),
                origin=ui_origin(request),
            )
            return decision == "approve", shown[approval_id]

        return await act(request, principal, run_id, f"approval-{approval_id}", write)

    @routes.post("/runs/{run_id}/cancel")
    async def cancel(run_id: IdPath, request: Request, principal: FormDep) -> Response:
        needs_role(principal, Role.RESPONDER)
        services = get_services(request)
        now, origin = services.clock.now(), ui_origin(request)
        if await run_tasks(request).cancel(run_id):
            # The task recorded the cancel of its step and the run; this records who.
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
            return RedirectResponse(f"/runs/{run_id}", 303)

        def work() -> None:
            with services.engine.begin() as conn:
                cancel_run(conn, run_id, actor=principal.actor, now=now, origin=origin)

        try:
            await asyncio.to_thread(work)
        except (InputError, Conflict) as exc:
            return RedirectResponse(error_location(request, run_id, "cancel", exc.message), 303)
        return RedirectResponse(f"/runs/{run_id}", 303)

    return routes
