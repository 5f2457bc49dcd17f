"""Alert ingest over HTTP, in the peers' own protocols (docs/ingest.md).

    POST /api/v2/alerts                              Alertmanager API v2 (what Prometheus sends)
    POST /api/v1/integrations/{name}/alertmanager    Alertmanager webhook receiver (version 4)
    POST /v2/enqueue                                 PagerDuty Events API v2
    POST /api/v1/integrations/{name}/webhook         opsbook's generic JSON webhook

Every path authenticates first, validates the whole body (errors name the JSON path), commits,
and only then answers 2xx; then it wakes the alert engine. Status codes follow the senders'
retry rules: Alertmanager and PagerDuty clients retry 5xx and give up on 4xx, so 4xx is kept
for requests that can never succeed (bad auth, bad payload, too large).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import APIRouter, Header, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.engine import Connection
from starlette.requests import ClientDisconnect

from opsbook.alerts.engine import paging_severities
from opsbook.alerts.group_commit import GroupCommitter
from opsbook.alerts.ingest import (
    alertmanager_webhook_writes,
    alertmanager_writes,
    ingest_pagerduty,
    ingest_webhook,
    integration_for_routing_key,
    integration_for_token,
    is_valid_signature,
    webhook_key,
)
from opsbook.alerts.ingest_models import (
    Checked,
    InvalidPayload,
    PayloadProblem,
    PostableAlert,
    decode_json,
    parse_pagerduty_event,
    read_postable_alerts,
    read_postable_alerts_fast,
    read_webhook_alerts,
    read_webhook_message,
)
from opsbook.alerts.ingest_writes import IngestReport, Writes
from opsbook.config import Config
from opsbook.config.alerts import Integration
from opsbook.errors import NotFound

# Services straight from app.state: a ``Depends`` on the sync ``get_services`` costs a trip
# through the thread pool on every request.
from opsbook.web.auth import INTEGRATION_AUTH
from opsbook.web.body_limit import declared_length
from opsbook.web.deps import Services, get_services
from opsbook.web.errors import error_body
from opsbook.web.openapi import (
    PAGERDUTY_EVENT,
    POSTABLE_ALERTS,
    TOO_LARGE,
    UNAUTHORIZED,
    WEBHOOK_ALERTS,
    WEBHOOK_MESSAGE,
    pagerduty_response,
    request_body,
)
from opsbook.web.security import FixedResponse

log = structlog.get_logger(__name__)

# Each route checks its integration's own token (Prometheus, PagerDuty senders, webhooks).
router = APIRouter(tags=["ingest"], dependencies=[INTEGRATION_AUTH])

# Prometheus posts at most 256 alerts a request (notifier maxBatchSize); 2 MB is ~8 KB each,
# and with the per-alert caps (ingest_models) bounds what one request costs in memory.
ALERTMANAGER_BODY_LIMIT = 2 * 1024 * 1024
PAGERDUTY_BODY_LIMIT = 512 * 1024  # PagerDuty's own limit: "Payload: 512 KB"
WEBHOOK_BODY_LIMIT = 1024 * 1024
SIGNATURE_HEADER = "X-Opsbook-Signature"
POST_ALERTS_PATH = "/api/v2/alerts"
"""Served by ``web/lean_ingest.py`` ahead of the router; registered here for the API document."""
_CHALLENGE = 'Bearer realm="opsbook", Basic realm="opsbook"'

T = TypeVar("T")


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit // 1024} KB")
        self.limit = limit


# Authentication


def presented_token(request: Request) -> str | None:
    """The token in ``Authorization: Bearer <token>``, or the password of HTTP Basic
    (Prometheus' ``basic_auth`` and Alertmanager's ``http_config`` can send either)."""
    header = _header(request, b"authorization")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _header(request: Request, name: bytes) -> str:
    """The first ``name`` header as ``request.headers`` gives it ("" if none), read from the
    ASGI scope's list as it is: making ``request.headers`` cost as much as the rest of
    authenticating a one-alert post."""
    headers: list[tuple[bytes, bytes]] = request.scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": _CHALLENGE})


def alertmanager_integration(request: Request, config: Config) -> str:
    """The alertmanager integration whose token the request presents; 401 otherwise."""
    token = presented_token(request)
    if token is None:
        raise unauthorized(
            "authentication required: send Authorization: Bearer <token> "
            "(an alertmanager integration's token)"
        )
    name = integration_for_token(config, token, kind="alertmanager")
    if name is None:
        raise unauthorized("the token does not belong to any alertmanager integration")
    return name


def _named_integration(config: Config, name: str, kind: str) -> Integration:
    spec = config.integrations.get(name)
    if spec is None or spec.kind != kind:
        raise NotFound(f"name: no {kind} integration has that name", field="name")
    return spec


# Plumbing


async def read_body(request: Request, *, limit: int) -> bytes:
    """The request body, refusing (``BodyTooLarge``) anything over ``limit`` bytes without
    holding more than that in memory."""
    declared = declared_length(request.scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    # Chunks joined once: a growing bytearray reallocates as it grows and bytes() copies it
    # again, so the body was held up to three times at its largest (docs/ingest.md, "Memory").
    # ASGI messages read here rather than through ``request.stream()``, whose async generator
    # costs more than the rest of reading a one-alert body.
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            raise ClientDisconnect()
        if kind != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


def _too_large(exc: BodyTooLarge) -> JSONResponse:
    return JSONResponse(error_body(str(exc), field="$", location="body"), status_code=413)


def _partial(checked: Checked[Any], *, integration: str, total: int, kept: int) -> Response | None:
    """Note repaired text in the log (paths only: the text may be a secret), and, when some
    alerts were left out, the 400 naming each by index and field. Alertmanager answers so too
    (``api/v2/api.go`` ``postAlertsHandler``): the valid alerts are stored, the answer is 400.
    A sender that retries the whole batch re-sends the stored ones, which is a no-op refresh."""
    if checked.repaired:
        log.warning("ingest_text_repaired", integration=integration, paths=list(checked.repaired))
    invalid = checked.invalid
    if invalid is None:
        return None
    message = f"{invalid}; {kept} of {total} alerts stored" if kept else str(invalid)
    return JSONResponse(error_body(message, field=invalid.field, location="body"), status_code=400)


def _committer(request: Request, services: Services) -> GroupCommitter:
    """The app's one ingest writer (made at the first ingest request)."""
    state = request.app.state
    committer = getattr(state, "ingest_committer", None)
    if not isinstance(committer, GroupCommitter):
        committer = state.ingest_committer = GroupCommitter(services.engine)
    return committer


def _wake(services: Services, report: IngestReport) -> None:
    """Wake the alert engine if dispatch has something to do (an alert opened, resolved,
    acknowledged or re-labelled; a plain re-send does not need a dispatch pass), and the
    incidents task if an alert that pages started firing (its incident and first page now,
    not at the task's next interval)."""
    if services.alerts is not None and report.needs_dispatch:
        services.alerts.wake()
    pages = bool(report.fired) and not report.fired.isdisjoint(paging_severities(services.config))
    if pages and services.incidents is not None:
        services.incidents.wake()


async def _write(request: Request, services: Services, writes: Writes) -> None:
    """Store one request's alerts (committed, in a group commit) and wake the alert engine."""
    applied = await _committer(request, services).write(writes)
    _wake(services, applied.report)


async def _commit(
    request: Request, services: Services, work: Callable[[Connection], T], report: IngestReport
) -> T:
    """Run ``work`` in a committed transaction (shared with other requests), then wake."""
    result = await _committer(request, services).run(work)
    _wake(services, report)
    return result


# 1. Alertmanager API v2


class RequestRoute(APIRoute):
    """A route whose endpoint takes the ``Request`` and returns a ``Response`` itself, with no
    parameter parsing or dependency solving: FastAPI's custom ``APIRoute`` hook
    (https://fastapi.tiangolo.com/how-to/custom-request-and-route/). It stays in the OpenAPI
    schema. For the hottest route, where that machinery cost as much as storing one alert."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


# Alertmanager answers 200 with an empty body (api/v2/openapi.yaml, postAlerts).
_STORED = FixedResponse(POST_ALERTS_PATH)


async def post_alerts(request: Request) -> Response:
    services = get_services(request)
    config = services.config
    integration = alertmanager_integration(request, config)
    try:
        body = await read_body(request, limit=ALERTMANAGER_BODY_LIMIT)
    except BodyTooLarge as exc:
        return _too_large(exc)
    # What Prometheus sends is read in C; any other body the long way, which says what is wrong.
    fast = read_postable_alerts_fast(body)
    if fast is not None:
        checked: Checked[list[PostableAlert]] = Checked(fast)
        data: object = fast
    else:
        data = decode_json(body)
        checked = read_postable_alerts(data)
    alerts = checked.value
    if alerts:
        now = services.clock.now()
        await _write(
            request,
            services,
            alertmanager_writes(config=config, integration=integration, alerts=alerts, now=now),
        )
    total = len(data) if isinstance(data, list) else 0
    refused = _partial(checked, integration=integration, total=total, kept=len(alerts))
    return refused or _STORED


router.add_api_route(
    POST_ALERTS_PATH,
    post_alerts,
    methods=["POST"],
    summary="Alertmanager API v2: post alerts (Prometheus' alerting.alertmanagers target).",
    response_class=Response,
    route_class_override=RequestRoute,
    responses={200: {"description": "Stored (an empty body)"}, **UNAUTHORIZED, **TOO_LARGE},
    openapi_extra=request_body(POSTABLE_ALERTS, description="Alertmanager's postableAlerts"),
)


def post_alerts_route() -> APIRoute:
    """The route ``post_alerts`` is registered as: what the router would put in
    ``scope["route"]`` (the request log and metrics name the route by it) when a shortcut
    serves it instead (web/hot_routes.py, web/lean_ingest.py)."""
    return next(
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == POST_ALERTS_PATH and "POST" in (r.methods or ())
    )


# 2. Alertmanager webhook receiver


@router.post(
    "/api/v1/integrations/{name}/alertmanager",
    summary="Alertmanager webhook receiver (webhook_configs url), payload version 4.",
    response_model=None,
    responses={**UNAUTHORIZED, **TOO_LARGE},
    openapi_extra=request_body(WEBHOOK_MESSAGE, description="Alertmanager's webhook payload"),
)
async def alertmanager_webhook(request: Request, name: str) -> dict[str, int] | JSONResponse:
    services = get_services(request)
    config = services.config
    _named_integration(config, name, "alertmanager")
    token = presented_token(request)
    if token is None or integration_for_token(config, token, kind="alertmanager") != name:
        raise unauthorized(f"send Authorization: Bearer <token> of integration {name!r}")
    try:
        data = decode_json(await read_body(request, limit=ALERTMANAGER_BODY_LIMIT))
    except BodyTooLarge as exc:
        return _too_large(exc)
    checked = read_webhook_message(data)
    message = checked.value
    if message.alerts:
        now = services.clock.now()
        await _write(
            request,
            services,
            alertmanager_webhook_writes(config=config, integration=name, message=message, now=now),
        )
    raw = data.get("alerts") if isinstance(data, dict) else None
    total = len(raw) if isinstance(raw, list) else 0
    refused = _partial(checked, integration=name, total=total, kept=len(message.alerts))
    if isinstance(refused, JSONResponse):
        return refused
    return {"received": len(message.alerts)}


# 3. PagerDuty Events API v2


def _pagerduty_invalid(errors: list[str], *, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status_code=status,
    )


@router.post(
    "/v2/enqueue",
    summary="PagerDuty Events API v2: trigger, acknowledge or resolve an alert.",
    status_code=202,
    responses={
        202: pagerduty_response("Event processed"),
        400: pagerduty_response("Invalid event (PagerDuty's answer shape)"),
        413: pagerduty_response("The body is larger than 512 KB"),
    },
    openapi_extra=request_body(PAGERDUTY_EVENT, description="One PagerDuty Events API v2 event"),
)
async def enqueue(request: Request) -> JSONResponse:
    services = get_services(request)
    config = services.config
    try:
        event = parse_pagerduty_event(
            decode_json(await read_body(request, limit=PAGERDUTY_BODY_LIMIT))
        )
    except BodyTooLarge as exc:
        return _pagerduty_invalid([str(PayloadProblem("$", str(exc)))], status=413)
    except InvalidPayload as exc:
        return _pagerduty_invalid([str(p) for p in exc.problems])
    integration = integration_for_routing_key(config, event.routing_key)
    if integration is None:
        # PagerDuty answers an unknown integration key with 400 "Invalid routing key"; the key
        # is the credential, so the answer never repeats it.
        return _pagerduty_invalid(["$.routing_key: no pagerduty integration has this key"])
    if event.repaired:
        log.warning("ingest_text_repaired", integration=integration, paths=list(event.repaired))
    now = services.clock.now()
    report = IngestReport()
    dedup_key = await _commit(
        request,
        services,
        lambda conn: ingest_pagerduty(
            conn, config=config, integration=integration, event=event, now=now, report=report
        ),
        report,
    )
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
        status_code=202,
    )


# 4. opsbook's generic webhook


@router.post(
    "/api/v1/integrations/{name}/webhook",
    summary="opsbook's generic JSON alert webhook (one alert or an array).",
    status_code=202,
    response_model=None,
    responses={**UNAUTHORIZED, **TOO_LARGE},
    openapi_extra=request_body(WEBHOOK_ALERTS, description="One alert or an array of them"),
)
async def generic_webhook(
    request: Request,
    name: str,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> dict[str, list[dict[str, object]]] | JSONResponse:
    services = get_services(request)
    config = services.config
    spec = _named_integration(config, name, "webhook")
    hook = spec.webhook
    if hook is None:  # pragma: no cover - _named_integration checked the kind
        raise NotFound("name: no webhook integration has that name", field="name")
    if hook.token is not None:
        token = presented_token(request)
        if token is None or integration_for_token(config, token, kind="webhook") != name:
            raise unauthorized(f"send Authorization: Bearer <token> of integration {name!r}")
    try:
        body = await read_body(request, limit=WEBHOOK_BODY_LIMIT)
    except BodyTooLarge as exc:
        return _too_large(exc)
    if hook.hmac_secret is not None and (
        signature is None or not is_valid_signature(hook.hmac_secret, body, signature)
    ):
        raise unauthorized(
            f"send {SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body> "
            f"made with the hmac_secret of integration {name!r}"
        )
    data = decode_json(body)
    checked = read_webhook_alerts(data, severities=list(config.severities))
    items = checked.value
    out: list[dict[str, object]] = []
    if items:
        now = services.clock.now()
        report = IngestReport()
        touched = await _commit(
            request,
            services,
            lambda conn: ingest_webhook(
                conn, config=config, integration=name, items=items, now=now, report=report
            ),
            report,
        )
        by_key = {a.dedup_key: a for a in touched}
        for item in items:
            key = webhook_key(item)
            found = by_key.get(key)
            out.append(
                {"id": found.id, "key": key, "status": found.status.value}
                if found is not None
                else {"id": None, "key": key, "status": "resolved"}
            )
    total = len(data) if isinstance(data, list) else 1
    refused = _partial(checked, integration=name, total=total, kept=len(items))
    if isinstance(refused, JSONResponse):
        return refused
    return {"alerts": out}
