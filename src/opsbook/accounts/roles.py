"""Roles and who is acting: ``viewer`` reads, ``responder`` also acts on incidents, alerts and
silences, ``admin`` also manages accounts and tokens. Each role includes the ones before it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """True when this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 1, Role.RESPONDER: 2, Role.ADMIN: 3}

ROLE_NAMES = ", ".join(role.value for role in Role)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a person (through a session, a personal token or a signed link)
    or an automation (a token with no person). ``via`` says how: ``session``, ``token``,
    ``link``."""

    role: Role
    via: str
    person: str | None = None
    token_name: str | None = None
    token_id: int | None = None

    @property
    def actor(self) -> str:
        """The name the audit log and timelines use: ``user:<person>``, else ``token:<name>``."""
        if self.person is not None:
            return f"user:{self.person}"
        return f"token:{self.token_name}"
