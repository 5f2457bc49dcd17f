"""Who must say yes before a step runs (issue 13, Running): pure functions on typed values.

``read`` steps run on request; ``write`` steps need a responder's confirmation; ``danger``
steps (and ``write`` ones when ``write_needs_approval``, e.g. during a SEV1) need an approval by
a *different person* than the one who asked, bound to the step's digest and the digest of the
parameter values, and unexpired. Manual steps wait for a person to tick them off.

Same person: actors are ``user:<person>`` (a session, a personal token or a signed link all act
as the person) or ``token:<name>`` / ``system:<what>`` for automations. Two actors are the same
person when their person parts are equal ignoring case, so ``user:Ana`` cannot approve what
``user:ana`` asked for. An automation is no person: it can neither approve nor be approved by
itself.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from opsbook.runbooks.models import Risk, StepKind

PERSON_PREFIX = "user:"


class Gate(enum.StrEnum):
    NONE = "none"
    CONFIRM = "confirm"
    APPROVE = "approve"
    TICK = "tick"


def gate(kind: StepKind | str, risk: Risk | str, *, write_needs_approval: bool = False) -> Gate:
    """What a step of ``kind`` and ``risk`` waits for before it may run."""
    if kind == StepKind.MANUAL:
        return Gate.TICK
    if risk == Risk.DANGER or (risk == Risk.WRITE and write_needs_approval):
        return Gate.APPROVE
    if risk == Risk.WRITE:
        return Gate.CONFIRM
    return Gate.NONE


def person_of(actor: str) -> str | None:
    """The person an actor acts as (case-folded), or ``None`` for an automation."""
    if actor.startswith(PERSON_PREFIX):
        person = actor.removeprefix(PERSON_PREFIX).strip().casefold()
        return person or None
    return None


def self_approval_problem(*, requested_by: str, approver: str) -> str | None:
    """Why ``approver`` may not approve what ``requested_by`` asked for, or ``None``."""
    person = person_of(approver)
    if person is None:
        return f"{approver} is not a person; an approval must come from a person"
    if person == person_of(requested_by) or approver == requested_by:
        return (
            f"{approver} requested this approval; a different person must approve it "
            "(no self-approval)"
        )
    return None


def params_digest(params: Mapping[str, str | None]) -> str:
    """SHA-256 (hex) over the run's stored parameter values (secret ones already masked)."""
    blob = json.dumps(dict(sorted(params.items())), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """An approval as the policy sees it."""

    step_digest: str
    params_digest: str
    requested_by: str
    expires_at: datetime
    decided_by: str | None
    decision: str | None


def grant_problem(
    grant: Grant, *, step_digest: str, params_digest: str, now: datetime
) -> str | None:
    """Why ``grant`` does not allow running the step now, or ``None`` when it does."""
    if grant.decision != "approve" or grant.decided_by is None:
        return "not approved" if grant.decision is None else "denied"
    if now >= grant.expires_at:
        return f"expired at {grant.expires_at.isoformat()}"
    if grant.step_digest != step_digest:
        return "the step changed since it was approved"
    if grant.params_digest != params_digest:
        return "the parameters changed since it was approved"
    return self_approval_problem(requested_by=grant.requested_by, approver=grant.decided_by)
