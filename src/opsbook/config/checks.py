"""The ``checks:`` section: one ``CheckSpec`` per check id, with exactly one kind key."""

from __future__ import annotations

import ipaddress
import itertools
import re
from datetime import datetime, timedelta
from typing import Annotated, Literal, TypeAlias
from uuid import UUID

from cronsim import CronSim, CronSimError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from opsbook.config.conditions import Condition, kind_condition_problem
from opsbook.config.fields import CronText, HttpMethod, HttpUrl, Timezone
from opsbook.config.located import CHECK_KIND, located_error
from opsbook.config.selectors import MetricSelector
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
    ca_file: str | None = None
    """PEM file of extra trusted CAs, for certificates from a private CA."""

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

    @field_validator("server")
    @classmethod
    def _server_address(cls, value: str | None) -> str | None:
        if value is not None and dns_server_address(value) is None:
            raise ValueError(
                f"{value!r} is not a DNS server address (use an IP, ip:port or [ipv6]:port)"
            )
        return value


def dns_server_address(text: str) -> tuple[str, int] | None:
    """``"1.1.1.1"`` -> ``("1.1.1.1", 53)``; ``"[::1]:5353"`` -> ``("::1", 5353)``; else None."""
    host, port = text, "53"
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            host, port = text[1:].removesuffix("]"), "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


class TlsSpec(_Model):
    """Connect and read the certificate: days left, hostname match, chain validity."""

    host: str = Field(min_length=1)
    port: int = Field(default=443, ge=1, le=65535)
    servername: str | None = None
    ca_file: str | None = None
    """PEM file of extra trusted CAs, for certificates from a private CA."""


class RatioValue(_Model):
    """Increase of ``numerator`` over increase of ``denominator`` between two scrapes."""

    numerator: MetricSelector
    denominator: MetricSelector


class QuantileValue(_Model):
    """The ``q`` quantile of a histogram from its bucket increases between two scrapes."""

    histogram: MetricSelector
    q: float = Field(gt=0, lt=1)


class IncreaseValue(_Model):
    """How much a counter grew between two scrapes, scaled to ``per`` (PromQL's ``increase``
    over the scrape interval): ``auth_failures_total`` per ``1m`` reads "10 per minute"."""

    selector: MetricSelector
    per: Duration = timedelta(minutes=1)

    @field_validator("per")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta():
            raise ValueError("per must be longer than 0s (e.g. 1m)")
        return value


class MetricValue(_Model):
    """One named value from a scrape: exactly one of ``sum``, ``ratio``, ``fraction``,
    ``quantile``, ``increase``."""

    sum: MetricSelector | None = None
    ratio: RatioValue | None = None
    fraction: RatioValue | None = None
    """``numerator`` over ``denominator`` as they are in this scrape (gauges: heap used over heap
    total, connections in use over the pool's size)."""
    quantile: QuantileValue | None = None
    increase: IncreaseValue | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MetricValue:
        kinds = (self.sum, self.ratio, self.fraction, self.quantile, self.increase)
        count = sum(v is not None for v in kinds)
        if count != 1:
            raise ValueError(
                f"set exactly one of sum, ratio, fraction, quantile or increase (found {count})"
            )
        return self


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

    @model_validator(mode="after")
    def _not_empty(self) -> CommandSpec:
        if not (self.run if isinstance(self.run, list) else self.run.strip()):
            raise located_error("must name a command", "run")
        return self


class PostgresSpec(_Model):
    """Connect, ``SELECT 1``, and read connection, query and replication values."""

    dsn: Secret


REDIS_VALUES = (
    "used_memory_bytes",
    "maxmemory_bytes",
    "memory_pct",
    "hit_rate_pct",
    "connected_clients",
)
"""The values every redis check produces; queue names may not reuse them."""
_VALUE_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _uuid(value: object) -> object:
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a UUID (use e.g. 0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21)"
            ) from None
    return value


PingUuid = Annotated[UUID, BeforeValidator(_uuid)]


class RedisSpec(_Model):
    """PING plus memory, hit rate, clients, and ``queues``: value name -> key whose size is read.

    A list ``[celery, mail]`` is short for ``{celery: celery, mail: mail}`` (Celery names each
    queue's list after the queue).
    """

    url: Secret
    queues: dict[str, str] = {}

    @field_validator("queues", mode="before")
    @classmethod
    def _list_is_shorthand(cls, value: object) -> object:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {v: v for v in value}
        return value

    @model_validator(mode="after")
    def _value_names(self) -> RedisSpec:
        for name in self.queues:
            if not _VALUE_NAME.fullmatch(name):
                raise located_error(
                    f"{name!r} is not a value name (use lowercase letters, digits and '_', "
                    "e.g. default_depth)",
                    "queues",
                    name,
                )
            if name in REDIS_VALUES:
                raise located_error(
                    f"{name!r} is already a redis value; name the queue something else",
                    "queues",
                    name,
                )
        return self


class HeartbeatSpec(_Model):
    """A check that expects pings: every ``period``, or on a cron ``schedule``, plus ``grace``.

    ``uuid`` is the ping address; when absent one is derived from the service and check id.
    ``methods: POST`` ignores GET and HEAD pings (link previews and crawlers send those).
    """

    period: Duration | None = None
    schedule: CronText | None = None
    grace: Duration = timedelta(hours=1)
    timezone: Timezone | None = None
    uuid: PingUuid | None = None
    methods: Literal["any", "POST"] = "any"

    @model_validator(mode="after")
    def _period_or_schedule(self) -> HeartbeatSpec:
        if (self.period is None) == (self.schedule is None):
            raise ValueError("set exactly one of period or schedule")
        if self.schedule is not None:
            try:
                CronSim(self.schedule, datetime(2000, 1, 1))
            except CronSimError as exc:
                reason = str(exc).lower()
                raise located_error(
                    f"{self.schedule!r} is not a cron schedule ({reason})", "schedule"
                ) from None
        for name in ("period", "grace"):
            value: timedelta | None = getattr(self, name)
            if value is not None and value <= timedelta():
                raise located_error(f"{name} must be longer than 0s", name)
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
    conditions: list[Condition] = []
    degraded_when: list[Condition] = []
    slo: Slo = Slo()
    labels: dict[str, str] = {}
    depends_on: list[str] = []
    """Checks this one needs: while one of them is down, this check's alerts are suppressed and
    linked to it instead of paging separately."""

    @model_validator(mode="after")
    def _validate(self) -> CheckSpec:
        message = kind_problem(k for k in CHECK_KINDS if getattr(self, k) is not None)
        if message:
            raise located_error(message, kind=CHECK_KIND)
        placed = kind_condition_problem(
            self.kind, conditions=self.conditions, degraded_when=self.degraded_when
        )
        if placed:
            raise located_error(*placed)
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
