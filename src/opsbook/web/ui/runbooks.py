"""``/runbooks``: the runbooks the server loaded at start, with steps by risk and the load
problems of the files left out; ``/runbooks/{name}``: one runbook's parameters and its steps by
section, each in a ``<pre>`` with its id, kind and risk; the same views as ``/api/v1/runbooks``
(secrets masked, a secret parameter's default never shown).

``/runbooks/{name}`` also has the form that starts a run (``POST /runbooks/{name}/runs``, the
responder role, the session's CSRF token): which steps, each parameter (a select when it has
allowed values or is a bool, a password box when secret), an optional incident. The run is
recorded and started as ``POST /api/v1/runbooks/{name}/runs`` does, and the browser is sent to
``/runs/{id}``. A refused form comes back (400) with the error naming the field and its
fields at their defaults: what was typed is never shown again (it may be a secret).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from opsbook.accounts import Principal, Role
from opsbook.errors import InputError, NotFound
from opsbook.incidents import service as incidents
from opsbook.runbooks.models import Runbook
from opsbook.runbooks.run_lists import find_runs
from opsbook.runbooks.run_models import Trigger, TriggerKind
from opsbook.runbooks.runs import start_run
from opsbook.web.api.runbooks import (
    RunbookRead,
    StepRead,
    config_secrets,
    error_lines,
    find_runbook,
    runbook_read,
    summary_read,
)
from opsbook.web.deps import ID_MAX, ConfigDep, RunbooksDep, Services, get_services
from opsbook.web.ui.actions import ui_origin
from opsbook.web.ui.run_actions import launch
from opsbook.web.ui.session import FormDep, PageDep, needs_role
from opsbook.web.ui.templating import Pages

RECENT_RUNS = 5
STEP_FIELD = "steps."
PARAM_FIELD = "params."


def by_section(steps: list[StepRead]) -> list[tuple[str, list[StepRead]]]:
    """Consecutive steps under the same heading, in file order."""
    groups: list[tuple[str, list[StepRead]]] = []
    for step in steps:
        if not groups or groups[-1][0] != step.section:
            groups.append((step.section, []))
        groups[-1][1].append(step)
    return groups


def incident_field(raw: str) -> int | None:
    """The form's ``incident_id``: empty for none, else an id. ``InputError`` names it."""
    value = raw.strip()
    if not value:
        return None
    # The length first: int() refuses a string of over 4300 digits with a ValueError.
    if not (len(value) <= 19 and value.isascii() and value.isdigit() and 1 <= int(value) <= ID_MAX):
        raise InputError(
            "incident_id: not an incident id (use its number, e.g. 42, or leave it empty)",
            field="incident_id",
        )
    return int(value)


def run_request(runbook: Runbook, form: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The steps ticked (``steps.<id>``, in the runbook's order) and the parameters filled in
    (``params.<name>``; an empty box is not given, so the default applies). A field naming no
    step is an ``InputError``; parameters are checked by ``start_run``."""
    known = {s.id for s in runbook.steps}
    for key in form:
        if key.startswith(STEP_FIELD) and key.removeprefix(STEP_FIELD) not in known:
            raise InputError("steps: a ticked step is not in this runbook", field="steps")
    chosen = [s.id for s in runbook.steps if STEP_FIELD + s.id in form]
    if not chosen:
        raise InputError("steps: tick at least one step to run", field="steps")
    params = {
        key.removeprefix(PARAM_FIELD): value
        for key, value in form.items()
        if key.startswith(PARAM_FIELD) and value.strip()
    }
    return chosen, params


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/runbooks")
    def runbooks(
        request: Request, principal: PageDep, config: ConfigDep, loaded: RunbooksDep
    ) -> Response:
        secrets = config_secrets(config)
        found = sorted(loaded.registry.runbooks.values(), key=lambda r: r.name)
        return pages.render(
            request,
            "runbooks.html",
            {
                "title": "Runbooks",
                "runbooks": [summary_read(r, loaded, secrets) for r in found],
                "errors": error_lines(loaded, secrets),
            },
            principal=principal,
        )

    def render_runbook(
        request: Request,
        principal: Principal,
        found: RunbookRead,
        *,
        error: InputError | None = None,
    ) -> Response:
        services = get_services(request)
        with services.engine.begin() as conn:
            recent = find_runs(conn, runbook=found.name, limit=RECENT_RUNS)
        context: dict[str, Any] = {
            "title": found.title,
            "runbook": found,
            "sections": by_section(found.steps),
            "recent_runs": recent,
            "can_run": principal.role.allows(Role.RESPONDER),
            "error": error.message if error else None,
            "error_field": (error.field or "") if error else "",
        }
        return pages.render(
            request,
            "runbook.html",
            context,
            principal=principal,
            status_code=400 if error else 200,
        )

    @routes.get("/runbooks/{name}")
    def runbook(
        name: str, request: Request, principal: PageDep, config: ConfigDep, loaded: RunbooksDep
    ) -> Response:
        found = runbook_read(find_runbook(loaded, name), loaded, config_secrets(config))
        return render_runbook(request, principal, found)

    @routes.post("/runbooks/{name}/runs")
    async def start(name: str, request: Request, principal: FormDep) -> Response:
        needs_role(principal, Role.RESPONDER)
        services = get_services(request)
        runbook = find_runbook(services.runbooks, name)
        form: dict[str, str] = request.state.form
        try:
            steps, params = run_request(runbook, form)
            incident_id = incident_field(form.get("incident_id", ""))
            run_id = await asyncio.to_thread(
                _start, services, runbook, principal, steps, params, incident_id, request
            )
        except InputError as exc:
            shown = runbook_read(runbook, services.runbooks, config_secrets(services.config))
            return render_runbook(request, principal, shown, error=exc)
        secret = {p.name for p in runbook.parameters if p.secret}
        launch(
            request,
            services,
            run_id,
            runbook,
            secrets={k: v for k, v in params.items() if k in secret},
        )
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    return routes


def _start(
    services: Services,
    runbook: Runbook,
    principal: Principal,
    steps: list[str],
    params: dict[str, str],
    incident_id: int | None,
    request: Request,
) -> int:
    with services.engine.begin() as conn:
        if incident_id is not None:
            try:
                incidents.get_incident(conn, incident_id)
            except NotFound:
                raise InputError("incident_id: no such incident", field="incident_id") from None
        return start_run(
            conn,
            runbook,
            step_ids=steps,
            params=params,
            trigger=Trigger(TriggerKind.PERSON, principal.actor),
            actor=principal.actor,
            now=services.clock.now(),
            incident_id=incident_id,
            origin=ui_origin(request),
        )
