"""What route functions receive instead of reaching for globals (R17): ``Annotated`` aliases that
read the objects ``create_app`` put on ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.web.metrics import Metrics
from opsbook.web.runner import Runner


class Wakeable(Protocol):
    def wake(self) -> None: ...


@dataclass(frozen=True)
class Services:
    """Everything one app instance owns; built once by ``create_app``.

    ``alerts`` is the alert engine: routes that store alerts call ``services.alerts.wake()``
    after the commit so they are evaluated and dispatched now, not at the next tick.
    ``incidents`` is the incidents task: routes that change an incident wake it after the
    commit so escalations start or stop and updates go out now.
    """

    config: Config
    engine: Engine
    clock: Clock
    runner: Runner
    metrics: Metrics
    alerts: Wakeable | None = None
    incidents: Wakeable | None = None


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


ServicesDep = Annotated[Services, Depends(get_services)]
ConfigDep = Annotated[Config, Depends(get_config)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]
