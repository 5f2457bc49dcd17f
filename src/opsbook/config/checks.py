"""The ``checks:`` section: one ``CheckSpec`` per check id, with exactly one kind key."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opsbook.config.fields import CronText, HttpMethod, HttpUrl, Timezone
from opsbook.config.located import CHECK_KIND, located_error
from opsbook.config.structure import CHECK_KINDS, kind_problem
from opsbook.config.units import Duration, Percent, format_duration
from opsbook.redaction import Secret, redact_url


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BasicAuth(_Model):
    username: str
    password: Secret


class HttpSpec(_Model):
    url: HttpUrl
    method: HttpMethod = "GET"
    headers: dict[str, str] = {}
    body: str | None = None
    follow_redirects: bool = True
    verify_tls: bool = True
    bearer_token: Secret | None = None
    basic_auth: BasicAuth | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> HttpSpec:
        if self.bearer_token is not None and self.basic_auth is not None:
            raise located_error("set bearer_token or basic_auth, not both", "basic_auth")
        return self


class TcpSpec(_Model):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)


DnsRecordType = Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "PTR", "CAA"]


class DnsSpec(_Model):
    """Resolve ``name`` as ``type``; ``server`` (``ip`` or ``ip:port``) overrides the system's."""

    name: str = Field(min_length=1)
    type: DnsRecordType = "A"
    server: str | None = None
    expect: list[str] = []


class TlsSpec(_Model):
    """Connect and read the certificate: days left, hostname match, chain validity."""

    host: str = Field(min_length=1)
    port: int = Field(default=443, ge=1, le=65535)
    servername: str | None = None


class RatioValue(_Model):
    """Increase of ``numerator`` over increase of ``denominator`` between two scrapes."""

    numerator: str
    denominator: str


class QuantileValue(_Model):
    """The ``q`` quantile of a histogram from its bucket increases between two scrapes."""

    histogram: str
    q: float = Field(gt=0, lt=1)


class MetricValue(_Model):
    """One named value from a scrape: exactly one of ``sum``, ``ratio``, ``quantile``."""

    sum: str | None = None
    ratio: RatioValue | None = None
    quantile: QuantileValue | None = None


class MetricSpec(_Model):
    """Scrape a Prometheus text endpoint and expose selected series as named values."""

    url: HttpUrl
    values: dict[str, MetricValue] = {}
    bearer_token: Secret | None = None


class CommandSpec(_Model):
    """Run a local command; exit code 0 is up. ``run`` is an argv list or one shell line."""

    run: list[str] | str
    env: dict[str, str] = {}
    cwd: str | None = None


class PostgresSpec(_Model):
    dsn: Secret


class RedisSpec(_Model):
    url: Secret
    queues: list[str] = []


class HeartbeatSpec(_Model):
    """A check that expects pings: every ``period``, or on a cron ``schedule``, plus ``grace``."""

    period: Duration | None = None
    schedule: CronText | None = None
    grace: Duration = timedelta(hours=1)
    timezone: Timezone | None = None

    @model_validator(mode="after")
    def _period_or_schedule(self) -> HeartbeatSpec:
        if (self.period is None) == (self.schedule is None):
            raise ValueError("set exactly one of period or schedule")
        return self


KindSpec: TypeAlias = (
    HttpSpec
    | TcpSpec
    | DnsSpec
    | TlsSpec
    | PostgresSpec
    | RedisSpec
    | HeartbeatSpec
    | MetricSpec
    | CommandSpec
)


class Slo(_Model):
    p50: Duration | None = None
    p95: Duration | None = None
    p99: Duration | None = None
    availability: Percent | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Slo:
        named = [(k, v) for k, v in (("p50", self.p50), ("p95", self.p95), ("p99", self.p99)) if v]
        for (low_name, low), (high_name, high) in itertools.pairwise(named):
            if high < low:
                raise located_error(
                    f"{high_name} ({format_duration(high)}) is below "
                    f"{low_name} ({format_duration(low)})",
                    high_name,
                )
        return self


class CheckSpec(_Model):
    """One configured check. Exactly one of the kind fields (``CHECK_KINDS``) is set."""

    http: HttpSpec | None = None
    tcp: TcpSpec | None = None
    dns: DnsSpec | None = None
    tls: TlsSpec | None = None
    postgres: PostgresSpec | None = None
    redis: RedisSpec | None = None
    heartbeat: HeartbeatSpec | None = None
    metric: MetricSpec | None = None
    command: CommandSpec | None = None
    every: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(seconds=10)
    retry_every: Duration | None = None
    conditions: list[str] = []
    degraded_when: list[str] = []
    slo: Slo = Slo()
    labels: dict[str, str] = {}

    @model_validator(mode="after")
    def _validate(self) -> CheckSpec:
        message = kind_problem(k for k in CHECK_KINDS if getattr(self, k) is not None)
        if message:
            raise located_error(message, kind=CHECK_KIND)
        for name in ("every", "timeout", "retry_every"):
            value: timedelta | None = getattr(self, name)
            if value is not None and value <= timedelta():
                raise located_error(f"{name} must be longer than 0s", name)
        # A heartbeat waits for pings instead of polling, so its timeout is never used.
        if self.kind != "heartbeat" and self.timeout >= self.every:
            raise located_error(
                f"timeout ({format_duration(self.timeout)}) must be shorter than "
                f"every ({format_duration(self.every)})",
                "timeout",
            )
        return self

    @property
    def kind(self) -> str:
        """The name of the kind key that is set: ``"http"``, ``"tcp"``, ..."""
        return next(k for k in CHECK_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> KindSpec:
        """The settings of this check's kind."""
        spec: KindSpec | None = getattr(self, self.kind)
        assert spec is not None, "the validator guarantees one kind"
        return spec

    def target_display(self) -> str:
        """What this check probes, safe to show: credentials in URLs and DSNs are masked."""
        spec = self.spec
        if isinstance(spec, HttpSpec):
            url = redact_url(spec.url)
            return url if spec.method == "GET" else f"{spec.method} {url}"
        if isinstance(spec, TcpSpec | TlsSpec):
            return f"{spec.host}:{spec.port}"
        if isinstance(spec, DnsSpec):
            return f"{spec.type} {spec.name}" + (f" @{spec.server}" if spec.server else "")
        if isinstance(spec, MetricSpec):
            return redact_url(spec.url)
        if isinstance(spec, CommandSpec):
            return spec.run if isinstance(spec.run, str) else " ".join(spec.run)
        if isinstance(spec, PostgresSpec):
            return redact_url(spec.dsn.reveal())
        if isinstance(spec, RedisSpec):
            return redact_url(spec.url.reveal())
        if spec.schedule is not None:
            tz = f" {spec.timezone}" if spec.timezone else ""
            return f"cron '{spec.schedule}'{tz}, grace {format_duration(spec.grace)}"
        period = format_duration(spec.period) if spec.period else "?"
        return f"ping every {period}, grace {format_duration(spec.grace)}"
