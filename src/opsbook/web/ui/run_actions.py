"""What the run forms share: starting or resuming a run on the app's ``RunTasks`` (as the API
does), and the refusal a form's redirect carries back to the run page.

A refused change (a step that takes no confirmation, a self-approval, an ended run) redirects
to the run page with the domain's message in the query, signed with the session's CSRF token:
a link crafted elsewhere cannot make the page show a text of its choosing (the pattern of
``incident_forms``). The message names the field; it never repeats what was typed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import Request

from opsbook.runbooks.models import Runbook
from opsbook.web.api.runbooks import config_secrets
from opsbook.web.deps import Services
from opsbook.web.run_tasks import RunTasks


def run_tasks(request: Request) -> RunTasks:
    tasks = getattr(request.app.state, "run_tasks", None)
    if not isinstance(tasks, RunTasks):
        raise RuntimeError("app.state.run_tasks is missing; build the app with create_app()")
    return tasks


def launch(
    request: Request,
    services: Services,
    run_id: int,
    runbook: Runbook,
    *,
    secrets: Mapping[str, str] | None = None,
) -> None:
    """Execute (or resume) run ``run_id`` in the background; ``secrets`` are the plaintext
    values of secret parameters, kept in memory only while the run waits."""
    run_tasks(request).launch(
        run_id,
        runbook,
        config=services.config,
        loaded=services.runbooks,
        engine=services.engine,
        clock=services.clock,
        mask=config_secrets(services.config),
        secrets=secrets,
    )


def _signature(key: str, run_id: int, form: str, message: str) -> str:
    payload = f"run:{run_id}\n{form}\n{message}".encode()
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()[:32]


def error_location(request: Request, run_id: int, form: str, message: str) -> str:
    """The run page showing ``message`` at form ``form`` (``#form-<form>``)."""
    key = getattr(request.state, "csrf", "")
    query = urlencode(
        {"form": form, "error": message, "sig": _signature(key, run_id, form, message)}
    )
    return f"/runs/{run_id}?{query}#form-{form}"


def shown_error(request: Request, run_id: int) -> tuple[str, str] | None:
    """``(form, message)`` of the refusal the redirect carries, when signed for this session
    and run; else None."""
    query = request.query_params
    form, message, sent = query.get("form", ""), query.get("error", ""), query.get("sig", "")
    key = getattr(request.state, "csrf", "")
    if not (key and form and message and sent):
        return None
    if not hmac.compare_digest(sent, _signature(key, run_id, form, message)):
        return None
    return form, message
