"""``/api/v1/runbooks``: the runbooks the server loaded at start, and one runbook's parameters,
sections and steps (what ``opsbook runbook list|show`` and the ``/runbooks`` pages show).

The registry is fixed at start (``opsbook serve`` loads the config's runbooks folder once); a
file that did not load is left out and its problems are listed under ``errors`` as
``FILE:LINE:COL: message``. Every configured secret value is masked in everything returned,
and a secret parameter's default is never returned.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from opsbook.config import Config
from opsbook.errors import NotFound, Problem
from opsbook.redaction import mask_values, secret_values
from opsbook.runbooks import Parameter, Risk, Runbook, Step
from opsbook.runbooks.registry import Loaded
from opsbook.web.auth import ALLOW_VIEWER
from opsbook.web.deps import ConfigDep, RunbooksDep

router = APIRouter(
    prefix="/api/v1/runbooks", tags=["runbooks"], dependencies=[Depends(ALLOW_VIEWER)]
)

Scalar = str | int | float | bool


class StepsByRisk(BaseModel):
    read: int
    write: int
    danger: int


class RunbookSummaryRead(BaseModel):
    name: str
    """The file's stem; what ``show``, and later ``run``, take."""
    title: str
    description: str
    tags: list[str]
    alerts: list[str]
    """The alert rules this runbook answers."""
    schedule: str | None
    """A cron line for a routine, else None."""
    timezone: str | None
    steps_by_risk: StepsByRisk
    digest: str
    path: str
    """The file, relative to the runbooks folder."""


class RunbookListRead(BaseModel):
    runbooks: list[RunbookSummaryRead]
    errors: list[str]
    """Load problems (``FILE:LINE:COL: message``) of the files that were left out."""


class ParameterRead(BaseModel):
    name: str
    type: str
    default: Scalar | None
    """None when there is none, and always for a ``secret`` parameter."""
    required: bool
    allowed: list[Scalar]
    description: str
    secret: bool


class StepRead(BaseModel):
    id: str
    kind: str
    """``shell``, ``sql``, ``http`` or ``manual``."""
    risk: str
    """``read``, ``write`` or ``danger``."""
    risk_reason: str
    """Why an unlabelled step got its risk (``DROP TABLE``); empty when the fence said."""
    section: str
    text: str
    """The step as written, ``{{ name }}`` placeholders left in, secrets masked."""
    db: str | None
    timeout_s: float | None
    params: list[str]
    digest: str
    line: int


class RunbookRead(RunbookSummaryRead):
    parameters: list[ParameterRead]
    sections: list[str]
    """The headings steps sit under, in file order."""
    steps: list[StepRead]


def config_secrets(config: Config) -> list[str]:
    """Every secret value in ``config``, and the password inside each one that is a URL or
    DSN (a runbook may spell out ``-u app:PASSWORD`` without the rest of the DSN)."""
    values = secret_values(config)
    for value in list(values):
        try:
            password = urllib.parse.urlsplit(value).password
        except ValueError:
            continue
        if password:
            values.append(urllib.parse.unquote(password))
    return values


def _relative(file: str, base: Path | None) -> str:
    if base is not None:
        try:
            return Path(file).relative_to(base).as_posix()
        except ValueError:
            pass
    return file


def error_lines(loaded: Loaded, secrets: Sequence[str]) -> list[str]:
    """Each problem as ``FILE:LINE:COL: message``, FILE relative to the config's folder."""
    base = loaded.folder.parent if loaded.folder is not None else None
    out = []
    for problem in loaded.problems:
        shown = Problem(
            _relative(problem.file, base),
            problem.line,
            problem.column,
            problem.path,
            problem.message,
        )
        out.append(mask_values(str(shown), secrets))
    return out


def steps_by_risk(runbook: Runbook) -> StepsByRisk:
    risks = [s.risk for s in runbook.steps]
    return StepsByRisk(
        read=risks.count(Risk.READ), write=risks.count(Risk.WRITE), danger=risks.count(Risk.DANGER)
    )


def summary_read(runbook: Runbook, loaded: Loaded, secrets: Sequence[str]) -> RunbookSummaryRead:
    return RunbookSummaryRead(
        name=runbook.name,
        title=mask_values(runbook.title, secrets),
        description=mask_values(runbook.description, secrets),
        tags=list(runbook.tags),
        alerts=list(runbook.alerts),
        schedule=runbook.schedule,
        timezone=runbook.timezone,
        steps_by_risk=steps_by_risk(runbook),
        digest=runbook.digest,
        path=_relative(runbook.path, loaded.folder),
    )


def _scalar(value: object) -> Scalar:
    return value if isinstance(value, str | int | float | bool) else str(value)


def parameter_read(parameter: Parameter, secrets: Sequence[str]) -> ParameterRead:
    default = None
    if parameter.default is not None and not parameter.secret:
        default = _scalar(parameter.default)
        if isinstance(default, str):
            default = mask_values(default, secrets)
    return ParameterRead(
        name=parameter.name,
        type=str(parameter.type),
        default=default,
        required=parameter.required,
        allowed=[_scalar(a) for a in parameter.allowed],
        description=mask_values(parameter.description, secrets),
        secret=parameter.secret,
    )


def step_read(step: Step, secrets: Sequence[str]) -> StepRead:
    return StepRead(
        id=step.id,
        kind=str(step.kind),
        risk=str(step.risk),
        risk_reason=step.risk_reason,
        section=mask_values(step.section, secrets),
        text=mask_values(step.text, secrets),
        db=step.db,
        timeout_s=step.timeout.total_seconds() if step.timeout is not None else None,
        params=list(step.params),
        digest=step.digest,
        line=step.at.line,
    )


def runbook_read(runbook: Runbook, loaded: Loaded, secrets: Sequence[str]) -> RunbookRead:
    sections = list(dict.fromkeys(mask_values(s.section, secrets) for s in runbook.steps))
    return RunbookRead(
        **summary_read(runbook, loaded, secrets).model_dump(),
        parameters=[parameter_read(p, secrets) for p in runbook.parameters],
        sections=sections,
        steps=[step_read(s, secrets) for s in runbook.steps],
    )


def find_runbook(loaded: Loaded, name: str) -> Runbook:
    """The runbook named ``name``; ``NotFound`` naming ``name`` (never repeating it)."""
    runbook = loaded.registry.get(name)
    if runbook is None:
        raise NotFound("name: no runbook with this name", field="name")
    return runbook


@router.get("")
def list_runbooks(config: ConfigDep, loaded: RunbooksDep) -> RunbookListRead:
    """Every runbook loaded, by name, and the load problems of those left out."""
    secrets = config_secrets(config)
    return RunbookListRead(
        runbooks=[
            summary_read(r, loaded, secrets)
            for r in sorted(loaded.registry.runbooks.values(), key=lambda r: r.name)
        ],
        errors=error_lines(loaded, secrets),
    )


@router.get("/{name}")
def get_runbook(name: str, config: ConfigDep, loaded: RunbooksDep) -> RunbookRead:
    """One runbook: parameters, sections and every step with its id, kind, risk and digest."""
    return runbook_read(find_runbook(loaded, name), loaded, config_secrets(config))
