"""Pydantic error dicts -> one sentence each, in the words of the config file (STYLE.md R12).

A value is echoed only when the schema does not mark its field as a ``Secret``; a secret's
message names the expected type and never the input.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from opsbook.config.document import Loc
from opsbook.config.schema import Config
from opsbook.redaction import Secret, redact_url

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "less_than_equal": ("le", "at most"),
    "greater_than": ("gt", "more than"),
    "less_than": ("lt", "less than"),
}


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            # Every union in the schema is "X | None"; the non-None member is the one to follow.
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def schema_at(loc: Loc) -> Any:
    """The type the schema expects at ``loc`` (keys and indexes followed), or None if unknown."""
    annotation: Any = Config
    for part in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif origin is dict:
            annotation = get_args(annotation)[1]
        elif origin is list:
            annotation = get_args(annotation)[0]
        else:
            return None
    return _unwrap(annotation)


# Under ``channels``, only these keys hold text that is never a credential; every other value
# there (a webhook or Apprise URL, a channel written as a bare URL) is shown by its type only.
_CHANNEL_PLAIN_KEYS = frozenset(
    {
        "to",
        "from",
        "host",
        "port",
        "username",
        "tls",
        "starttls",
        "timeout",
        "template",
        "incident_template",
        "page_template",
    }
)


def is_secret(loc: Loc) -> bool:
    """Whether the value at ``loc`` may be a credential: a ``Secret`` in the schema, or any
    channel setting not known to be plain (channel URLs are secrets wherever they come from)."""
    if schema_at(loc) is Secret:
        return True
    return loc[:1] == ("channels",) and not _CHANNEL_PLAIN_KEYS.intersection(map(str, loc[2:]))


def _field_names(loc: Loc) -> list[str]:
    model = schema_at(loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        # The YAML key, not the Python name: ``for``, ``from``, ``continue``.
        return [field.alias or name for name, field in model.model_fields.items()]
    return []


def describe(value: object, *, secret: bool) -> str:
    """How a message shows a wrong value: its text, or only its type when it may be a secret."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret:
        return "a number" if isinstance(value, int | float) else "a value that is hidden here"
    if isinstance(value, str):
        text = redact_url(value) if "://" in value or "=" in value else value
        return repr(text if len(text) <= 40 else text[:40] + "…")
    return str(value)


def unknown_key(key: str, accepted: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, accepted, n=1)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r} (expected one of: {', '.join(accepted)})"


def sentence(error: ErrorDetails, *, path: Loc, missing: str | None) -> str:
    """The message for ``error``, whose resolved location in the document is ``path``."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    if kind == "missing":
        return f"missing required key {missing!r}"
    if kind == "extra_forbidden":
        return unknown_key(str(path[-1]), _field_names(path[:-1]))
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    shown = describe(given, secret=is_secret(path))
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {shown}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {shown}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}, got {shown}"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty"
    return error["msg"]
