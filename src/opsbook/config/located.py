"""Errors raised by model validators that point at a field inside the model, not the model itself.

Pydantic reports a model validator's error at the model's own location. ``located_error`` carries
the field path in ``ctx["at"]`` so the loader can point at the offending line; in Python code the
message reads the same either way.
"""

from __future__ import annotations

from pydantic_core import PydanticCustomError

LOCATED = "located"
# Errors the loader finds itself on the raw document, so all of them are reported at once.
CHECK_KIND = "check_kind"
UNKNOWN_CHECK = "unknown_check"


def located_error(message: str, *at: str | int, kind: str = LOCATED) -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message, "at": at})
