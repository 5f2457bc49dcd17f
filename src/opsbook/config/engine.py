"""The ``scheduler:`` and ``retention:`` sections: how the probe engine runs and what it keeps."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opsbook.config.located import located_error
from opsbook.config.units import Duration, format_duration


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SchedulerConfig(_Model):
    """At most ``concurrency`` probes run at once; results are written every ``flush_every`` or
    as soon as ``flush_max`` are waiting, whichever comes first."""

    concurrency: int = Field(default=64, ge=1, le=100_000)
    flush_every: Duration = timedelta(milliseconds=250)
    flush_max: int = Field(default=500, ge=1, le=100_000)

    @model_validator(mode="after")
    def _positive(self) -> SchedulerConfig:
        if self.flush_every <= timedelta():
            raise located_error("flush_every must be longer than 0s", "flush_every")
        return self


class RetentionConfig(_Model):
    """How long each kind of record is kept. Failures and state changes outlive plain results."""

    raw: Duration = timedelta(hours=48)
    failures: Duration = timedelta(days=90)
    rollups_minute: Duration = timedelta(days=14)
    rollups_hour: Duration = timedelta(days=400)

    @model_validator(mode="after")
    def _ordered(self) -> RetentionConfig:
        for name in ("raw", "failures", "rollups_minute", "rollups_hour"):
            if getattr(self, name) <= timedelta():
                raise located_error(f"{name} must be longer than 0s", name)
        if self.failures < self.raw:
            raise located_error(
                f"failures ({format_duration(self.failures)}) must be at least "
                f"raw ({format_duration(self.raw)}): failures are kept longer, not shorter",
                "failures",
            )
        return self
