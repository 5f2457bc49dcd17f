"""The one error tree of opsbook. Everything we raise on purpose is an ``OpsbookError``.

    OpsbookError
    ├── ConfigError        a config file is wrong; carries every problem with file:line:col and path
    ├── InputError         an API request, CLI argument or payload is wrong; names the field
    ├── NotFound           a named thing does not exist
    ├── Conflict           the request clashes with the current state
    ├── Unauthenticated    no valid login, token or link was presented (401)
    ├── Forbidden          the one presented may not do this (403)
    ├── Throttled          too many attempts; retry after ``retry_after_s`` (429)
    ├── StoreError         the database cannot be reached or is not migrated
    ├── ProbeError         a probe failed in a way the user must read (later issues)
    └── DeliveryError      a notification could not be delivered; transient or permanent

The web layer maps each family to one HTTP status; the CLI maps them to exit codes. Nothing else
catches broad exceptions except supervisor loops (STYLE.md R13).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class OpsbookError(Exception):
    """Base of every error opsbook raises on purpose. ``str()`` is the user-facing message."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file. ``line``/``column`` are 1-based; 0 means unknown."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(OpsbookError):
    """A config file is invalid. ``problems`` lists every error found, in file order."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(OpsbookError):
    """A request, argument or payload is invalid. ``field`` names it (JSON path or argument)."""

    exit_code = 2

    def __init__(self, message: str, *, field: str = "", location: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.location = location


class NotFound(OpsbookError):
    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class Conflict(OpsbookError):
    pass


class Unauthenticated(OpsbookError):
    """No valid session, token or signed link came with the request."""

    exit_code = 4


class Forbidden(OpsbookError):
    """The caller is known but its role does not allow this."""

    exit_code = 4


class Throttled(OpsbookError):
    """Too many failed attempts; ``retry_after_s`` says when to try again."""

    exit_code = 4

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreError(OpsbookError):
    """The store is unreachable, or its schema is not at the version this code expects."""


class ProbeError(OpsbookError):
    pass


class DeliveryError(OpsbookError):
    """A delivery failed. ``permanent`` sends it to dead letters instead of retrying (R14)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
