"""The ``runbooks:`` section: where the runbook files are, the databases SQL steps name with
``db=``, and how shell steps run. ``runbooks: runbooks/`` (a string) is short for
``runbooks: {path: runbooks/}``."""

from __future__ import annotations

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
    extra environment, the default per-step timeout and the output kept per step."""

    cwd: str | None = None
    env: dict[str, str] = {}
    timeout: Duration = timedelta(seconds=30)
    output_limit: Size = 64 * 1024

    @model_validator(mode="after")
    def _positive(self) -> ShellConfig:
        if self.timeout <= timedelta():
            raise located_error("timeout must be longer than 0s", "timeout")
        if self.output_limit <= 0:
            raise located_error("output_limit must be more than 0 bytes", "output_limit")
        return self


class RunbooksConfig(_Model):
    """``path`` is relative to the config file's folder."""

    path: str = Field(default=DEFAULT_PATH, min_length=1)
    databases: dict[Slug, RunbookDatabase] = {}
    shell: ShellConfig = ShellConfig()

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: object) -> object:
        if isinstance(data, str):
            return {"path": data}
        return data
