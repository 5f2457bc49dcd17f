"""``/api/v1/checks``: configured checks with their current state, windows and results.

Everything is computed from the store at request time (R20): state from ``check_state``, windows
from rollups. Handlers are plain functions, so FastAPI runs their blocking queries in a thread.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel

from opsbook.checks import service
from opsbook.checks.rollups import RELATIVE_ERROR, WindowStats
from opsbook.config import CheckSpec, format_duration, parse_duration
from opsbook.errors import InputError, NotFound
from opsbook.web.auth import ALLOW_VIEWER
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdQuery

router = APIRouter(prefix="/api/v1/checks", tags=["checks"], dependencies=[Depends(ALLOW_VIEWER)])

DEFAULT_WINDOWS = "1h,24h,30d"
LONGEST_WINDOW = timedelta(days=400)
MAX_CELLS = 400
DAY = timedelta(days=1)
MS_DECIMALS = 1


def tenth_of_ms(value: float) -> float:
    """``value`` milliseconds to a tenth: probes time with a float clock, and
    ``2.0000000000095497`` is ``2.0`` to anyone reading it (and finer than network jitter)."""
    return round(value, MS_DECIMALS)


Milliseconds = Annotated[float, AfterValidator(tenth_of_ms)]
"""A latency as the API shows it (rounded to 0.1 ms when the answer is built)."""


class CheckSummaryRead(BaseModel):
    id: str
    kind: str
    target: str
    state: str | None
    """``up``, ``degraded``, ``down``, or None when the check has no results yet."""
    state_since: datetime | None
    last_result_at: datetime | None
    last_latency_ms: Milliseconds | None
    last_error: str | None
    availability_24h: float | None


class ChecksRead(BaseModel):
    checks: list[CheckSummaryRead]


class ObjectiveRead(BaseModel):
    target: float
    actual: float | None
    met: bool | None


class WindowRead(BaseModel):
    start: datetime
    end: datetime
    availability: float | None
    p50_ms: Milliseconds | None
    p95_ms: Milliseconds | None
    p99_ms: Milliseconds | None
    percentile_relative_error: float
    n_up: int
    n_degraded: int
    n_down: int
    no_data_seconds: float
    slo: dict[str, ObjectiveRead]


class CellRead(BaseModel):
    start: datetime
    end: datetime
    availability: float | None
    """Percent of the observed time that was up or degraded; None when nothing was observed."""


class CheckRead(CheckSummaryRead):
    every: str
    windows: dict[str, WindowRead]
    timeline: list[CellRead]
    """With ``timeline=24h&step=1h``: availability per step, oldest first (else empty)."""


class ResultRead(BaseModel):
    id: int
    started_at: datetime
    state: str
    latency_ms: Milliseconds | None
    status: int | None
    error: str | None
    failed_conditions: list[str]
    values: dict[str, float | int | str | bool | None]
    timings_ms: dict[str, Milliseconds]
    is_change: bool


class ResultsRead(BaseModel):
    results: list[ResultRead]
    next_before: int | None
    """Pass as ``before`` for the next (older) page; None on the last page."""


def _spec(config: ConfigDep, check_id: str) -> CheckSpec:
    spec = config.checks.get(check_id)
    if spec is None:
        raise NotFound("no check with this id in the config", field="check_id")
    return spec


def _summary(
    check_id: str, spec: CheckSpec, status: service.CheckStatus | None, day: WindowStats
) -> dict[str, object]:
    return {
        "id": check_id,
        "kind": spec.kind,
        "target": spec.target_display(),
        "state": status.state.value if status else None,
        "state_since": status.changed_at if status else None,
        "last_result_at": status.last_result_at if status else None,
        "last_latency_ms": status.last_latency_ms if status else None,
        "last_error": status.last_error if status else None,
        "availability_24h": day.availability,
    }


@router.get("", response_model=ChecksRead)
def list_checks(config: ConfigDep, engine: EngineDep, clock: ClockDep) -> ChecksRead:
    now = clock.now()
    with engine.begin() as conn:
        states = {s.check_id: s for s in service.current_states(conn, check_ids=config.checks)}
        rows = [
            _summary(
                check_id,
                spec,
                states.get(check_id),
                service.window(conn, check_id=check_id, start=now - DAY, end=now),
            )
            for check_id, spec in config.checks.items()
        ]
    return ChecksRead.model_validate({"checks": rows})


def parse_windows(raw: str) -> list[tuple[str, timedelta]]:
    """``"1h,24h,30d"`` -> named durations. Raises ``InputError`` naming ``windows``."""
    windows = []
    for name in (part.strip() for part in raw.split(",")):
        try:
            length = parse_duration(name)
        except ValueError:
            length = timedelta()
        if not timedelta() < length <= LONGEST_WINDOW:
            # The value is not repeated: the API never echoes what it refuses.
            raise InputError(
                "windows: each window must be a duration longer than 0s and at most "
                f"{LONGEST_WINDOW.days}d (e.g. 1h,24h,30d)",
                field="windows",
                location="query",
            )
        windows.append((name, length))
    return windows


def parse_timeline(timeline: str | None, step: str) -> tuple[timedelta, int]:
    """``timeline=24h&step=1h`` -> (1h, 24 cells); (step, 0) without ``timeline``. A bad value
    is an ``InputError`` naming ``timeline`` or ``step`` (not repeating the value)."""
    lengths = []
    for field, raw in (("step", step), ("timeline", timeline)):
        try:
            length = parse_duration(raw) if raw is not None else timedelta()
        except ValueError:
            length = timedelta(-1)
        if raw is not None and not timedelta() < length <= LONGEST_WINDOW:
            raise InputError(
                f"{field}: must be a duration longer than 0s and at most "
                f"{LONGEST_WINDOW.days}d (e.g. timeline=24h&step=1h)",
                field=field,
                location="query",
            )
        lengths.append(length)
    cell, span = lengths
    cells = int(span / cell)
    if cells > MAX_CELLS or (timeline is not None and cells * cell != span):
        raise InputError(
            f"step: timeline must be a whole number of steps, at most {MAX_CELLS} of them",
            field="step",
            location="query",
        )
    return cell, cells


def _objectives(spec: CheckSpec, stats: WindowStats) -> dict[str, ObjectiveRead]:
    slo = spec.slo
    out: dict[str, ObjectiveRead] = {}
    if slo.availability is not None:
        actual = stats.availability
        met = None if actual is None else actual >= slo.availability
        out["availability"] = ObjectiveRead(target=slo.availability, actual=actual, met=met)
    for name in ("p50", "p95", "p99"):
        limit: timedelta | None = getattr(slo, name)
        if limit is not None:
            value: float | None = getattr(stats, f"{name}_ms")
            target_ms = limit.total_seconds() * 1000
            met = None if value is None else value <= target_ms
            # The same figure as the window's own pN_ms, not a second, unrounded one.
            shown = None if value is None else tenth_of_ms(value)
            out[name] = ObjectiveRead(target=target_ms, actual=shown, met=met)
    return out


@router.get("/{check_id}", response_model=CheckRead)
def get_check(
    check_id: str,
    config: ConfigDep,
    engine: EngineDep,
    clock: ClockDep,
    windows: Annotated[str, Query(max_length=200)] = DEFAULT_WINDOWS,
    timeline: Annotated[str | None, Query(max_length=20)] = None,
    step: Annotated[str, Query(max_length=20)] = "1h",
) -> CheckRead:
    spec = _spec(config, check_id)
    wanted = parse_windows(windows)
    cell, cells = parse_timeline(timeline, step)
    now = clock.now()
    with engine.begin() as conn:
        found = service.current_states(conn, check_ids=[check_id])
        status = found[0] if found else None
        day = service.window(conn, check_id=check_id, start=now - DAY, end=now)
        stats = {
            name: service.window(conn, check_id=check_id, start=now - length, end=now)
            for name, length in wanted
        }
        starts = [now - back * cell for back in range(cells, 0, -1)]
        bars = [service.window(conn, check_id=check_id, start=t, end=t + cell) for t in starts]
    body = _summary(check_id, spec, status, day)
    body["every"] = format_duration(spec.every)
    body["windows"] = {
        name: WindowRead(
            start=s.start,
            end=s.end,
            availability=s.availability,
            p50_ms=s.p50_ms,
            p95_ms=s.p95_ms,
            p99_ms=s.p99_ms,
            percentile_relative_error=RELATIVE_ERROR,
            n_up=s.n_up,
            n_degraded=s.n_degraded,
            n_down=s.n_down,
            no_data_seconds=s.no_data_seconds,
            slo=_objectives(spec, s),
        )
        for name, s in stats.items()
    }
    body["timeline"] = [
        CellRead(start=s.start, end=s.end, availability=s.availability) for s in bars
    ]
    return CheckRead.model_validate(body)


@router.get("/{check_id}/results", response_model=ResultsRead)
def list_results(
    check_id: str,
    config: ConfigDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: IdQuery = None,
) -> ResultsRead:
    _spec(config, check_id)
    with engine.connect() as conn:
        results = service.recent_results(conn, check_id=check_id, limit=limit, before=before)
    return ResultsRead(
        results=[
            ResultRead(
                id=r.id,
                started_at=r.started_at,
                state=r.state.value,
                latency_ms=r.latency_ms,
                status=r.status,
                error=r.error,
                failed_conditions=list(r.failed_conditions),
                values=dict(r.values),
                timings_ms=dict(r.timings_ms),
                is_change=r.is_change,
            )
            for r in results
        ],
        next_before=results[-1].id if len(results) == limit else None,
    )
