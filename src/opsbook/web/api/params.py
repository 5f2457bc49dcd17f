"""Query and path parameters that the domain parses, with errors that name the parameter and
what it accepts but never the value sent: the API promises a rejected value is not echoed (it may
be a secret pasted in the wrong place), while the domain's own messages, written for the CLI and
the config file, quote it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opsbook.alerts import silences
from opsbook.alerts.models import Matcher
from opsbook.alerts.silences import MATCHER_FORMS
from opsbook.errors import InputError, NotFound


def parse_filter(values: Sequence[str], *, field: str) -> tuple[Matcher, ...]:
    """amtool's ``filter`` matchers (one per parameter, braces optional); a bad one is a 400
    naming ``<field>[<index>]``."""
    texts = [v.strip().removeprefix("{").removesuffix("}") for v in values if v.strip()]
    matchers = []
    for i, text in enumerate(texts):
        name = f"{field}[{i}]"
        try:
            matchers.append(silences.parse_matcher(text, field=name, first=i == 0))
        except InputError:
            raise InputError(
                f"{name}: not a matcher (use {MATCHER_FORMS}; a label name is letters, digits "
                "and '_', not starting with a digit; a regex must compile)",
                field=name,
                location="query",
            ) from None
    return tuple(matchers)


@contextmanager
def silence_in_path() -> Iterator[None]:
    """Around a lookup of the path's silence id: its 404 does not repeat the id."""
    try:
        yield
    except NotFound as exc:
        if exc.field != "silence_id":
            raise
        raise NotFound("no silence with this id", field="silence_id") from None
