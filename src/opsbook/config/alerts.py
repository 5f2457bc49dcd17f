"""The alerting sections of ``opsbook.yaml``: ``alerts``, ``alerting``, ``maintenance``,
``integrations`` and ``channels``.

A rule is either ``when:`` (an expression over one check, parsed at load by ``alert_expr``) or
``prometheus:`` (a PromQL expression evaluated by a Prometheus server). Cross-references (the
check a rule names, its severity, its channels, a window's components) are checked by ``Config``
in ``schema.py``, which sees the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from opsbook.config.alert_expr import AlertExpr
from opsbook.config.fields import CronText, HttpUrl, SeverityName, Slug, Timezone
from opsbook.config.located import located_error
from opsbook.config.templates import (
    INCIDENT_VARIABLES,
    MESSAGE_VARIABLES,
    SHIPPED_INCIDENT_MESSAGES,
    SHIPPED_MESSAGES,
    check_template,
)
from opsbook.config.units import Duration, format_duration, parse_duration
from opsbook.redaction import Secret


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _label_names(labels: Collection[str], *at: str) -> None:
    """Refuse a label name Prometheus and Alertmanager would refuse (their data model), so
    alerts, silences and notifications all agree on the name."""
    for i, name in enumerate(labels):
        if not _LABEL_NAME.fullmatch(name):
            last: str | int = name if isinstance(labels, Mapping) else i
            raise located_error(
                f"{name!r} is not a label name (use letters, digits and '_', not starting "
                "with a digit, e.g. team or service_tier)",
                *at,
                last,
            )


_FAILURES = re.compile(r"(\d+)\s+(?:consecutive\s+)?(?:failures?|consecutive|times|results?)")


class ForSpec(_Model):
    """How long an expression must hold before a pending alert fires.

    ``failures``: that many consecutive evaluations in a row (``"3 failures"``; for a check rule,
    one evaluation per probe result). ``duration``: true without a break for that long (``"10m"``).
    The default, one failure, fires on the first evaluation that is true.
    """

    failures: int | None = Field(default=None, ge=1, le=1000)
    duration: timedelta | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(
                f"{value!r} is ambiguous: write '{value} failures' or a duration like '{value}m'"
            )
        if not isinstance(value, str):
            return value
        text = value.strip()
        match = _FAILURES.fullmatch(text)
        if match:
            return {"failures": int(match.group(1))}
        try:
            return {"duration": parse_duration(text)}
        except ValueError:
            raise ValueError(
                f"{text!r} is not a 'for' (use a count like '3 failures' or a duration like '10m')"
            ) from None

    @model_validator(mode="after")
    def _one(self) -> ForSpec:
        if self.failures is None and self.duration is None:
            return ForSpec(failures=1)
        if self.failures is not None and self.duration is not None:
            raise ValueError("set a number of failures or a duration, not both")
        return self

    def describe(self) -> str:
        if self.duration is not None:
            return f"for {format_duration(self.duration)}"
        n = self.failures or 1
        return f"{n} failure" + ("" if n == 1 else "s")


IMMEDIATE = ForSpec(failures=1)


class Flapping(_Model):
    """``transitions`` firing/resolved changes within ``window`` turn an alert into one
    "flapping" notification instead of a storm; it stops flapping after ``window`` of calm."""

    transitions: int = Field(default=6, ge=2, le=1000)
    window: Duration = timedelta(hours=1)


class PrometheusQuery(_Model):
    """Evaluate ``expr`` through a Prometheus server's HTTP API (``GET /api/v1/query``) every
    ``every``; each series in the answer is one alert, labelled with the series' labels."""

    url: HttpUrl
    expr: str = Field(min_length=1)
    every: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(seconds=10)
    bearer_token: Secret | None = None


class AlertRule(_Model):
    """One rule under ``alerts:``. Exactly one of ``when`` and ``prometheus``.

    ``None`` for ``resolve_after``, ``repeat_every``, ``send_resolved``, ``notify``, ``group_by``
    and ``flapping`` means "the ``alerting:`` default".
    """

    when: AlertExpr | None = None
    prometheus: PrometheusQuery | None = None
    for_: ForSpec = Field(default=IMMEDIATE, alias="for")
    keep_firing_for: Duration = timedelta()
    resolve_after: int | None = Field(default=None, ge=1, le=1000)
    retry_every: Duration | None = None
    severity: SeverityName | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    runbook: str | None = None
    repeat_every: Duration | None = None
    send_resolved: bool | None = None
    notify: list[Slug] | None = None
    group_by: list[str] | None = None
    flapping: Flapping | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AlertRule:
        if (self.when is None) == (self.prometheus is None):
            raise ValueError("set exactly one of when or prometheus")
        if self.retry_every is not None:
            if self.prometheus is not None:
                raise located_error(
                    "retry_every re-probes a check; a prometheus rule has no check to re-probe",
                    "retry_every",
                )
            if self.retry_every <= timedelta():
                raise located_error("retry_every must be longer than 0s", "retry_every")
        if self.keep_firing_for < timedelta():
            raise located_error("keep_firing_for cannot be negative", "keep_firing_for")
        _label_names(self.labels, "labels")
        _label_names(self.group_by or [], "group_by")
        for key, text in self.annotations.items():
            problem = check_template(text)
            if problem:
                raise located_error(problem, "annotations", key)
        return self


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Route(_Model):
    """One entry of ``alerting.routes``: which alerts it takes and where their notices go.

    An alert matches when every ``match`` label equals its value (a value starting with ``~`` is
    a regex over the whole value, as Alertmanager's ``=~``; a missing label is ``""``) and, with
    ``severity``, its ``severity`` label is one of those. ``continue``: keep looking for more
    routes after this one matches (default: the first match wins).
    """

    match: dict[str, str] = {}
    severity: Annotated[list[SeverityName], BeforeValidator(_one_or_many)] = []
    notify: list[Slug]
    group_by: list[str] | None = None
    continue_: bool = Field(default=False, alias="continue")

    @model_validator(mode="after")
    def _valid(self) -> Route:
        _label_names(self.match, "match")
        _label_names(self.group_by or [], "group_by")
        for name, value in self.match.items():
            if not value.startswith("~"):
                continue
            try:
                re.compile(value[1:])
            except re.error as exc:
                raise located_error(
                    f"{value[1:]!r} is not a regular expression ({exc})", "match", name
                ) from None
        return self


class AlertingConfig(_Model):
    """Defaults for every rule, and how notifications are batched (Alertmanager's route knobs).

    ``routes`` pick the receivers of an alert whose rule sets no ``notify``; an alert no route
    takes goes to ``notify``.
    """

    evaluate_every: Duration = timedelta(seconds=5)
    resolve_after: int = Field(default=2, ge=1, le=1000)
    repeat_every: Duration = timedelta(hours=4)
    send_resolved: bool = True
    notify: list[Slug] = []
    routes: list[Route] = []
    group_by: list[str] = ["alertname"]
    group_wait: Duration = timedelta()
    group_interval: Duration = timedelta(seconds=10)
    flapping: Flapping = Flapping()
    resolve_timeout: Duration = timedelta(minutes=5)
    """An ingested Alertmanager-API alert without ``endsAt`` resolves this long after it was
    last received, as in Alertmanager."""

    @model_validator(mode="after")
    def _positive(self) -> AlertingConfig:
        for name in ("evaluate_every", "repeat_every", "resolve_timeout"):
            if getattr(self, name) <= timedelta():
                raise located_error(f"{name} must be longer than 0s", name)
        _label_names(self.group_by, "group_by")
        return self


def _aware(value: datetime) -> datetime:
    return value


class MaintenanceWindow(_Model):
    """Alerts are held (checks still run, results are kept) while the window is open.

    One-off: ``start`` and ``end``. Recurring: ``schedule`` (cron) and ``duration``, in
    ``timezone`` (default: the top-level ``timezone``). ``components`` and ``checks`` narrow it;
    with neither it covers everything.
    """

    start: Annotated[datetime, AfterValidator(_aware)] | None = None
    end: Annotated[datetime, AfterValidator(_aware)] | None = None
    schedule: CronText | None = None
    duration: Duration | None = None
    timezone: Timezone | None = None
    components: list[Slug] = []
    checks: list[Slug] = []
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        recurring = self.schedule is not None or self.duration is not None
        if one_off == recurring:
            raise ValueError("set either start and end, or schedule and duration")
        if one_off:
            if self.start is None or self.end is None:
                missing = "start" if self.start is None else "end"
                raise located_error(f"{missing} is required with a one-off window", missing)
            if self.end <= self.start:
                raise located_error("end must be after start", "end")
        else:
            if self.schedule is None or self.duration is None:
                missing = "schedule" if self.schedule is None else "duration"
                raise located_error(f"{missing} is required with a recurring window", missing)
            if self.duration <= timedelta():
                raise located_error("duration must be longer than 0s", "duration")
        return self


def _routing_key(value: Secret) -> Secret:
    # PagerDuty's own check; the message never repeats the value, it is a credential.
    if len(value.reveal()) != 32:
        raise ValueError(
            f"a PagerDuty routing key is 32 characters (this one has {len(value.reveal())})"
        )
    return value


def _token(value: Secret) -> Secret:
    if len(value.reveal()) < 16:
        raise ValueError(
            "a token must be at least 16 characters "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return value


Token = Annotated[Secret, AfterValidator(_token)]


class AlertmanagerIngest(_Model):
    """Accept Alertmanager API v2 alerts (``POST /api/v2/alerts``) and Alertmanager webhooks
    (``POST /api/v1/integrations/<name>/alertmanager``), authenticated by ``token``."""

    token: Token


class PagerDutyIngest(_Model):
    """Accept PagerDuty Events API v2 (``POST /v2/enqueue``) sent with this routing key."""

    routing_key: Annotated[Secret, AfterValidator(_routing_key)]


class WebhookIngest(_Model):
    """Accept opsbook's generic JSON alert at ``POST /api/v1/integrations/<name>/webhook``,
    authenticated by ``token`` (Bearer) or an HMAC-SHA256 signature with ``hmac_secret``."""

    token: Token | None = None
    hmac_secret: Token | None = None

    @model_validator(mode="after")
    def _some_auth(self) -> WebhookIngest:
        if self.token is None and self.hmac_secret is None:
            raise ValueError("set token, hmac_secret or both: every ingest path is authenticated")
        return self


class Integration(_Model):
    """One source of alerts from outside. Exactly one of the kinds."""

    alertmanager: AlertmanagerIngest | None = None
    pagerduty: PagerDutyIngest | None = None
    webhook: WebhookIngest | None = None
    labels: dict[str, str] = {}
    severity: SeverityName | None = None
    """Severity for alerts that carry none (default: the lowest configured)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Integration:
        kinds = [k for k in ("alertmanager", "pagerduty", "webhook") if getattr(self, k)]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(
                f"set exactly one of alertmanager, pagerduty or webhook (found {found})"
            )
        _label_names(self.labels, "labels")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("alertmanager", "pagerduty", "webhook") if getattr(self, k))


class WebhookChannel(_Model):
    """POST each notification as JSON (Alertmanager webhook v4 shape) to ``url``; with
    ``secret``, sign the body: ``X-Opsbook-Signature: sha256=<hex HMAC-SHA256>``."""

    url: Secret
    secret: Secret | None = None
    headers: dict[str, Secret] = {}
    timeout: Duration = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _http(cls, value: Secret) -> Secret:
        from opsbook.config.fields import check_channel_url

        check_channel_url(value.reveal())
        return value


_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


def _address(value: str) -> str:
    # A bare addr-spec only: a display name or a line break could inject headers.
    if not _ADDRESS.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address (use e.g. oncall@example.com)")
    return value


Address = Annotated[str, AfterValidator(_address)]


class SmtpChannel(_Model):
    """Send each notification as a plain-text email through an SMTP server.

    ``tls``: connect with implicit TLS (SMTPS, port 465 by default); ``starttls``: upgrade a
    plain connection with STARTTLS. ``port`` defaults to 465 with ``tls``, else 25.
    """

    to: list[Address] = Field(min_length=1)
    from_: Address = Field(default="opsbook@localhost", alias="from")
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    starttls: bool = False
    tls: bool = False
    timeout: Duration = timedelta(seconds=10)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _one_or_many(value)

    @model_validator(mode="after")
    def _consistent(self) -> SmtpChannel:
        if self.tls and self.starttls:
            raise ValueError("set tls (SMTPS, port 465) or starttls (upgrade on 25/587), not both")
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise located_error(f"{missing} is required with {_other(missing)}", missing)
        if self.timeout <= timedelta():
            raise located_error("timeout must be longer than 0s", "timeout")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 465 if self.tls else 25


def _other(name: str) -> str:
    return "username" if name == "password" else "password"


def _apprise_url(value: Secret) -> Secret:
    scheme, sep, rest = value.reveal().partition("://")
    if not sep or not rest or not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", scheme):
        # Never repeat the value: Apprise URLs carry tokens.
        raise ValueError(
            "not an Apprise URL (use e.g. slack://TokenA/TokenB/TokenC, ntfys://topic)"
        )
    return value


class MessageTemplate(_Model):
    """A channel's own message: ``subject`` (the email subject, the chat title) and ``body``,
    Jinja2 templates; a part left out is the channel kind's shipped default."""

    subject: str | None = None
    body: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> MessageTemplate:
        for part in ("subject", "body"):
            text = getattr(self, part)
            problem = None if text is None else check_template(text, variables=MESSAGE_VARIABLES)
            if problem:
                raise located_error(problem, part)
        return self


class IncidentMessageTemplate(_Model):
    """A channel's own incident or page message: ``subject`` and ``body`` over the incident
    variables (``INCIDENT_VARIABLES``); a part left out is the shipped default."""

    subject: str | None = None
    body: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> IncidentMessageTemplate:
        for part in ("subject", "body"):
            text = getattr(self, part)
            problem = None if text is None else check_template(text, variables=INCIDENT_VARIABLES)
            if problem:
                raise located_error(problem, part)
        return self


CHANNEL_KINDS = ("webhook", "smtp", "apprise")

IncidentTemplate = Annotated[
    Annotated[str, Tag("name")] | Annotated[IncidentMessageTemplate, Tag("own")],
    Discriminator(lambda value: _template_form(value)),
]


def _template_form(value: Any) -> str:
    # Tells pydantic which form it is, so an error reports that form's problem only.
    return "name" if isinstance(value, str) else "own"


class Channel(_Model):
    """Where notifications go. Exactly one kind: ``webhook``, ``smtp`` or ``apprise``.

    ``template`` (smtp and apprise only) is a shipped template's name or a ``MessageTemplate``;
    without it the kind's default (``email`` or ``chat``) is used.
    """

    webhook: WebhookChannel | None = None
    smtp: SmtpChannel | None = None
    apprise: Annotated[Secret, AfterValidator(_apprise_url)] | None = None
    template: (
        Annotated[
            Annotated[str, Tag("name")] | Annotated[MessageTemplate, Tag("own")],
            Discriminator(_template_form),
        ]
        | None
    ) = None
    incident_template: IncidentTemplate | None = None
    """The message for incident updates (default ``incident-chat``/``incident-email``)."""
    page_template: IncidentTemplate | None = None
    """The message a paged person gets (default ``page``)."""

    @field_validator("incident_template", "page_template", mode="before")
    @classmethod
    def _incident_template_name(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in SHIPPED_INCIDENT_MESSAGES:
            raise ValueError(
                f"{value!r} is not a shipped incident template (use "
                f"{', '.join(SHIPPED_INCIDENT_MESSAGES)}, or a mapping with subject and body)"
            )
        return value

    @field_validator("template", mode="before")
    @classmethod
    def _template_name(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in SHIPPED_MESSAGES:
            raise ValueError(
                f"{value!r} is not a shipped template (use {', '.join(SHIPPED_MESSAGES)}, "
                "or a mapping with subject and body)"
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Channel:
        kinds = [k for k in CHANNEL_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"set exactly one of webhook, smtp or apprise (found {found})")
        for key in ("template", "incident_template", "page_template"):
            if getattr(self, key) is not None and self.webhook is not None:
                raise located_error(
                    f"a webhook sends JSON, not a template: {key} is for smtp and apprise channels",
                    key,
                )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in CHANNEL_KINDS if getattr(self, k) is not None)
