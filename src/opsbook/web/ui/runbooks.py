"""``/runbooks``: the runbooks the server loaded at start, with steps by risk and the load
problems of the files left out; ``/runbooks/{name}``: one runbook's parameters and its steps by
section, each in a ``<pre>`` with its id, kind and risk. Read-only; the same views as
``/api/v1/runbooks`` (secrets masked, a secret parameter's default never shown).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsbook.web.api.runbooks import (
    StepRead,
    config_secrets,
    error_lines,
    find_runbook,
    runbook_read,
    summary_read,
)
from opsbook.web.deps import ConfigDep, RunbooksDep
from opsbook.web.ui.session import PageDep
from opsbook.web.ui.templating import Pages


def by_section(steps: list[StepRead]) -> list[tuple[str, list[StepRead]]]:
    """Consecutive steps under the same heading, in file order."""
    groups: list[tuple[str, list[StepRead]]] = []
    for step in steps:
        if not groups or groups[-1][0] != step.section:
            groups.append((step.section, []))
        groups[-1][1].append(step)
    return groups


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

    @routes.get("/runbooks/{name}")
    def runbook(
        name: str, request: Request, principal: PageDep, config: ConfigDep, loaded: RunbooksDep
    ) -> Response:
        found = runbook_read(find_runbook(loaded, name), loaded, config_secrets(config))
        return pages.render(
            request,
            "runbook.html",
            {"title": found.title, "runbook": found, "sections": by_section(found.steps)},
            principal=principal,
        )

    return routes
