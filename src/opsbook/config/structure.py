"""Rules that span several keys: one kind per check, and component references to known checks.

They run on plain mappings so the loader can apply them to the raw document and report them
alongside every other problem; the models apply the same functions to validated values.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping

CHECK_KINDS = (
    "http",
    "tcp",
    "dns",
    "tls",
    "postgres",
    "redis",
    "heartbeat",
    "metric",
    "command",
)

Loc = tuple[str | int, ...]


def kind_problem(present: Iterable[str]) -> str | None:
    """The error for a check that sets ``present`` kind keys, or None when it sets exactly one."""
    found = list(present)
    if len(found) == 1:
        return None
    accepted = ", ".join(CHECK_KINDS)
    if not found:
        return f"a check needs exactly one kind key ({accepted})"
    return f"a check needs exactly one kind key, got {' and '.join(found)} (accepted: {accepted})"


def unknown_check_message(ref: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(ref, list(known), n=1)
    if close:
        return f"unknown check {ref!r} (did you mean {close[0]!r}?)"
    if not known:
        return f"unknown check {ref!r} (no checks are defined)"
    return f"unknown check {ref!r} (known checks: {', '.join(sorted(known))})"


def raw_kind_problems(checks: object) -> list[tuple[Loc, str]]:
    if not isinstance(checks, Mapping):
        return []
    found: list[tuple[Loc, str]] = []
    for check_id, spec in checks.items():
        if isinstance(spec, Mapping):
            present = [k for k in spec if k in CHECK_KINDS and spec[k] is not None]
            message = kind_problem(present)
            if message:
                found.append((("checks", check_id), message))
    return found


def raw_reference_problems(components: object, checks: object) -> list[tuple[Loc, str]]:
    """Every ``components.X.checks[i]`` naming a check id that ``checks`` does not define."""
    if not isinstance(components, Mapping):
        return []
    known = list(checks) if isinstance(checks, Mapping) else []
    found: list[tuple[Loc, str]] = []
    for name, component in components.items():
        refs = component.get("checks") if isinstance(component, Mapping) else None
        if not isinstance(refs, list):
            continue
        for i, ref in enumerate(refs):
            if isinstance(ref, str) and ref not in known:
                found.append((("components", name, "checks", i), unknown_check_message(ref, known)))
    return found
