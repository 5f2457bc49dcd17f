"""Silences, Alertmanager's model: label matchers, a time range, an author and a comment.

Matchers use amtool's syntax (``name="value"``, ``name!=value``, ``name=~regex``, ``name!~regex``;
quotes optional) and Alertmanager's semantics: a missing label is the empty string and regexes
are anchored at both ends. Creating, updating and expiring a silence writes the audit trail in
the same transaction. Dispatch asks ``active_silences`` on every pass.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.models import Matcher, Silence
from opsbook.alerts.tables import silence
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.store.audit import record_audit
from opsbook.types import JSONValue

# amtool / pkg/labels/parse.go: a label name, an operator, the value (quoted or bare).
_MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", re.DOTALL)
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_ALERTNAME = re.compile(r"[^\s=!~{},\"]+")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
MAX_COMMENT_CHARS = 2000
MAX_CREATED_BY_CHARS = 200  # the column's length: PostgreSQL refuses a longer one with a 500
MATCHER_FORMS = 'name="value", name!="value", name=~"regex" or name!~"regex"'


def _unquote(text: str) -> str:
    """``"a\\"b"`` -> ``a"b``; raises ValueError for a broken quoted string."""
    if len(text) < 2 or not text.endswith('"'):
        raise ValueError("the value opens a quote it does not close")
    out: list[str] = []
    body = iter(text[1:-1])
    for char in body:
        if char == '"':
            raise ValueError('a quote inside a quoted value must be escaped as \\"')
        if char == "\\":
            escaped = next(body, "")
            if escaped not in _ESCAPES:
                raise ValueError('an unknown escape in the value (use \\", \\\\, \\n or \\t)')
            out.append(_ESCAPES[escaped])
        else:
            out.append(char)
    return "".join(out)


def check_matcher(matcher: Matcher, *, field: str) -> Matcher:
    """``matcher`` if its name is a label name and its regex compiles; else ``InputError``
    naming ``field`` and what it accepts, without the matcher (it may be a secret)."""
    if not _LABEL_NAME.fullmatch(matcher.name):
        raise InputError(
            f"{field}: the name is not a label name "
            "(use letters, digits and '_', not starting with a digit)",
            field=field,
        )
    if matcher.is_regex:
        try:
            re.compile(matcher.value)
        except re.error as exc:
            # re.error's own text can quote the pattern ("bad character in group name 'x'"):
            # only its position is passed on.
            where = f"it breaks at character {exc.pos + 1}; " if exc.pos is not None else ""
            raise InputError(
                f"{field}: the value is not a regular expression "
                f"({where}use Python's syntax, e.g. api-.*)",
                field=field,
            ) from None
    return matcher


def parse_matcher(text: str, *, field: str, first: bool = False) -> Matcher:
    """One amtool matcher. With ``first``, a bare word means ``alertname="word"`` (as amtool).

    Raises ``InputError`` naming ``field``; the message never quotes ``text``, which may be a
    secret pasted in the wrong place (a caller that typed it can show it).
    """
    match = _MATCHER.fullmatch(text)
    if match is None:
        if first and _BARE_ALERTNAME.fullmatch(text.strip()):
            return Matcher(name="alertname", value=text.strip())
        raise InputError(f"{field}: not a matcher (use {MATCHER_FORMS})", field=field)
    name, op, raw = match.groups()
    value = raw
    if raw.startswith('"'):
        try:
            value = _unquote(raw)
        except ValueError as exc:
            raise InputError(f"{field}: not a matcher: {exc}", field=field) from None
    matcher = Matcher(name=name, value=value, is_regex="~" in op, is_equal=not op.startswith("!"))
    return check_matcher(matcher, field=field)


def parse_matchers(texts: Sequence[str], *, field: str = "matchers") -> tuple[Matcher, ...]:
    """amtool-style matchers; an ``InputError`` names the bad one as ``<field>[<index>]``."""
    return tuple(
        parse_matcher(text, field=f"{field}[{i}]", first=i == 0) for i, text in enumerate(texts)
    )


def _matches_one(matcher: Matcher, labels: Mapping[str, str]) -> bool:
    value = labels.get(matcher.name, "")
    if matcher.is_regex:
        # Alertmanager anchors regexes at both ends: "api" does not match "api-2".
        hit = re.fullmatch(matcher.value, value) is not None
    else:
        hit = value == matcher.value
    return hit == matcher.is_equal


def matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches ``labels`` (an empty list matches nothing)."""
    return bool(matchers) and all(_matches_one(m, labels) for m in matchers)


def _matcher_json(matcher: Matcher) -> dict[str, JSONValue]:
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.is_regex,
        "isEqual": matcher.is_equal,
    }


def _row_to_silence(row: Any) -> Silence:
    return Silence(
        id=row.id,
        matchers=tuple(
            Matcher(
                name=m["name"],
                value=m["value"],
                is_regex=bool(m["isRegex"]),
                is_equal=bool(m.get("isEqual", True)),
            )
            for m in row.matchers
        ),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _validate(
    matchers: Sequence[Matcher],
    *,
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> None:
    if not matchers:
        raise InputError(
            'matchers: a silence needs at least one matcher (e.g. alertname="api-down")',
            field="matchers",
        )
    for i, matcher in enumerate(matchers):
        check_matcher(matcher, field=f"matchers[{i}]")
    # Alertmanager refuses a silence that would match every alert (silence.validateSilence).
    if all(_matches_one(m, {}) for m in matchers):
        raise InputError(
            "matchers: at least one matcher must not match the empty string, "
            "or the silence would mute every alert",
            field="matchers",
        )
    if ends_at <= now:
        raise InputError("ends_at: the silence would end in the past", field="ends_at")
    if ends_at <= starts_at:
        raise InputError("ends_at: the silence must end after it starts", field="ends_at")
    if not created_by.strip():
        raise InputError("created_by: say who creates the silence", field="created_by")
    if len(created_by.strip()) > MAX_CREATED_BY_CHARS:
        raise InputError(
            f"created_by: at most {MAX_CREATED_BY_CHARS} characters "
            f"(this one has {len(created_by.strip())})",
            field="created_by",
        )
    if not comment.strip():
        raise InputError("comment: say why the alerts are silenced", field="comment")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(
            f"comment: at most {MAX_COMMENT_CHARS} characters (this one has {len(comment)})",
            field="comment",
        )


def _audit(
    conn: Connection, found: Silence, *, action: str, actor: str, origin: str, now: datetime
) -> None:
    record_audit(
        conn,
        actor=actor,
        action=action,
        subject=f"silence:{found.id}",
        detail={
            "matchers": [str(m) for m in found.matchers],
            "starts_at": found.starts_at.isoformat(),
            "ends_at": found.ends_at.isoformat(),
            "comment": found.comment,
        },
        origin=origin,
        at=now,
    )


def create_silence(
    conn: Connection,
    *,
    matchers: Sequence[Matcher],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
    origin: str,
    silence_id: str | None = None,
    actor: str | None = None,
) -> Silence:
    """Create a silence, or update ``silence_id``, and audit it in ``conn``'s transaction.

    The audit names ``actor`` (who is logged in), else ``user:<created_by>``.

    A start in the past becomes ``now`` (as in Alertmanager). Raises ``InputError`` naming the
    field (``matchers[1]``, ``ends_at``, ``comment``...) and writes nothing when the input is
    wrong. Updating follows Alertmanager's API: a silence that has not started yet is changed
    in place (same id, audit ``silence.update``); an active one is expired and replaced by a
    new silence (new id); an expired one is left as it is and a new silence is created. An
    unknown ``silence_id`` raises ``NotFound``.
    """
    starts_at = max(starts_at, now)
    matchers = tuple(matchers)
    _validate(
        matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        now=now,
    )
    actor = actor or f"user:{created_by.strip()}"
    values = {
        "matchers": [_matcher_json(m) for m in matchers],
        "starts_at": starts_at,
        "ends_at": ends_at,
        "created_by": created_by.strip(),
        "comment": comment.strip(),
        "updated_at": now,
    }
    if silence_id is not None:
        old = get_silence(conn, silence_id)
        state = old.state(now)
        if state == "pending":
            conn.execute(silence.update().where(silence.c.id == old.id).values(**values))
            updated = get_silence(conn, old.id)
            _audit(conn, updated, action="silence.update", actor=actor, origin=origin, now=now)
            return updated
        if state == "active":
            expire_silence(conn, old.id, now=now, actor=actor, origin=origin)
    new_id = str(uuid.uuid4())
    conn.execute(silence.insert().values(id=new_id, created_at=now, **values))
    created = get_silence(conn, new_id)
    _audit(conn, created, action="silence.create", actor=actor, origin=origin, now=now)
    return created


def expire_silence(
    conn: Connection, silence_id: str, *, now: datetime, actor: str, origin: str
) -> Silence:
    """End a silence now (a pending one ends before it starts) and audit ``silence.expire``.

    Raises ``NotFound`` for an unknown id and ``Conflict`` when it has already expired.
    """
    found = get_silence(conn, silence_id)
    state = found.state(now)
    if state == "expired":
        raise Conflict(f"silence {silence_id} already expired at {found.ends_at.isoformat()}")
    changes: dict[str, datetime] = {"ends_at": now, "updated_at": now}
    if state == "pending":
        changes["starts_at"] = now
    conn.execute(silence.update().where(silence.c.id == silence_id).values(**changes))
    expired = get_silence(conn, silence_id)
    _audit(conn, expired, action="silence.expire", actor=actor, origin=origin, now=now)
    return expired


def get_silence(conn: Connection, silence_id: str) -> Silence:
    row = conn.execute(sa.select(silence).where(silence.c.id == silence_id)).first()
    if row is None:
        raise NotFound("no silence with this id", field="silence_id")
    return _row_to_silence(row)


def list_silences(
    conn: Connection, *, now: datetime, include_expired: bool = False
) -> list[Silence]:
    """Active silences (ending soonest first), then pending (starting soonest first), then,
    with ``include_expired``, expired ones (most recently ended first)."""
    query = sa.select(silence)
    if not include_expired:
        query = query.where(silence.c.ends_at > now)
    found = [_row_to_silence(row) for row in conn.execute(query)]

    def order(s: Silence) -> tuple[int, float]:
        state = s.state(now)
        if state == "active":
            return (0, s.ends_at.timestamp())
        if state == "pending":
            return (1, s.starts_at.timestamp())
        return (2, -s.ends_at.timestamp())

    return sorted(found, key=order)


def active_silences(conn: Connection, *, now: datetime) -> list[Silence]:
    rows = conn.execute(
        sa.select(silence)
        .where(silence.c.starts_at <= now, silence.c.ends_at > now)
        .order_by(silence.c.starts_at, silence.c.id)
    )
    return [_row_to_silence(row) for row in rows]
