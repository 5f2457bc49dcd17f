"""``/api/v1/alerts``, ``/api/v1/silences`` and ``/api/v1/maintenance``: what is firing, what is
muted and why, and the silences people add and expire.

Handlers are plain functions (FastAPI runs them in a thread) around the alerts domain's service,
silences and maintenance modules. A silence write and its audit event commit together before the
answer goes out. Errors in a request body name the JSON path (``$.matchers[1]``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from opsbook.alerts import service, silences
from opsbook.alerts.maintenance import open_windows, upcoming_windows
from opsbook.alerts.models import Alert, AlertStatus, Matcher
from opsbook.alerts.service import event_json, mute_reason, silence_json, window_json
from opsbook.config import parse_duration
from opsbook.errors import InputError, NotFound
from opsbook.web.api.params import silence_in_path
from opsbook.web.auth import ALLOW_VIEWER, ResponderDep
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdPath
from opsbook.web.openapi import NO_NUL

router = APIRouter(prefix="/api/v1", tags=["alerts"], dependencies=[Depends(ALLOW_VIEWER)])

UPCOMING = timedelta(days=7)
STATUS_WORDS = ", ".join(s.value for s in AlertStatus)


def parse_statuses(raw: str | None) -> set[AlertStatus] | None:
    """``"firing,pending"`` -> statuses; None for no filter. ``InputError`` names ``status``."""
    if raw is None:
        return None
    found: set[AlertStatus] = set()
    for word in (part.strip() for part in raw.split(",")):
        try:
            found.add(AlertStatus(word))
        except ValueError:
            raise InputError(
                f"status: not an alert status (use {STATUS_WORDS}, comma-separated)",
                field="status",
                location="query",
            ) from None
    return found


def alert_json(item: Alert) -> dict[str, Any]:
    """The alerts domain's shape, and ``muted.reason``: why it is held back, in the words the
    CLI and the UI show ("maintenance db-upgrade; acknowledged"), empty when nothing holds it."""
    body: dict[str, Any] = service.alert_json(item)
    body["muted"] = {**body["muted"], "reason": mute_reason(item)}
    return body


@router.get("/alerts")
def list_alerts(
    engine: EngineDep,
    status: Annotated[str | None, Query(max_length=200)] = None,
    rule: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    statuses = parse_statuses(status)
    with engine.begin() as conn:
        found = service.list_alerts(conn, statuses=statuses, rule=rule, limit=limit)
    return {"alerts": [alert_json(a) for a in found]}


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: IdPath, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        found, events = service.alert_with_events(conn, alert_id)
    return {**alert_json(found), "events": [event_json(e) for e in events]}


class MatcherIn(BaseModel):
    """Alertmanager's matcher object."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    value: str
    is_regex: bool = Field(alias="isRegex")
    is_equal: bool = Field(default=True, alias="isEqual")


class SilenceCreate(BaseModel):
    """``ends_at`` or ``duration``; ``starts_at`` defaults to now; ``id`` updates a silence."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[str | MatcherIn]
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration: str | None = None
    comment: str
    id: str | None = Field(default=None, max_length=36)


def _path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _body_error(exc: ValidationError) -> InputError:
    errors = exc.errors()
    # A str | MatcherIn union reports both branches; an object is meant as a MatcherIn, and
    # "should be a valid string" about it would mislead.
    first = next((e for e in errors if "str" not in e["loc"]), errors[0])
    loc = tuple(p for p in first["loc"] if p not in ("str", "MatcherIn"))
    path = _path(loc)
    message = "is required" if first["type"] == "missing" else first["msg"]
    if first["type"] == "model_type" and "MatcherIn" in first["loc"]:
        message = 'should be a matcher: "alertname=api-down" or {"name", "value", "isRegex"}'
    if first["type"] == "extra_forbidden":
        message = "is not a known field"
    return InputError(f"{path}: {message}", field=path, location="body")


def _in_body(exc: InputError) -> InputError:
    """A domain error names ``matchers[1]``; in the API that is ``$.matchers[1]``."""
    return InputError(f"$.{exc.message}", field=f"$.{exc.field}", location="body")


def _matchers(items: list[str | MatcherIn]) -> tuple[Matcher, ...]:
    out = []
    for i, item in enumerate(items):
        field = f"matchers[{i}]"
        if isinstance(item, str):
            out.append(silences.parse_matcher(item, field=field, first=i == 0))
        else:
            matcher = Matcher(item.name, item.value, is_regex=item.is_regex, is_equal=item.is_equal)
            out.append(silences.check_matcher(matcher, field=field))
    return tuple(out)


def _ends_at(body: SilenceCreate, starts_at: datetime) -> datetime:
    if (body.ends_at is None) == (body.duration is None):
        raise InputError(
            "$.ends_at: set ends_at or duration (one of them)", field="$.ends_at", location="body"
        )
    if body.ends_at is not None:
        return body.ends_at
    try:
        length = parse_duration(body.duration)
    except ValueError:
        # Not the config's message: it quotes the value, and the API never repeats one.
        raise InputError(
            "$.duration: not a duration (use e.g. 30m, 2h, 1d)", field="$.duration", location="body"
        ) from None
    return starts_at + length


def _origin(request: Request) -> str:
    return f"api {request.client.host}" if request.client else "api"


@router.get("/silences")
def list_silences(engine: EngineDep, clock: ClockDep, expired: bool = False) -> dict[str, Any]:
    now = clock.now()
    with engine.begin() as conn:
        found = silences.list_silences(conn, now=now, include_expired=expired)
    return {"silences": [silence_json(s, now) for s in found]}


@router.post("/silences", status_code=201)
def create_silence(
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    try:
        silence_in = SilenceCreate.model_validate(body)
    except ValidationError as exc:
        raise _body_error(exc) from None
    now = clock.now()
    starts_at = max(silence_in.starts_at or now, now)
    try:
        matchers = _matchers(silence_in.matchers)
        ends_at = _ends_at(silence_in, starts_at)
        with engine.begin() as conn:
            created = silences.create_silence(
                conn,
                matchers=matchers,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=principal.person or principal.actor,
                comment=silence_in.comment,
                now=now,
                origin=_origin(request),
                silence_id=silence_in.id,
                actor=principal.actor,
            )
    except InputError as exc:
        raise exc if exc.field.startswith("$") else _in_body(exc) from None
    except NotFound as exc:
        raise NotFound(f"$.id: {exc.message}", field="$.id") from None
    return silence_json(created, now)


@router.get("/silences/{silence_id}")
def get_silence(silence_id: str, engine: EngineDep, clock: ClockDep) -> dict[str, Any]:
    with silence_in_path(), engine.begin() as conn:
        found = silences.get_silence(conn, silence_id)
    return silence_json(found, clock.now())


@router.delete("/silences/{silence_id}")
def expire_silence(
    silence_id: str,
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    principal: ResponderDep,
) -> dict[str, Any]:
    now = clock.now()
    with silence_in_path(), engine.begin() as conn:
        expired = silences.expire_silence(
            conn, silence_id, now=now, actor=principal.actor, origin=_origin(request)
        )
    return silence_json(expired, now)


@router.get("/maintenance")
def list_maintenance(config: ConfigDep, clock: ClockDep) -> dict[str, Any]:
    now = clock.now()
    return {
        "configured": len(config.maintenance),
        "open": [window_json(o) for o in open_windows(config, now)],
        "upcoming": [window_json(o) for o in upcoming_windows(config, now, UPCOMING)],
    }
