"""What route functions receive instead of reaching for globals (R17): ``Annotated`` aliases that
read the objects ``create_app`` put on ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Path, Query, Request
from pydantic import Field
from sqlalchemy.engine import Engine

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.runbooks.models import Registry
from opsbook.runbooks.registry import Loaded
from opsbook.web.metrics import Metrics
from opsbook.web.runner import Runner

NO_RUNBOOKS = Loaded(Registry(), (), None)


class Wakeable(Protocol):
    def wake(self) -> None: ...


@dataclass(frozen=True)
class Services:
    """Everything one app instance owns; built once by ``create_app``.

    ``alerts`` is the alert engine: routes that store alerts call ``services.alerts.wake()``
    after the commit so they are evaluated and dispatched now, not at the next tick.
    ``incidents`` is the incidents task: routes that change an incident wake it after the
    commit so escalations start or stop and updates go out now.
    ``runbooks`` is the runbooks folder as loaded once at start: the runbooks that loaded and
    the problems of those that did not (the server starts either way).
    ``deliverer`` is the notification deliverer: a route that queues a notification itself (not
    through the alerts or incidents task) wakes it after the commit, so it goes out now.
    """

    config: Config
    engine: Engine
    clock: Clock
    runner: Runner
    metrics: Metrics
    alerts: Wakeable | None = None
    incidents: Wakeable | None = None
    runbooks: Loaded = NO_RUNBOOKS
    deliverer: Wakeable | None = None


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):  # an app not built by create_app
        raise RuntimeError("app.state.services is missing; build the app with create_app()")
    return services


def get_config(request: Request) -> Config:
    return get_services(request).config


def get_engine(request: Request) -> Engine:
    return get_services(request).engine


def get_clock(request: Request) -> Clock:
    return get_services(request).clock


def get_runbooks(request: Request) -> Loaded:
    return get_services(request).runbooks


ID_MAX = 2**63 - 1
"""The largest row id both stores hold (a signed 64-bit integer): a larger one in a request is
refused as invalid input (400 naming it) rather than reaching the driver, where SQLite raises
``OverflowError`` and PostgreSQL ``NumericValueOutOfRange``."""

IdPath = Annotated[int, Path(ge=1, le=ID_MAX, description="A row id (1 to 2**63-1).")]
"""Every route's id in the path (``/api/v1/incidents/{incident_id}``)."""
IdQuery = Annotated[
    int | None, Query(ge=1, le=ID_MAX, description="Page back: only ids below this one.")
]
"""A row id as a query parameter (the ``before`` page cursor); absent is None."""
IdField = Annotated[int, Field(ge=1, le=ID_MAX)]
"""A row id in a request body (``alert_ids``, ``into``)."""

# FastAPI runs a plain ``def`` dependency in the thread pool: a hop there and back (and a GIL
# hand-over) per dependency per request, for what is an attribute read. The dependencies below
# are ``async def`` so they run on the loop (the overview: six hops a request became two).


async def _services_dep(request: Request) -> Services:
    return get_services(request)


async def _config_dep(request: Request) -> Config:
    return get_services(request).config


async def _engine_dep(request: Request) -> Engine:
    return get_services(request).engine


async def _clock_dep(request: Request) -> Clock:
    return get_services(request).clock


async def _runbooks_dep(request: Request) -> Loaded:
    return get_services(request).runbooks


ServicesDep = Annotated[Services, Depends(_services_dep)]
ConfigDep = Annotated[Config, Depends(_config_dep)]
EngineDep = Annotated[Engine, Depends(_engine_dep)]
ClockDep = Annotated[Clock, Depends(_clock_dep)]
RunbooksDep = Annotated[Loaded, Depends(_runbooks_dep)]
