"""What the UI's form posts share: where a write came from (for the audit log) and the answer
that sends the browser back to the list it acted on (POST, then redirect, then GET)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse

from opsbook.web.auth import client_address


def ui_origin(request: Request) -> str:
    """``ui 10.0.0.7``: the audit log's ``origin`` for a write made through a page."""
    return f"ui {client_address(request)}"


def back_to(location: str) -> RedirectResponse:
    # 303: the browser follows with a GET, so a reload does not post the form again.
    return RedirectResponse(location, status_code=303)
