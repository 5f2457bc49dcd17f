"""Parameter values for a run: the strings a request brings (CLI ``--param k=v``, API JSON)
checked and converted against the runbook's declared parameters. Pure; errors name the
parameter and never repeat the value (it may be a secret, and it is the caller's anyway)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from opsbook.config.units import format_duration, parse_duration
from opsbook.errors import InputError
from opsbook.runbooks.models import Parameter, ParamType

Value = str | int | float | bool | timedelta | None
"""A converted parameter value; ``None`` for an optional parameter with no value and no default."""

_INT = re.compile(r"[+-]?\d+")
_HINTS = {
    ParamType.INT: "an integer (e.g. 42)",
    ParamType.FLOAT: "a number (e.g. 0.5)",
    ParamType.BOOL: "true or false",
    ParamType.DURATION: "a duration (e.g. 30s, 5m, 1h)",
}


def check_values(
    given: Mapping[str, str], *, parameters: Sequence[Parameter], names: Iterable[str]
) -> dict[str, Value]:
    """The value of each parameter in ``names`` (the placeholders of the steps to run).

    A given value is converted to its parameter's type and checked against its allowed list;
    a missing one takes the default; a required one with neither is an error. A given name
    the runbook does not declare is an error (a typo would otherwise run with the default).
    Raises ``InputError`` with ``field="params.NAME"``.
    """
    declared = {p.name: p for p in parameters}
    for key in sorted(given):
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise InputError(
                f"params.{_name(key)}: no such parameter (this runbook declares: {known})",
                field=f"params.{_name(key)}",
            )
    values: dict[str, Value] = {}
    for name in dict.fromkeys(names):
        param = declared.get(name)
        if param is None:
            raise InputError(
                f"params.{name}: the step uses it but the runbook does not declare it",
                field=f"params.{name}",
            )
        if name in given:
            values[name] = convert(param, given[name])
        elif param.default is not None:
            default = param.default
            values[name] = convert(param, default) if isinstance(default, str) else default
        elif param.required:
            raise InputError(f"params.{name}: is required", field=f"params.{name}")
        else:
            values[name] = None
    return values


def convert(param: Parameter, raw: str) -> Value:
    """``raw`` as ``param``'s type, checked against its allowed values. Raises ``InputError``."""
    field = f"params.{param.name}"
    if not isinstance(raw, str):
        raise InputError(f"{field}: must be a string", field=field)
    if "\x00" in raw:
        raise InputError(f"{field}: contains a NUL character", field=field)
    text = raw.strip()
    value: Value
    try:
        if param.type is ParamType.INT:
            if not _INT.fullmatch(text):
                raise ValueError
            value = int(text)
        elif param.type is ParamType.FLOAT:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
        elif param.type is ParamType.BOOL:
            if text.lower() not in {"true", "false"}:
                raise ValueError
            value = text.lower() == "true"
        elif param.type is ParamType.DURATION:
            value = parse_duration(text)
        else:
            value = raw
    except ValueError:
        raise InputError(f"{field}: not {_HINTS[param.type]}", field=field) from None
    if param.allowed and not any(_same(value, a) for a in param.allowed):
        choices = ", ".join(render_value(a) for a in param.allowed)
        shown = "" if param.secret else f" ({choices})"
        raise InputError(f"{field}: not one of the allowed values{shown}", field=field)
    return value


def render_value(value: Value) -> str:
    """``value`` as text for an environment variable, a URL or a message: ``true``/``false``,
    durations as ``30s``, ``None`` as the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    return str(value)


def secret_values(parameters: Sequence[Parameter], values: Mapping[str, Value]) -> list[str]:
    """The rendered values of the parameters marked ``secret``, for masking."""
    secret = {p.name for p in parameters if p.secret}
    return [render_value(v) for k, v in values.items() if k in secret and v is not None]


def _same(value: Value, allowed: str | int | float | bool) -> bool:
    if isinstance(value, timedelta) and isinstance(allowed, str):
        try:
            return parse_duration(allowed) == value
        except ValueError:
            return False
    # bool is an int in Python: True must not match an allowed 1.
    if isinstance(value, bool) or isinstance(allowed, bool):
        return isinstance(value, bool) and isinstance(allowed, bool) and value == allowed
    if isinstance(allowed, str):
        return render_value(value) == allowed
    return value == allowed


def _name(key: str) -> str:
    """A request's key, shortened and made printable, to name it in an error."""
    shown = "".join(c if c.isprintable() else "?" for c in key[:40])
    return shown + ("..." if len(key) > 40 else "")
