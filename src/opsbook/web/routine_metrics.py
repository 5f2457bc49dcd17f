"""``opsbook_routine_overdue{routine}``: 1 while a routine's last run is open past its grace,
else 0; computed from the store at scrape time (R20), none when the store cannot answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from opsbook.clock import Clock
from opsbook.runbooks.models import Registry
from opsbook.runbooks.routine_task import routine_states
from opsbook.runbooks.routines import RoutineStatus

NAME = "opsbook_routine_overdue"
HELP = "1 while the routine's last run is not finished grace after its due time, else 0."


class RoutineCollector(Collector):
    def __init__(self, states: Callable[[], Sequence[RoutineStatus]]) -> None:
        self._states = states

    def describe(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(NAME, HELP, labels=["routine"])

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(NAME, HELP, labels=["routine"])
        for status in self._states():
            family.add_metric([status.routine], 1.0 if status.is_overdue else 0.0)
        yield family


def store_states(
    engine: Engine, registry: Registry, *, timezone: str, clock: Clock
) -> Callable[[], list[RoutineStatus]]:
    def states() -> list[RoutineStatus]:
        try:
            with engine.connect() as conn:
                return routine_states(conn, registry, timezone=timezone, now=clock.now())
        except DBAPIError:
            return []

    return states
