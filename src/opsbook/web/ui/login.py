"""``/login``, ``/logout`` and ``/setup/{secret}``: a browser gets and ends its session here.

Store calls and the argon2 check run in a thread. A failed login, a throttled one and a refused
setup answer with the form again and a message that never repeats what was typed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Engine

from opsbook.accounts import Principal
from opsbook.accounts import service as accounts
from opsbook.accounts.service import MIN_PASSWORD_CHARS
from opsbook.clock import Clock
from opsbook.errors import Forbidden, InputError, Throttled, Unauthenticated
from opsbook.store.audit import record_audit
from opsbook.web.auth import SESSION_COOKIE, client_address, current_principal
from opsbook.web.deps import ClockDep, EngineDep
from opsbook.web.ui.session import (
    FormDep,
    clear_session_cookie,
    read_form,
    require_same_origin,
    safe_next,
    set_session_cookie,
)
from opsbook.web.ui.templating import Pages

SETUP_HEADERS = {"Referrer-Policy": "no-referrer"}
"""The setup page's URL is a secret: not even this site's own pages get it as a Referer."""

WRONG_LOGIN = "wrong name or password"


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    def login_form(
        request: Request, *, next_path: str, error: str | None = None, status_code: int = 200
    ) -> Response:
        return pages.render(
            request,
            "login.html",
            {"next": next_path, "error": error, "title": "Log in"},
            status_code=status_code,
        )

    def setup_form(
        request: Request, *, error: str | None = None, status_code: int = 200
    ) -> Response:
        return pages.render(
            request,
            "setup.html",
            {"error": error, "title": "Choose a password", "min_chars": MIN_PASSWORD_CHARS},
            status_code=status_code,
            headers=SETUP_HEADERS,
        )

    @routes.get("/login")
    def show_login(
        request: Request,
        principal: Annotated[Principal | None, Depends(current_principal)],
        next: str | None = None,
    ) -> Response:
        target = safe_next(next)
        if principal is not None:
            return RedirectResponse(target, status_code=303)
        return login_form(request, next_path=target)

    @routes.post("/login")
    async def log_in(request: Request, engine: EngineDep, clock: ClockDep) -> Response:
        try:
            require_same_origin(request)
            form = await read_form(request)
        except Forbidden as exc:
            return login_form(request, next_path="/", error=exc.message, status_code=403)
        except InputError as exc:
            return login_form(request, next_path="/", error=exc.message, status_code=400)
        target = safe_next(form.get("next"))
        person, password = form.get("person", "").strip(), form.get("password", "")
        if not person or not password:
            missing = "name" if not person else "password"
            return login_form(
                request, next_path=target, error=f"{missing}: required", status_code=400
            )
        address = client_address(request)
        try:
            found = await run_in_threadpool(
                _check_password, engine, clock, person=person, password=password, address=address
            )
        except Throttled as exc:
            minutes = max(1, round(exc.retry_after_s / 60))
            response = login_form(
                request,
                next_path=target,
                error=f"{exc.message} (about {minutes} min)",
                status_code=429,
            )
            # RFC 9110 section 10.2.3: when to try again.
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
        except Unauthenticated as exc:
            return login_form(request, next_path=target, error=exc.message, status_code=401)
        return await _start_session(request, engine, clock, person=found.person, target=target)

    @routes.post("/logout")
    def log_out(
        request: Request, engine: EngineDep, clock: ClockDep, principal: FormDep
    ) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            with engine.begin() as conn:
                accounts.close_session(conn, cookie=cookie)
                record_audit(
                    conn,
                    actor=principal.actor,
                    action="session.logout",
                    subject=f"account:{principal.person}",
                    detail={},
                    origin=f"ui {client_address(request)}",
                    at=clock.now(),
                )
        response = RedirectResponse("/login", status_code=303)
        clear_session_cookie(response, request)
        return response

    @routes.get("/setup/{secret}")
    def show_setup(request: Request, secret: str) -> Response:
        return setup_form(request)

    @routes.post("/setup/{secret}")
    async def complete_setup(
        request: Request, secret: str, engine: EngineDep, clock: ClockDep
    ) -> Response:
        try:
            require_same_origin(request)
            form = await read_form(request)
        except Forbidden as exc:
            return setup_form(request, error=exc.message, status_code=403)
        except InputError as exc:
            return setup_form(request, error=exc.message, status_code=400)
        password = form.get("password", "")
        if password != form.get("confirm", ""):
            return setup_form(request, error="confirm: the two passwords differ", status_code=400)
        try:
            person = await run_in_threadpool(
                _complete_setup, engine, clock, secret=secret, password=password
            )
        except InputError as exc:
            return setup_form(request, error=exc.message, status_code=400)
        except Unauthenticated as exc:
            return setup_form(request, error=exc.message, status_code=401)
        return await _start_session(request, engine, clock, person=person, target="/")

    return routes


def _check_password(
    engine: Engine, clock: Clock, *, person: str, password: str, address: str
) -> Principal:
    with engine.begin() as conn:
        # A wrong password returns None, so the block commits the failed attempt: throttling
        # counts it.
        who = accounts.log_in(
            conn, person=person, password=password, address=address, now=clock.now()
        )
    if who is None:
        raise Unauthenticated(WRONG_LOGIN)
    return who


def _complete_setup(engine: Engine, clock: Clock, *, secret: str, password: str) -> str:
    with engine.begin() as conn:
        return accounts.complete_setup(conn, setup=secret, password=password, now=clock.now())


async def _start_session(
    request: Request, engine: Engine, clock: Clock, *, person: str | None, target: str
) -> Response:
    if person is None:  # pragma: no cover - log_in and complete_setup always name the person
        raise RuntimeError("a login without a person")

    def open_session() -> str:
        address, now = client_address(request), clock.now()
        with engine.begin() as conn:
            cookie, _csrf = accounts.open_session(conn, person=person, address=address, now=now)
            # Logging in is in the audit log with the session it opened (issue 12: who, when,
            # from where, through which interface); a failed attempt is in login_attempt.
            record_audit(
                conn,
                actor=f"user:{person}",
                action="session.login",
                subject=f"account:{person}",
                detail={},
                origin=f"ui {address}",
                at=now,
            )
        return cookie

    cookie = await run_in_threadpool(open_session)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, cookie)
    return response
