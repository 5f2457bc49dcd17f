"""Liveness, readiness and metrics: the endpoints an orchestrator and a scraper call."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from opsbook.errors import StoreError
from opsbook.store import current_revision, head_revision, ping
from opsbook.web.auth import PUBLIC
from opsbook.web.deps import ServicesDep
from opsbook.web.runner import Runner

# Open by design: load balancers, orchestrators and Prometheus call these without credentials.
router = APIRouter(tags=["operations"], dependencies=[PUBLIC])

OK = "ok"


class HealthRead(BaseModel):
    status: Literal["ok"]


class ReadyRead(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]


def readiness(engine: Engine, runner: Runner) -> dict[str, str]:
    """One entry per dependency: ``"ok"`` or why it is not (URLs redacted)."""
    checks: dict[str, str] = {}
    try:
        ping(engine)
        checks["store"] = OK
    except StoreError as exc:
        checks["store"] = str(exc)
    if checks["store"] == OK:
        try:
            at, head = current_revision(engine), head_revision()
            checks["migrations"] = OK if at == head else f"at {at or 'none'}, expected {head}"
        except StoreError as exc:
            checks["migrations"] = str(exc)
    else:
        checks["migrations"] = "unknown: the store is unreachable"
    checks["runner"] = runner.problem() or OK
    # A task that keeps failing (the incidents pass, delivery...) means pages may not go out.
    failing = runner.failing_tasks()
    checks["tasks"] = "; ".join(f"{name}: {why}" for name, why in sorted(failing.items())) or OK
    return checks


@router.get("/health", summary="Liveness: the process answers. Touches no dependency.")
async def health() -> HealthRead:
    return HealthRead(status="ok")


@router.get(
    "/ready",
    summary=(
        "Readiness: store reachable, schema at head, runner alive, no background task failing"
        " pass after pass. 503 otherwise, naming the task and its last error."
    ),
    responses={503: {"model": ReadyRead, "description": "A dependency is not ready"}},
)
def ready(services: ServicesDep, response: Response) -> ReadyRead:
    checks = readiness(services.engine, services.runner)
    is_ready = all(value == OK for value in checks.values())
    if not is_ready:
        response.status_code = 503
    return ReadyRead(status="ready" if is_ready else "not ready", checks=checks)


@router.get(
    "/metrics",
    summary="Prometheus text exposition of opsbook's own metrics.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(services: ServicesDep) -> Response:
    body, content_type = services.metrics.render()
    return Response(content=body, media_type=content_type)
