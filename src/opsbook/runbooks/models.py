"""What a loaded runbook is: immutable values the parser builds and the executors, API, UI and
CLI read. Nothing here parses, runs or touches the store.

A runbook is a markdown file: front matter (title, tags, parameters, the alerts it answers, an
optional schedule), sections, and steps. A step is a fenced ``sh``/``bash``, ``sql`` or ``http``
block with ``{key=value ...}`` attributes, or a ``- [ ]`` checklist line a person ticks off. Every
step has an id unique in its runbook and a content hash over what it would run; a run request
names step ids, never text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta


class StepKind(enum.StrEnum):
    SHELL = "shell"
    SQL = "sql"
    HTTP = "http"
    MANUAL = "manual"


class Risk(enum.StrEnum):
    """``read`` looks and changes nothing (may run by itself when an alert fires); ``write``
    changes something (a responder confirms it); ``danger`` is hard to undo (another person
    approves it)."""

    READ = "read"
    WRITE = "write"
    DANGER = "danger"


class ParamType(enum.StrEnum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DURATION = "duration"


@dataclass(frozen=True)
class Position:
    """Where something is in its file: 1-based line and column."""

    line: int
    column: int = 1


@dataclass(frozen=True)
class Parameter:
    name: str
    type: ParamType = ParamType.STRING
    default: str | int | float | bool | None = None
    required: bool = True
    allowed: tuple[str | int | float | bool, ...] = ()
    description: str = ""
    secret: bool = False


@dataclass(frozen=True)
class Step:
    """One step. ``id`` is the fence's ``name`` (or ``step-N`` for an unnamed read or manual
    step); ``text`` is the fence body exactly as written, with ``{{ name }}`` placeholders left
    in; ``params`` the placeholders it uses, in order of first use. ``attrs`` keeps every
    attribute as written (``timeout``, ``db``, ``cwd``...), already checked by the parser.
    ``digest`` is the SHA-256 (hex) over kind, risk, attributes and text: an approval is bound
    to it, so a changed step needs a new one. ``risk_reason`` says why an unlabelled step got
    its risk (``"DROP TABLE"``), empty when the fence said."""

    id: str
    kind: StepKind
    risk: Risk
    text: str
    section: str
    at: Position
    digest: str
    params: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()
    timeout: timedelta | None = None
    db: str | None = None
    risk_reason: str = ""

    def attr(self, key: str) -> str | None:
        return dict(self.attrs).get(key)


@dataclass(frozen=True)
class RoutineAlert:
    """A routine's ``alert:``: the severity (a configured one) and extra labels of the
    ``RoutineOverdue`` alert its overdue run fires (``routine_alerts``)."""

    severity: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Runbook:
    """``name`` is the file's stem (``db-connections`` for ``db-connections.md``)."""

    name: str
    title: str
    path: str
    steps: tuple[Step, ...]
    parameters: tuple[Parameter, ...] = ()
    tags: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    schedule: str | None = None
    timezone: str | None = None
    description: str = ""
    digest: str = ""
    # A routine's reminders (``routines``): channels told when a run opens or is overdue, and
    # how long after its due time it is overdue (None: the default grace).
    channels: tuple[str, ...] = ()
    grace: timedelta | None = None
    # A routine's overdue alert (None: an overdue run only reminds and shows).
    alert: RoutineAlert | None = None

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True)
class Registry:
    """Every runbook loaded, by name, fixed at load time."""

    runbooks: dict[str, Runbook] = field(default_factory=dict)

    def get(self, name: str) -> Runbook | None:
        return self.runbooks.get(name)

    def for_alert(self, alert: str) -> list[Runbook]:
        return [r for r in self.runbooks.values() if alert in r.alerts]
