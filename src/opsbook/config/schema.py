"""The top-level ``opsbook.yaml`` models: frozen, and unknown keys are errors (STYLE.md R16)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails

from opsbook.config.alerts import AlertingConfig, AlertRule, Channel, Integration, MaintenanceWindow
from opsbook.config.checks import CheckSpec
from opsbook.config.engine import RetentionConfig, SchedulerConfig
from opsbook.config.fields import HttpUrl, ServiceName, SeverityName, Slug, Timezone
from opsbook.config.known import Loc, broken_paths, known
from opsbook.config.located import UNKNOWN_CHECK, located_error
from opsbook.config.oncall import OncallConfig, oncall_problems, severity_problems
from opsbook.config.pings import PingsConfig
from opsbook.config.references import check_references
from opsbook.config.runbooks import RunbooksConfig
from opsbook.config.status_page import (
    StatusPageConfig,
    status_page_problems,
    subscriber_problems,
)
from opsbook.config.structure import unknown_check_message
from opsbook.config.units import Duration
from opsbook.redaction import Secret

StatusImpact = Literal["none", "degraded_performance", "partial_outage", "major_outage"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: HttpUrl | None = None


class StoreConfig(_Model):
    """Where results live. ``url`` None means the store package's default (see store/)."""

    url: Secret | None = None


class Severity(_Model):
    """The policy for incidents of one severity.

    ``page``: firing alerts of this severity declare incidents. ``escalation``: the
    ``oncall.escalation`` policy that pages people for its incidents (none: nobody is paged).
    ``notify``: channels that get every update of its incidents (declared, status, severity,
    reopened, merged). ``escalate_after``: an incident still not mitigated this long after it
    was declared pages its escalation's next level at once, acknowledged or not ("escalate
    immediately if the site is down for more than 15 minutes").
    """

    respond_within: Duration
    page: bool = False
    escalation: Slug | None = None
    notify: list[Slug] = []
    escalate_after: Duration | None = None
    status_impact: StatusImpact = "none"
    description: str = ""

    @model_validator(mode="after")
    def _escalate_after(self) -> Severity:
        if self.escalate_after is not None:
            if self.escalate_after <= timedelta():
                raise located_error("escalate_after must be longer than 0s", "escalate_after")
            if self.escalation is None:
                raise located_error(
                    "escalate_after needs an escalation policy to page: set escalation",
                    "escalate_after",
                )
        return self


class IncidentsConfig(_Model):
    """``group_within``: a paging alert that fires within this long of an open incident's
    declaration joins it even when it is of another component and shares no dependency root
    (one outage that takes several components down at once is one incident). 0s: off."""

    group_within: Duration = timedelta()

    @model_validator(mode="after")
    def _not_negative(self) -> IncidentsConfig:
        if self.group_within < timedelta():
            raise located_error("group_within must not be negative", "group_within")
        return self


class Component(_Model):
    name: str
    description: str = ""
    group: str | None = None
    checks: list[str] = []


def default_severities() -> dict[str, Severity]:
    """The response times all five seed runbooks share."""
    return {
        "SEV1": Severity(
            respond_within=timedelta(minutes=15), page=True, status_impact="major_outage"
        ),
        "SEV2": Severity(
            respond_within=timedelta(hours=1), page=True, status_impact="partial_outage"
        ),
        "SEV3": Severity(respond_within=timedelta(hours=4)),
        "SEV4": Severity(respond_within=timedelta(days=1)),
    }


class Config(_Model):
    """A whole validated ``opsbook.yaml``. Build it with ``opsbook.config.load``."""

    service: ServiceName
    timezone: Timezone = "UTC"
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    severities: dict[SeverityName, Severity] = Field(
        default_factory=default_severities, min_length=1
    )
    components: dict[Slug, Component] = {}
    checks: dict[Slug, CheckSpec] = {}
    scheduler: SchedulerConfig = SchedulerConfig()
    retention: RetentionConfig = RetentionConfig()
    pings: PingsConfig = PingsConfig()
    alerts: dict[Slug, AlertRule] = {}
    alerting: AlertingConfig = AlertingConfig()
    maintenance: dict[Slug, MaintenanceWindow] = {}
    integrations: dict[Slug, Integration] = {}
    channels: dict[Slug, Channel] = {}
    oncall: OncallConfig = OncallConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    runbooks: RunbooksConfig = RunbooksConfig()
    status_page: StatusPageConfig = StatusPageConfig()

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> Config:
        # One validator for every rule that spans sections, so each of their problems is
        # reported in the same run (pydantic stops at the first model validator that raises).
        # ``broken`` names items the loader dropped as invalid: references to them are not
        # "unknown" (see known.py).
        broken = broken_paths(info.context)
        channels = known(("channels",), self.channels, broken)
        problems = oncall_problems(self.oncall, channels=channels, broken=broken)
        problems += severity_problems(
            self.severities,
            policies=known(("oncall", "escalation"), self.oncall.escalation, broken),
            channels=channels,
        )
        problems += status_page_problems(
            self.status_page,
            components=known(("components",), self.components, broken),
            severities=known(("severities",), self.severities, broken),
        )
        problems += subscriber_problems(
            self.status_page,
            channels=self.channels,
            has_url=bool(self.status_page.base_url or self.server.public_url),
        )
        errors = [
            InitErrorDetails(type=located_error(message, *at), loc=(), input=None)
            for at, message in problems
        ]
        errors += [
            InitErrorDetails(
                type=located_error(message, *at, kind=UNKNOWN_CHECK), loc=(), input=None
            )
            for at, message in self._unknown_component_checks(broken)
        ]
        found = check_references(self, broken=broken)
        errors += [
            InitErrorDetails(type=located_error(message, *at), loc=(), input=None)
            for at, message in [*self._shared_ping_uuids(), *found.problems]
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        # The model is frozen; this runs during its own validation, before anyone can hold it.
        object.__setattr__(self, "alerts", found.alerts)
        return self

    def _unknown_component_checks(self, broken: frozenset[Loc]) -> list[tuple[Loc, str]]:
        checks = known(("checks",), self.checks, broken)
        return [
            (("components", name, "checks", i), unknown_check_message(ref, checks))
            for name, component in self.components.items()
            for i, ref in enumerate(component.checks)
            if ref not in checks
        ]

    def _shared_ping_uuids(self) -> list[tuple[Loc, str]]:
        # Two checks on one ping URL would each take the other's pings: refuse it at load.
        owner: dict[str, str] = {}
        problems: list[tuple[Loc, str]] = []
        for check_id, spec in self.checks.items():
            uuid = spec.heartbeat.uuid if spec.heartbeat is not None else None
            if uuid is None:
                continue
            if str(uuid) in owner:
                problems.append(
                    (
                        ("checks", check_id, "heartbeat", "uuid"),
                        f"uuid {uuid} is already used by check {owner[str(uuid)]!r}; "
                        "each heartbeat needs its own ping URL",
                    )
                )
            else:
                owner[str(uuid)] = check_id
        return problems
