"""Check references between sections even when some items are invalid on their own.

Pydantic runs ``Config``'s cross-reference validator only once every field is valid, so an
unknown check in an alert would show up only after a bad condition elsewhere was fixed. The
loader therefore validates a second time without the invalid items (``cross_section_errors``):

1. Each field error belongs to an item (a check, an alert, a channel, a severity, an on-call
   person...) or, outside the mappings of items, to a top-level key (``item_of``).
2. Drop those items (a required value gets a stand-in) and validate again, telling ``Config``
   which paths were dropped (``known.BROKEN``): references to them are not reported, and rules
   that need their content are skipped for that item only.
3. A field error in that pass can only come from the dropping (a section left empty): drop
   that too and repeat, a few times at most.
4. Return the cross-reference errors (those at the root), to be reported with the others.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from opsbook.config.known import BROKEN, Loc
from opsbook.config.located import CHECK_KIND, LOCATED, UNKNOWN_CHECK
from opsbook.config.schema import Config

# Mappings of named items; one invalid item is dropped, not its whole section.
_ITEM_SECTIONS: tuple[Loc, ...] = (
    ("oncall", "people"),
    ("oncall", "schedules"),
    ("oncall", "escalation"),
    ("checks",),
    ("alerts",),
    ("components",),
    ("channels",),
    ("severities",),
    ("maintenance",),
    ("integrations",),
)
# Required top-level values cannot be dropped; a valid stand-in takes their place.
_STAND_INS: dict[Loc, object] = {("service",): "service"}
_MAX_PASSES = 3


def where(error: ErrorDetails) -> Loc:
    """The full path of ``error``: its location plus, for a located error, the field in it."""
    loc = tuple(error["loc"])
    if error["type"] in (LOCATED, CHECK_KIND, UNKNOWN_CHECK):
        loc = (*loc, *(error.get("ctx") or {}).get("at", ()))
    return loc


def item_of(loc: Loc) -> Loc:
    """The item ``loc`` is in: ``("checks", "web")`` for ``("checks", "web", "every")``, the
    section for an error on the section itself, else the top-level key (``("oncall",
    "rota")`` under ``oncall``, whose sections are mappings of items)."""
    for section in _ITEM_SECTIONS:
        if loc[: len(section)] == section:
            return loc[: len(section) + 1]
    return loc[:2] if loc[:1] == ("oncall",) else loc[:1]


def cross_section_errors(
    data: dict[str, object], errors: Sequence[ErrorDetails]
) -> list[ErrorDetails]:
    """The errors ``Config``'s cross-reference validator finds once the items that ``errors``
    make invalid are dropped from ``data`` (which is left unchanged)."""
    if not errors or any(not e["loc"] for e in errors):
        return []  # valid, or the cross-reference validator already ran
    broken: set[Loc] = set()
    pending = list(errors)
    for _ in range(_MAX_PASSES):
        broken |= {item_of(where(e)) for e in pending if e["loc"]}
        try:
            Config.model_validate(_without(data, broken), context={BROKEN: frozenset(broken)})
        except ValidationError as exc:
            found = exc.errors(include_url=False)
        else:
            return []
        root = [e for e in found if not e["loc"]]
        if root:
            return root
        pending = found
    return []


def _without(data: dict[str, object], paths: set[Loc]) -> dict[str, object]:
    pruned = copy.deepcopy(data)
    for path in sorted(paths, key=len, reverse=True):
        if path in _STAND_INS:
            pruned[str(path[0])] = _STAND_INS[path]
            continue
        node: object = pruned
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return pruned
