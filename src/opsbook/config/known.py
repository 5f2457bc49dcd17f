"""Names a reference may point at, counting items that failed validation on their own.

When a check, channel, severity... is invalid, the loader validates the rest of the file without it
(``partial.py``) so that references elsewhere are still checked in the same run. A reference to
the dropped item is not "unknown": its own problem is already reported, and a second message
about it would only confuse. ``Config``'s cross-reference validator reads the dropped paths from
the validation context under ``BROKEN``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

Loc = tuple[str | int, ...]

BROKEN = "opsbook.config.broken"
"""Validation-context key: a frozenset of the paths the loader dropped as invalid."""


class Known(Collection[str]):
    """The defined names of one section: the valid ones, then the dropped ones.

    ``everything`` means the whole section was dropped, so any name may exist there.
    """

    __slots__ = ("_everything", "_names")

    def __init__(self, names: Iterable[str], *, everything: bool = False) -> None:
        self._names = tuple(dict.fromkeys(names))
        self._everything = everything

    def __contains__(self, name: object) -> bool:
        return self._everything or name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def broken_paths(context: object) -> frozenset[Loc]:
    """The paths dropped by the loader, from a validation context (none outside the loader)."""
    if isinstance(context, dict):
        found = context.get(BROKEN)
        if isinstance(found, frozenset):
            return found
    return frozenset()


def known(section: Loc, valid: Iterable[str], broken: frozenset[Loc]) -> Known:
    """The names defined under ``section`` (e.g. ``("oncall", "people")``)."""
    depth = len(section)
    dropped = [
        str(loc[depth]) for loc in broken if len(loc) == depth + 1 and loc[:depth] == section
    ]
    everything = any(section[:n] in broken for n in range(1, depth + 1))
    return Known([*valid, *dropped], everything=everything)


def is_broken(loc: Loc, broken: frozenset[Loc]) -> bool:
    """Whether ``loc`` or a path above it was dropped."""
    return any(loc[:n] in broken for n in range(1, len(loc) + 1))
