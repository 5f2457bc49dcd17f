"""The ``runbooks:`` section: where the runbook files are, the databases SQL steps name with
``db=``, how shell steps run, and who hears of and must give approvals. ``runbooks:
runbooks/`` (a string) is short for ``runbooks: {path: runbooks/}``."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opsbook.config.fields import Slug
from opsbook.config.located import located_error
from opsbook.config.units import Duration, Size
from opsbook.redaction import Secret

DEFAULT_PATH = "runbooks"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunbookDatabase(_Model):
    """A database SQL steps run against; ``dsn`` is a secret (``${DATABASE_URL}``)."""

    dsn: Secret


class ShellConfig(_Model):
    """How shell steps run: working directory (relative to the config file's folder),
    extra environment, the default per-step timeout and the output kept per step.

    Every ``env`` value is a secret (``${TOKEN}`` is the usual way to fill one): it is masked
    wherever it shows up, in step output, errors, the API and logs, like a DSN."""

    cwd: str | None = None
    env: dict[str, Secret] = {}
    timeout: Duration = timedelta(seconds=30)
    output_limit: Size = 64 * 1024

    @model_validator(mode="after")
    def _positive(self) -> ShellConfig:
        if self.timeout <= timedelta():
            raise located_error("timeout must be longer than 0s", "timeout")
        if self.output_limit <= 0:
            raise located_error("output_limit must be more than 0 bytes", "output_limit")
        return self


class ApprovalsConfig(_Model):
    """``channels``: where a request for an approval is announced (none: the channels the
    run's incident was paged on, then its severity's ``notify``). ``write_during``: the
    severities whose incidents' runs need an approval by another person for ``write`` steps
    too, not only a confirmation. ``ttl``: how long an approval request stays open."""

    channels: list[Slug] = []
    write_during: list[str] = []
    ttl: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _ttl(self) -> ApprovalsConfig:
        if not timedelta() < self.ttl <= timedelta(days=1):
            raise located_error("ttl must be longer than 0s and at most 1d", "ttl")
        return self


def approval_problems(
    approvals: ApprovalsConfig, *, severities: Collection[str], channels: Collection[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Each name in ``runbooks.approvals`` that is not a configured severity or channel, at
    its position in the list (``runbooks.approvals.write_during[0]``)."""
    at = ("runbooks", "approvals")
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, name in enumerate(approvals.write_during):
        if name not in severities:
            known = ", ".join(severities) or "none are defined"
            problems.append(
                ((*at, "write_during", i), f"unknown severity {name!r} (known severities: {known})")
            )
    for i, name in enumerate(approvals.channels):
        if name not in channels:
            known = ", ".join(channels) or "none are defined"
            problems.append(
                ((*at, "channels", i), f"unknown channel {name!r} (known channels: {known})")
            )
    return problems


class RunbooksConfig(_Model):
    """``path`` is relative to the config file's folder."""

    path: str = Field(default=DEFAULT_PATH, min_length=1)
    databases: dict[Slug, RunbookDatabase] = {}
    shell: ShellConfig = ShellConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: object) -> object:
        if isinstance(data, str):
            return {"path": data}
        return data
