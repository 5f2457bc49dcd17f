"""Annotation templates of alert rules (``summary: "{{ check }} p95 is {{ value }} ms"``).

Jinja2 in its sandbox: a template in a config file cannot reach Python internals. Prometheus'
spellings ``{{ $value }}`` and ``{{ $labels.instance }}`` are accepted, so rules copied from a
Prometheus rule file keep working: ``$value`` reads ``value`` and ``$labels`` reads ``labels``.

This module is the one place that touches Jinja2 for annotations: config validates templates
with ``check_template`` at load (with the file and line), alerts renders them with ``render``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

# Jinja2 is imported where a template is parsed or rendered: the CLI reads the names below
# (SHIPPED_INCIDENT_MESSAGES) and should not pay 50 ms for an engine it never runs (issue 15).
if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

ANNOTATION_VARIABLES = frozenset(
    {"value", "values", "threshold", "check", "rule", "labels", "severity"}
)
"""What an annotation template may use (see ``docs/alert-rules.md``)."""

MESSAGE_VARIABLES = frozenset(
    {"status", "severity", "names", "alerts", "channel", "reason", "group", "external_url", "at"}
)
"""What a channel's message template may use (see ``docs/notifications.md``)."""

SHIPPED_MESSAGES = ("chat", "chat-update", "email", "status-update")
"""The message templates opsbook ships (``opsbook/notify/templates/<name>.{subject,body}.j2``),
which a channel may name as its ``template``."""

INCIDENT_VARIABLES = frozenset(
    {
        "kind",
        "incident",
        "event",
        "update",
        "person",
        "level",
        "alerts",
        "channel",
        "external_url",
        "at",
        "ack_link",
        "diagnosis",
    }
)
"""What a channel's incident and page templates may use (see ``docs/notifications.md``)."""

SHIPPED_INCIDENT_MESSAGES = (
    "page",
    "incident-chat",
    "incident-email",
    "status-update-minor",
    "status-update-major",
    "resolution",
    "affected-users",
)
"""The incident message templates opsbook ships: ``page`` (what a paged person gets), the chat
and email incident updates, and the seeds' status page updates (minor, major), resolution
announcement and email to affected users."""

_BLOCK = re.compile(r"({{.*?}}|{%.*?%})", re.DOTALL)
_PROMETHEUS_VARIABLE = re.compile(r"\$(value|labels)\b")


def prometheus_compatible(text: str) -> str:
    """``text`` with ``$value``/``$labels`` inside ``{{ }}``/``{% %}`` read as Jinja names."""
    return _BLOCK.sub(lambda m: _PROMETHEUS_VARIABLE.sub(r"\1", m.group(0)), text)


@cache
def _environment() -> SandboxedEnvironment:
    from jinja2.sandbox import SandboxedEnvironment

    # Annotations are plain text (notifications, the API), never HTML: no autoescape. A label
    # one series lacks renders empty, as Prometheus renders it, instead of failing the alert.
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


def check_template(text: str, *, variables: frozenset[str] = ANNOTATION_VARIABLES) -> str | None:
    """None when ``text`` is a valid template using only ``variables`` (by default an
    annotation's), else what is wrong, in a sentence."""
    from jinja2 import TemplateSyntaxError, meta

    source = prometheus_compatible(text)
    try:
        tree = _environment().parse(source)
        # Compiling finds what parsing does not: an unknown filter or test.
        names = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as exc:
        return f"template error on line {exc.lineno} of the template: {exc.message or exc}"
    unknown = sorted(names - variables)
    if unknown:
        known = ", ".join(sorted(variables))
        return f"unknown template variable {', '.join(unknown)} (use {known})"
    return None


def render(text: str, variables: Mapping[str, object]) -> str:
    """``text`` rendered with ``variables``.

    Raises ``ValueError`` saying what failed, for a syntax error or a failure while rendering
    (``{{ value / 0 }}``, a sandbox refusal); the caller decides what a broken template means.
    """
    from jinja2 import TemplateError

    try:
        return _environment().from_string(prometheus_compatible(text)).render(**variables)
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise ValueError(f"template {text!r} failed: {type(exc).__name__}: {exc}") from exc
