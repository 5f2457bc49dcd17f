"""A runbook's front matter (the YAML between its leading ``---`` lines) -> checked values.

Every mistake is a ``(line, column, message)`` at the key or value it is about; nothing raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import yaml
from cronsim import CronSim, CronSimError
from yaml.nodes import MappingNode, Node, SequenceNode

from opsbook.config.fields import check_slug, check_timezone
from opsbook.config.units import parse_duration
from opsbook.runbooks.models import Parameter, ParamType, RoutineAlert

Loc = tuple[str | int, ...]
Found = tuple[int, int, str]

KEYS = (
    "title",
    "description",
    "tags",
    "parameters",
    "alerts",
    "schedule",
    "timezone",
    "channels",
    "grace",
    "alert",
)
ALERT_KEYS = ("severity", "labels")
# The labels a routine's alert always carries (``routine_alerts``); ``labels:`` cannot set them.
ALERT_OWN_LABELS = ("alertname", "routine", "severity")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
PARAMETER_KEYS = ("type", "default", "allowed", "description", "secret", "required")
PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# cronsim needs a start to validate an expression; any fixed instant does (no wall clock).
_CRON_START = datetime(2000, 1, 1)


@dataclass
class FrontMatter:
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    alerts: tuple[str, ...] = ()
    # Where each alert name is written, for the registry's "no such alert rule" errors.
    alerts_at: tuple[tuple[int, int], ...] = ()
    schedule: str | None = None
    timezone: str | None = None
    # A routine's reminders: the channels told when a run opens and when it is overdue, and
    # how long after its due time an unfinished run is overdue (None: ``routines.GRACE``).
    channels: tuple[str, ...] = ()
    channels_at: tuple[tuple[int, int], ...] = ()
    grace: timedelta | None = None
    # A routine's overdue alert, and where its severity is written (the registry checks it
    # against the config's severities).
    alert: RoutineAlert | None = None
    alert_at: tuple[int, int] = (0, 0)
    problems: list[Found] = field(default_factory=list)


def split(text: str) -> tuple[str | None, int]:
    """The front matter's text (None when the file has none) and how many lines it takes,
    fences included; -1 when it is opened but never closed."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return None, 0
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "\n".join(lines[1:i]), i + 1
    return None, -1


def _positions(node: Node, loc: Loc, values: dict[Loc, Found], keys: dict[Loc, Found]) -> None:
    # Line 1 of the YAML is the file's line 2 (after the opening ---).
    values[loc] = (node.start_mark.line + 2, node.start_mark.column + 1, "")
    if isinstance(node, MappingNode):
        for key, value in node.value:
            sub = (*loc, str(key.value))
            keys[sub] = (key.start_mark.line + 2, key.start_mark.column + 1, "")
            _positions(value, sub, values, keys)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, (*loc, i), values, keys)


class _Reader:
    def __init__(self, values: dict[Loc, Found], keys: dict[Loc, Found]) -> None:
        self.values = values
        self.keys = keys
        self.problems: list[Found] = []

    def at(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        found = (self.keys if key else self.values).get(loc) or self.values.get(loc) or (1, 1, "")
        return found[0], found[1]

    def fail(self, loc: Loc, message: str, *, key: bool = False) -> None:
        line, column = self.at(loc, key=key)
        self.problems.append((line, column, message))

    def text(self, data: dict[str, object], key: str) -> str:
        value = data.get(key, "")
        if value is None or isinstance(value, str):
            return value or ""
        self.fail((key,), f"{key}: must be text, not {_kind(value)}")
        return ""

    def names(self, data: dict[str, object], key: str) -> tuple[str, ...]:
        value = data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail((key,), f"{key}: must be a list of names, not {_kind(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail((key, i), f"{key}[{i}]: must be a name, not {_kind(item)}")
                continue
            if key in ("alerts", "channels"):
                try:
                    check_slug(item)
                except ValueError as exc:
                    self.fail((key, i), f"{key}[{i}]: {exc}")
                    continue
            out.append(item)
        return tuple(out)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    return "empty" if value is None else "text"


def read(text: str) -> FrontMatter:
    """Check the front matter text; problems are in ``FrontMatter.problems``."""
    out = FrontMatter()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 2, mark.column + 1) if mark else (2, 1)
        out.problems.append((line, column, f"front matter: {exc.problem or 'is not YAML'}"))
        return out
    if data is None:
        return out
    if not isinstance(data, dict) or node is None:
        out.problems.append((2, 1, "front matter: must be a mapping (title: ..., parameters: ...)"))
        return out
    values: dict[Loc, Found] = {}
    keys: dict[Loc, Found] = {}
    _positions(node, (), values, keys)
    r = _Reader(values, keys)
    for key in data:
        if key not in KEYS:
            r.fail(
                (str(key),), f"unknown front matter key {key!r} (use {', '.join(KEYS)})", key=True
            )
    out.title = r.text(data, "title")
    out.description = r.text(data, "description")
    out.tags = r.names(data, "tags")
    out.alerts = r.names(data, "alerts")
    out.alerts_at = tuple(r.at(("alerts", i)) for i in range(len(out.alerts)))
    out.timezone = r.text(data, "timezone") or None
    if out.timezone is not None:
        try:
            check_timezone(out.timezone)
        except ValueError as exc:
            r.fail(("timezone",), f"timezone: {exc}")
    out.schedule = r.text(data, "schedule") or None
    if out.schedule is not None:
        try:
            CronSim(out.schedule, _CRON_START)
        except CronSimError:
            r.fail(
                ("schedule",),
                f"schedule: {out.schedule!r} is not a cron schedule (use 5 fields: minute hour "
                "day month weekday, e.g. '0 9 * * 1')",
            )
    out.parameters = _parameters(r, data.get("parameters"))
    _routine(r, data, out)
    out.problems = r.problems
    return out


def _routine(r: _Reader, data: dict[str, object], out: FrontMatter) -> None:
    """``channels`` and ``grace`` (a routine's reminders), and what a routine cannot have: it
    opens by itself, so nobody is there to give a required parameter."""
    out.channels = r.names(data, "channels")
    out.channels_at = tuple(r.at(("channels", i)) for i in range(len(out.channels)))
    grace = data.get("grace")
    if grace is not None:
        try:
            out.grace = parse_duration(grace)
        except ValueError as exc:
            r.fail(("grace",), f"grace: {exc}")
        else:
            if out.grace <= timedelta(0):
                r.fail(("grace",), "grace: must be longer than 0s")
                out.grace = None
    out.alert = _alert(r, data.get("alert"))
    out.alert_at = r.at(
        ("alert", "severity") if isinstance(data.get("alert"), dict) else ("alert",)
    )
    if out.schedule is None:
        for key in ("channels", "grace", "alert"):
            if data.get(key) is not None:
                r.fail((key,), f"{key}: only a routine has one (add schedule: too)", key=True)
        return
    for parameter in out.parameters:
        if parameter.required and parameter.default is None:
            r.fail(
                ("parameters", parameter.name),
                f"parameters.{parameter.name}: a routine opens by itself, so each parameter "
                "needs a default (or required: false)",
                key=True,
            )


def _alert(r: _Reader, raw: object) -> RoutineAlert | None:
    """``alert: SEV3`` or ``alert: {severity: SEV3, labels: {team: ops}}``."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"severity": raw}
    if not isinstance(raw, dict):
        r.fail(
            ("alert",),
            f"alert: must be a severity (alert: SEV3) or a mapping (alert: {{severity: SEV3}}), "
            f"not {_kind(raw)}",
        )
        return None
    ok = True
    for key in raw:
        if key not in ALERT_KEYS:
            r.fail(
                ("alert", str(key)),
                f"alert: unknown key {key!r} (use {', '.join(ALERT_KEYS)})",
                key=True,
            )
            ok = False
    severity = raw.get("severity")
    if not isinstance(severity, str) or not severity:
        given = "none" if severity is None else _kind(severity)
        where: Loc = ("alert", "severity") if "severity" in raw else ("alert",)
        r.fail(where, f"alert.severity: must be a severity name (e.g. SEV3), not {given}")
        ok = False
    labels = _alert_labels(r, raw.get("labels"))
    if not ok or labels is None:
        return None
    return RoutineAlert(severity=str(severity), labels=labels)


def _alert_labels(r: _Reader, raw: object) -> tuple[tuple[str, str], ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        r.fail(
            ("alert", "labels"),
            f"alert.labels: must be a mapping of name -> text, not {_kind(raw)}",
        )
        return None
    out = []
    ok = True
    for name, value in raw.items():
        loc: Loc = ("alert", "labels", str(name))
        if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
            r.fail(
                loc,
                f"alert.labels: {str(name)!r} is not a label name (use letters, digits and '_', "
                "not starting with a digit)",
                key=True,
            )
            ok = False
        elif name in ALERT_OWN_LABELS:
            r.fail(loc, f"alert.labels.{name}: is set by opsbook, leave it out", key=True)
            ok = False
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            r.fail(loc, f"alert.labels.{name}: must be text, not {_kind(value)}")
            ok = False
        else:
            out.append((name, str(value)))
    return tuple(out) if ok else None


def _parameters(r: _Reader, raw: object) -> tuple[Parameter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        r.fail(
            ("parameters",), f"parameters: must be a mapping of name -> settings, not {_kind(raw)}"
        )
        return ()
    out = []
    for name, spec in raw.items():
        loc: Loc = ("parameters", str(name))
        if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
            r.fail(
                loc,
                f"parameters: {str(name)!r} is not a parameter name (use letters, digits, '-' "
                "and '_', starting with a letter; it becomes an environment variable)",
                key=True,
            )
            continue
        parameter = _parameter(r, loc, name, spec if spec is not None else {})
        if parameter is not None:
            out.append(parameter)
    return tuple(out)


def _parameter(r: _Reader, loc: Loc, name: str, spec: object) -> Parameter | None:
    where = f"parameters.{name}"
    if not isinstance(spec, dict):
        r.fail(loc, f"{where}: must be a mapping (type, default, allowed, description, secret)")
        return None
    ok = True
    for key in spec:
        if key not in PARAMETER_KEYS:
            r.fail(
                (*loc, str(key)),
                f"{where}: unknown key {key!r} (use {', '.join(PARAMETER_KEYS)})",
                key=True,
            )
            ok = False
    type_text = spec.get("type", "string")
    try:
        kind = ParamType(type_text)
    except ValueError:
        types = ", ".join(t.value for t in ParamType)
        r.fail((*loc, "type"), f"{where}.type: {type_text!r} is not a parameter type (use {types})")
        return None
    default = spec.get("default")
    if default is not None:
        default, message = _typed(kind, default)
        if message:
            r.fail((*loc, "default"), f"{where}.default: {message}")
            ok = False
    allowed_raw = spec.get("allowed") or []
    allowed: list[str | int | float | bool] = []
    if not isinstance(allowed_raw, list):
        r.fail((*loc, "allowed"), f"{where}.allowed: must be a list of values")
        ok = False
        allowed_raw = []
    for i, item in enumerate(allowed_raw):
        value, message = _typed(kind, item)
        if message:
            r.fail((*loc, "allowed", i), f"{where}.allowed[{i}]: {message}")
            ok = False
        elif value is not None:
            allowed.append(value)
    if default is not None and allowed and default not in allowed and ok:
        r.fail((*loc, "default"), f"{where}.default: {default!r} is not one of allowed {allowed}")
        ok = False
    flags = {}
    for key in ("secret", "required"):
        flag = spec.get(key)
        if flag is not None and not isinstance(flag, bool):
            r.fail((*loc, key), f"{where}.{key}: must be true or false")
            ok = False
        flags[key] = flag
    description = spec.get("description") or ""
    if not isinstance(description, str):
        r.fail((*loc, "description"), f"{where}.description: must be text")
        ok = False
    if not ok:
        return None
    required = flags["required"] if flags["required"] is not None else default is None
    return Parameter(
        name=name,
        type=kind,
        default=default,
        required=bool(required),
        allowed=tuple(allowed),
        description=description if isinstance(description, str) else "",
        secret=bool(flags["secret"]),
    )


def _typed(kind: ParamType, value: object) -> tuple[str | int | float | bool | None, str]:
    """``value`` as ``kind``, or an error message; YAML already typed numbers and booleans."""
    if kind is ParamType.STRING:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value), ""
        return None, f"must be text, not {_kind(value)}"
    if kind is ParamType.BOOL:
        return (value, "") if isinstance(value, bool) else (None, "must be true or false")
    if kind is ParamType.INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (value, "") if ok else (None, f"{value!r} is not an integer")  # type: ignore[return-value]
    if kind is ParamType.FLOAT:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return (float(value), "") if ok else (None, f"{value!r} is not a number")  # type: ignore[arg-type]
    try:
        parse_duration(value)
    except ValueError as exc:
        return None, str(exc)
    return str(value), ""
