"""The ``status_page:`` section: what the public status page shows and where it is published.

Every key is optional; without the section the page shows every component under the
``service`` name in the top-level ``timezone``. References to components and severities are
checked against the rest of the config (``status_page_problems``, called by ``Config``).
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsbook.config.alerts import Channel
from opsbook.config.fields import HttpUrl, SeverityName, Slug, Timezone, check_http_url
from opsbook.config.known import Loc
from opsbook.config.located import located_error
from opsbook.config.units import Duration


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StatusLink(_Model):
    """A link in the page's header (``{label: Help, url: https://shop.example/help}``)."""

    label: str = Field(min_length=1, max_length=100)
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith("mailto:") and len(value) > len("mailto:"):
            return value
        try:
            return check_http_url(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an http://, https:// or mailto: link") from None


class PublishConfig(_Model):
    """Re-export the page into ``dir`` (relative to the config file's folder) on every change,
    then run ``command`` (an argument list, or a string split like a shell would, never run
    by a shell) in that folder, for at most ``timeout``."""

    dir: str = Field(min_length=1)
    command: list[str] | None = None
    timeout: Duration = timedelta(minutes=1)

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot be split into arguments ({exc})") from None
        return value

    @model_validator(mode="after")
    def _checks(self) -> PublishConfig:
        if self.command is not None and (not self.command or not self.command[0].strip()):
            raise located_error("must name a program to run", "command")
        if self.timeout <= timedelta():
            raise located_error("timeout must be longer than 0s", "timeout")
        return self


class SubscribersConfig(_Model):
    """Who may subscribe to the page's updates. ``email_channel`` names a configured ``smtp``
    channel whose server, ``from`` and login send the confirmation and update emails (its
    ``to`` is not used); without it nobody can subscribe by email. ``confirm_within``: how long
    a confirmation link works. ``confirmations_per_hour``: how many confirmation emails one
    address gets per hour at most (the form cannot be used to flood a mailbox).
    ``webhook_timeout``: how long a subscriber's webhook may take to answer."""

    email_channel: Slug | None = None
    confirm_within: Duration = timedelta(hours=48)
    confirmations_per_hour: int = Field(default=3, ge=1, le=100)
    webhook_timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _checks(self) -> SubscribersConfig:
        if self.confirm_within <= timedelta():
            raise located_error("confirm_within must be longer than 0s", "confirm_within")
        if not timedelta() < self.webhook_timeout <= timedelta(minutes=1):
            raise located_error("webhook_timeout must be between 0s and 1m", "webhook_timeout")
        return self


class StatusPageConfig(_Model):
    """``title`` (default: ``service``); ``logo`` a path relative to the config file's folder
    or an http(s) URL; ``timezone`` for dates and the daily uptime bars (default: the top-level
    ``timezone``); ``components`` the public ones in page order (default: all, in config
    order); ``severities`` whose incidents are published (default: all); ``base_url`` the
    address the page is served at (a custom domain), used in links and feeds."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    logo: str | None = Field(default=None, min_length=1)
    links: list[StatusLink] = []
    timezone: Timezone | None = None
    components: list[Slug] | None = None
    severities: list[SeverityName] | None = None
    base_url: HttpUrl | None = None
    publish: PublishConfig | None = None
    subscribers: SubscribersConfig = SubscribersConfig()

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is not None and "://" in value:
            scheme = urlsplit(value).scheme
            if scheme not in ("http", "https"):
                raise ValueError(f"{value!r} is neither a file path nor an http(s) URL")
            check_http_url(value)
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None


def status_page_problems(
    section: StatusPageConfig, *, components: Collection[str], severities: Collection[str]
) -> list[tuple[Loc, str]]:
    """References to unknown components and severities, and a component listed twice."""
    problems: list[tuple[Loc, str]] = []
    seen: set[str] = set()
    for i, name in enumerate(section.components or ()):
        at: Loc = ("status_page", "components", i)
        if name in seen:
            problems.append((at, f"component {name!r} is listed twice"))
        elif name not in components:
            known = ", ".join(components) or "none are configured"
            problems.append((at, f"unknown component {name!r} (known: {known})"))
        seen.add(name)
    for i, name in enumerate(section.severities or ()):
        if name not in severities:
            problems.append(
                (
                    ("status_page", "severities", i),
                    f"unknown severity {name!r} (known: {', '.join(severities)})",
                )
            )
    return problems


def subscriber_problems(
    section: StatusPageConfig, *, channels: Mapping[str, Channel], has_url: bool
) -> list[tuple[Loc, str]]:
    """``subscribers.email_channel`` naming no configured ``smtp`` channel, or set while the
    page has no address to put in its links (``base_url`` or ``server.public_url``)."""
    name = section.subscribers.email_channel
    if name is None:
        return []
    at: Loc = ("status_page", "subscribers", "email_channel")
    channel = channels.get(name)
    if channel is None:
        smtp = ", ".join(n for n, c in channels.items() if c.smtp is not None) or "none"
        return [(at, f"unknown channel {name!r} (smtp channels: {smtp})")]
    if channel.smtp is None:
        return [(at, f"channel {name!r} is not an smtp channel; subscribers get emails")]
    if not has_url:
        return [
            (
                at,
                "email subscribers need links: set status_page.base_url or server.public_url",
            )
        ]
    return []
