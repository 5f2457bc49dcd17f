"""The Alertmanager API v2 reads and silences, so ``amtool`` and Grafana can point at opsbook.

    GET    /api/v2/alerts            firing alerts as ``gettableAlert`` (?active ?silenced
                                     ?inhibited ?filter= ?receiver=)
    GET    /api/v2/alerts/groups     the same alerts grouped as opsbook notifies them
    GET    /api/v2/status            version, uptime, cluster "disabled", a routing config
    GET    /api/v2/silences          silences as ``gettableSilence`` (?filter=)
    POST   /api/v2/silences          create (or, with ``id``, update) a silence
    GET    /api/v2/silence/{id}      one silence
    DELETE /api/v2/silence/{id}      expire it

Shapes follow ``api/v2/openapi.yaml`` of prometheus/alertmanager. Authentication is the same
as ``POST /api/v2/alerts``: an alertmanager integration's token, as Bearer or Basic password
(amtool sends it from ``--http.config.file``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from opsbook import __version__
from opsbook.alerts import service, silences
from opsbook.alerts.dispatch import route
from opsbook.alerts.ingest_models import decode_json, parse_postable_silence
from opsbook.alerts.models import Alert, AlertStatus, Matcher, Silence
from opsbook.alerts.routing import Receiver
from opsbook.config import Config, format_duration
from opsbook.errors import InputError, NotFound
from opsbook.web.api.ingest import BodyTooLarge, alertmanager_integration, read_body
from opsbook.web.api.params import parse_filter, silence_in_path
from opsbook.web.deps import Services, ServicesDep
from opsbook.web.openapi import POSTABLE_SILENCE, TOO_LARGE, UNAUTHORIZED, request_body

# Alertmanager keeps expired silences for --data.retention (default 120h) and lists them.
EXPIRED_SILENCES_KEPT = timedelta(hours=120)
SILENCE_BODY_LIMIT = 64 * 1024
MAX_ALERTS = service.MAX_LIMIT
DEFAULT_RECEIVER = "opsbook"
# create_silence names its fields the Python way; the API speaks Alertmanager's JSON names.
_SILENCE_FIELDS = {
    "matchers": "$.matchers",
    "starts_at": "$.startsAt",
    "ends_at": "$.endsAt",
    "created_by": "$.createdBy",
    "comment": "$.comment",
}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services = getattr(app.state, "services", None)
    if isinstance(services, Services):
        app.state.alertmanager_started_at = services.clock.now()
    yield


def _integration(request: Request, services: ServicesDep) -> str:
    return alertmanager_integration(request, services.config)


router = APIRouter(
    prefix="/api/v2",
    tags=["alertmanager"],
    lifespan=_lifespan,
    dependencies=[Depends(_integration)],
    responses=UNAUTHORIZED,
)
IntegrationDep = Annotated[str, Depends(_integration)]


def _iso(at: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``, as Alertmanager's Go JSON reads it."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _filter(values: Sequence[str]) -> tuple[Matcher, ...]:
    # amtool sends each matcher as one ``filter`` parameter, e.g. filter=alertname="x".
    return parse_filter(values, field="filter")


# Alerts


def _receivers(config: Config, item: Alert) -> list[str]:
    return [receiver.name for receiver in route(config, item)] or [DEFAULT_RECEIVER]


def _generator_url(item: Alert) -> str:
    url = item.values.get("generator_url") or item.annotations.get("client_url")
    return url if isinstance(url, str) else ""


def _gettable_alert(
    config: Config, item: Alert, *, silenced_by: list[str], ends_at: datetime
) -> dict[str, Any]:
    inhibited_by = [str(item.suppressed_by or "")] if item.suppressed_reason else []
    muted_by = [item.maintenance] if item.maintenance else []
    muted = silenced_by or inhibited_by or muted_by
    return {
        "labels": dict(item.labels),
        "annotations": dict(item.annotations),
        "startsAt": _iso(item.started_at),
        "endsAt": _iso(item.ends_at or ends_at),
        "updatedAt": _iso(max(item.updated_at, item.last_seen_at)),
        "fingerprint": item.fingerprint,
        "receivers": [{"name": name} for name in _receivers(config, item)],
        "status": {
            "state": "suppressed" if muted else "active",
            "silencedBy": silenced_by,
            "inhibitedBy": inhibited_by,
            "mutedBy": muted_by,
        },
        "generatorURL": _generator_url(item),
    }


def _firing(conn: Connection, *, now: datetime) -> tuple[list[Alert], list[Silence]]:
    alerts = service.list_alerts(conn, statuses={AlertStatus.FIRING}, limit=MAX_ALERTS)
    return alerts, silences.active_silences(conn, now=now)


def _alerts(
    services: Services,
    *,
    active: bool,
    silenced: bool,
    inhibited: bool,
    matchers: Sequence[Matcher],
    receiver: str | None,
) -> list[tuple[Alert, dict[str, Any]]]:
    config = services.config
    now = services.clock.now()
    with services.engine.connect() as conn:
        alerts, active_silences = _firing(conn, now=now)
    try:
        wanted = re.compile(receiver) if receiver else None
    except re.error as exc:
        # re's message quotes pieces of the pattern; the position alone does not echo it.
        raise InputError(
            f"receiver: not a regular expression (error at position {exc.pos})",
            field="receiver",
            location="query",
        ) from None
    out = []
    for item in sorted(alerts, key=lambda a: a.id):
        if matchers and not silences.matches(matchers, item.labels):
            continue
        if wanted and not any(wanted.fullmatch(r) for r in _receivers(config, item)):
            continue
        # Silences are matched now, not read from the last dispatch pass, so a silence made a
        # moment ago already shows (amtool users check with `amtool alert query` at once).
        by = [s.id for s in active_silences if silences.matches(s.matchers, item.labels)]
        shown = _gettable_alert(
            config, item, silenced_by=by, ends_at=now + config.alerting.resolve_timeout
        )
        status = shown["status"]
        if (
            (not active and status["state"] == "active")
            or (not silenced and status["silencedBy"])
            or (not inhibited and (status["inhibitedBy"] or status["mutedBy"]))
        ):
            continue
        out.append((item, shown))
    return out


@router.get("/alerts", summary="Firing alerts, as Alertmanager's gettableAlerts.")
async def get_alerts(
    services: ServicesDep,
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    unprocessed: bool = True,
    filter_: Annotated[list[str] | None, Query(alias="filter")] = None,
    receiver: str | None = None,
) -> list[dict[str, Any]]:
    shown = await asyncio.to_thread(
        _alerts,
        services,
        active=active,
        silenced=silenced,
        inhibited=inhibited,
        matchers=_filter(filter_ or []),
        receiver=receiver,
    )
    return [alert_json for _, alert_json in shown]


@router.get("/alerts/groups", summary="Firing alerts grouped per receiver and group labels.")
async def get_alert_groups(
    services: ServicesDep,
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    filter_: Annotated[list[str] | None, Query(alias="filter")] = None,
    receiver: str | None = None,
) -> list[dict[str, Any]]:
    shown = await asyncio.to_thread(
        _alerts,
        services,
        active=active,
        silenced=silenced,
        inhibited=inhibited,
        matchers=_filter(filter_ or []),
        receiver=receiver,
    )
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[dict[str, Any]]] = {}
    for item, alert_json in shown:
        default = Receiver(DEFAULT_RECEIVER, tuple(services.config.alerting.group_by))
        for name, group_by in route(services.config, item) or [default]:
            key_labels = tuple((label, item.labels.get(label, "")) for label in group_by)
            groups.setdefault((name, key_labels), []).append(alert_json)
    return [
        {"labels": dict(labels), "receiver": {"name": name}, "alerts": members}
        for (name, labels), members in groups.items()
    ]


# Status


def _routing_config(config: Config) -> str:
    """A valid Alertmanager config that says how opsbook groups and notifies, for
    ``amtool config show`` and ``amtool config routes``; channel names only, no secrets."""
    alerting = config.alerting
    receivers = list(alerting.notify) or [DEFAULT_RECEIVER]
    top: dict[str, Any] = {
        "receiver": receivers[0],
        "group_by": list(alerting.group_by),
        "group_wait": format_duration(alerting.group_wait),
        "group_interval": format_duration(alerting.group_interval),
        "repeat_interval": format_duration(alerting.repeat_every),
    }
    if len(receivers) > 1:
        top["routes"] = [{"receiver": name, "continue": True} for name in receivers[1:]]
    document = {"route": top, "receivers": [{"name": name} for name in receivers]}
    return yaml.safe_dump(document, sort_keys=False)


@router.get("/status", summary="Alertmanager's status: version, uptime, cluster and config.")
def get_status(request: Request, services: ServicesDep) -> dict[str, Any]:
    started = getattr(request.app.state, "alertmanager_started_at", None)
    return {
        "cluster": {"name": "", "status": "disabled", "peers": []},
        "versionInfo": {
            "branch": "",
            "buildDate": "",
            "buildUser": "opsbook",
            "goVersion": "",
            "revision": "",
            "version": f"opsbook-{__version__}",
        },
        "config": {"original": _routing_config(services.config)},
        "uptime": _iso(started or services.clock.now()),
    }


# Silences


def _gettable_silence(found: Silence, now: datetime) -> dict[str, Any]:
    return {
        "id": found.id,
        "status": {"state": found.state(now)},
        "updatedAt": _iso(found.updated_at),
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in found.matchers
        ],
        "startsAt": _iso(found.starts_at),
        "endsAt": _iso(found.ends_at),
        "createdBy": found.created_by,
        "comment": found.comment,
    }


def _silence_matches(found: Silence, matchers: Sequence[Matcher]) -> bool:
    # Alertmanager's filter: each filter matcher must hold for the value of the silence's own
    # matcher on that label (api/v2 silenceMatchesFilterLabels).
    if not matchers:
        return True
    values = {m.name: m.value for m in found.matchers}
    return all(m.name in values for m in matchers) and silences.matches(matchers, values)


@router.get("/silences", summary="Silences, as Alertmanager's gettableSilences.")
def get_silences(
    services: ServicesDep,
    filter_: Annotated[list[str] | None, Query(alias="filter")] = None,
) -> list[dict[str, Any]]:
    matchers = _filter(filter_ or [])
    now = services.clock.now()
    with services.engine.connect() as conn:
        found = silences.list_silences(conn, now=now, include_expired=True)
    return [
        _gettable_silence(s, now)
        for s in found
        if s.ends_at > now - EXPIRED_SILENCES_KEPT and _silence_matches(s, matchers)
    ]


def _origin(request: Request, integration: str) -> str:
    host = request.client.host if request.client else "unknown"
    return f"api {host} (integration {integration})"


def _silence_error(exc: InputError) -> InputError:
    """``create_silence``'s error with Alertmanager's JSON path for the field."""
    name, _, rest = exc.field.partition("[")
    path = _SILENCE_FIELDS.get(name)
    if path is None:
        return exc
    field = path + (f"[{rest}" if rest else "")
    message = exc.message
    if message.startswith(exc.field + ":"):
        message = field + message[len(exc.field) :]
    return InputError(message, field=field, location="body")


@router.post(
    "/silences",
    summary="Create a silence, or update one when the body has its id.",
    responses=TOO_LARGE,
    openapi_extra=request_body(POSTABLE_SILENCE, description="Alertmanager's postableSilence"),
)
async def post_silence(
    request: Request, services: ServicesDep, integration: IntegrationDep
) -> dict[str, str]:
    try:
        body = await read_body(request, limit=SILENCE_BODY_LIMIT)
    except BodyTooLarge as exc:
        raise HTTPException(413, detail=str(exc)) from None
    posted = parse_postable_silence(decode_json(body))
    now = services.clock.now()
    origin = _origin(request, integration)

    def create() -> Silence:
        with services.engine.begin() as conn:
            return silences.create_silence(
                conn,
                matchers=posted.matchers,
                starts_at=posted.starts_at,
                ends_at=posted.ends_at,
                created_by=posted.created_by,
                comment=posted.comment,
                now=now,
                origin=origin,
                silence_id=posted.id,
            )

    try:
        created = await asyncio.to_thread(create)
    except InputError as exc:
        raise _silence_error(exc) from None
    except NotFound as exc:
        raise NotFound(f"$.id: {exc.message}", field="$.id") from None
    if services.alerts is not None:
        services.alerts.wake()
    return {"silenceID": created.id}


@router.get("/silence/{silence_id}", summary="One silence.")
def get_silence(services: ServicesDep, silence_id: str) -> dict[str, Any]:
    with silence_in_path(), services.engine.connect() as conn:
        found = silences.get_silence(conn, silence_id)
    return _gettable_silence(found, services.clock.now())


@router.delete("/silence/{silence_id}", summary="Expire a silence now.", response_class=Response)
def delete_silence(
    request: Request, services: ServicesDep, integration: IntegrationDep, silence_id: str
) -> Response:
    with silence_in_path(), services.engine.begin() as conn:
        silences.expire_silence(
            conn,
            silence_id,
            now=services.clock.now(),
            actor=f"integration:{integration}",
            origin=_origin(request, integration),
        )
    if services.alerts is not None:
        services.alerts.wake()
    return Response(status_code=200)
