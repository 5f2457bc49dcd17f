"""The write path every ingest shares: open, refresh or resolve alerts by fingerprint.

``apply_writes`` takes the alerts of one or many requests (``Writes``) and writes them in the
caller's transaction: one bulk read of the open alerts for every fingerprint (locked:
``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE`` on PostgreSQL), then writes grouped by the values
they set (``_Batch``). Many requests in one call is what group commit (``group_commit.py``)
uses: a hundred one-alert requests cost one SELECT, a few UPDATEs and one COMMIT.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import JSONEncoder, c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.models import AlertSource, AlertStatus
from opsbook.alerts.tables import alert, alert_event
from opsbook.store import driver
from opsbook.store.group_commit import begin_immediate
from opsbook.store.metadata import timestamp_binder
from opsbook.types import JSONValue


class Incoming(NamedTuple):
    """One alert as received, after labels, severity and times were worked out.

    A ``NamedTuple``, immutable as a frozen dataclass would be, at a third of its cost to make
    (one per alert received: a frozen dataclass sets each field through ``object.__setattr__``).
    """

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    severity: str
    started_at: datetime
    ends_at: datetime | None
    values: dict[str, JSONValue]
    dedup_key: str | None = None
    resolved_at: datetime | None = None
    """Set when this is a resolve: the episode ends at this time."""


@dataclass
class IngestReport:
    """What one request did. Pass one to an ``ingest_*`` function to learn it.

    The web layer wakes the alert engine only when ``needs_dispatch``: a plain re-send (what
    Prometheus does every evaluation) changes nothing dispatch acts on, and a dispatch pass
    reads every open alert, so waking it per request would cost more than the ingest itself.
    """

    opened: int = 0
    refreshed: int = 0
    resolved: int = 0
    acknowledged: int = 0
    relabelled: int = 0
    """Refreshed alerts whose labels or severity changed (their routing may have)."""
    fired: set[str] = field(default_factory=set)
    """The severities of the alerts opened, or given a new severity, by this request: the web
    layer wakes the incidents task when one of them pages, as the alert engine's ``on_page``
    does for rule alerts."""

    @property
    def needs_dispatch(self) -> bool:
        return bool(self.opened or self.resolved or self.acknowledged or self.relabelled)

    def add(self, other: IngestReport) -> None:
        for name in ("opened", "refreshed", "resolved", "acknowledged", "relabelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.fired |= other.fired


@dataclass(frozen=True, slots=True)
class Writes:
    """The alerts of one request, ready to write, and where they came from.

    ``via`` names the sender in event messages; ``now`` is when the request arrived.
    """

    items: Sequence[Incoming]
    source: AlertSource
    integration: str
    via: str
    now: datetime
    fingerprints: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprints", frozenset(i.fingerprint for i in self.items))


@dataclass
class Applied:
    """What ``apply_writes`` did for one ``Writes``: the ids of the alerts it touched, by
    fingerprint, in the order first named, and the counts for its ``IngestReport``."""

    touched: dict[str, int]
    report: IngestReport


def lock_open(
    conn: Connection, fingerprints: Sequence[str], columns: Sequence[Any]
) -> dict[str, Any]:
    """Rows of the open alerts among ``fingerprints``, locked until the transaction ends."""
    begin_immediate(conn)
    rows = conn.execute(_select_open(tuple(columns)), {"fingerprints": list(fingerprints)})
    return {row.open_key: row for row in rows}


@lru_cache(maxsize=8)
def _select_open(columns: tuple[Any, ...]) -> sa.Select[Any]:
    by_key = alert.c.open_key.in_(sa.bindparam("fingerprints", expanding=True))
    return sa.select(*columns).where(by_key).with_for_update()


def apply_writes(conn: Connection, writes: Sequence[Writes]) -> list[Applied]:
    """Open, refresh or resolve the alerts of each ``Writes``, in order, as if each ran alone
    one after the other; one ``Applied`` per ``Writes``.

    Within one ``Writes`` the last item for a fingerprint wins (as in Alertmanager). Writes
    that share no fingerprint go through ``_apply`` together; one that names a fingerprint an
    earlier one in the same round named starts a new round, so it sees that write.
    """
    out: list[Applied] = []
    round_: list[Writes] = []
    named: set[str] = set()
    for w in writes:
        if not named.isdisjoint(w.fingerprints):
            out.extend(_apply(conn, round_))
            round_, named = [], set()
        round_.append(w)
        named |= w.fingerprints
    out.extend(_apply(conn, round_))
    return out


# What _apply reads of an open alert: what it compares and what a resolve needs, no more
# (decoding whole rows into ``Alert`` was most of a batch's cost).
_COMPARED = (
    alert.c.id,
    alert.c.open_key,
    alert.c.status,
    alert.c.started_at,
    alert.c.labels,
    alert.c.annotations,
    alert.c.severity,
    alert.c["values"],
)
_JSON_COLUMNS = ("labels", "annotations", "values")
_OpenRow = namedtuple("_OpenRow", [c.name for c in _COMPARED])  # type: ignore[misc]
"""A row of ``_COMPARED`` as ``_lock_open_sqlite`` reads it (by name, and by position)."""


def _lock_open_sqlite(conn: Connection, fingerprints: Sequence[str]) -> dict[str, Any]:
    """``lock_open`` of the ``_COMPARED`` columns on SQLite, as the text SQLite keeps: JSON and
    timestamps are not decoded (the JSON is compared through a cache, a re-send's labels being
    the same text each time; the timestamp is parsed only for a resolve), and the statement is
    sent as written, not compiled by SQLAlchemy for each count of fingerprints."""
    begin_immediate(conn)
    # The driver's tuples, not SQLAlchemy Rows: making a Row for each of a batch's alerts cost
    # as much as SQLite's reading them.
    rows = driver.run(conn, _select_open_sqlite(len(fingerprints)), fingerprints)
    make = _OpenRow._make
    return {row[1]: make(row) for row in rows}


@lru_cache(maxsize=64)
def _select_open_sqlite(count: int) -> str:
    names = ", ".join(f'"{c.name}"' for c in _COMPARED)
    return f"SELECT {names} FROM alert WHERE open_key IN ({', '.join('?' * count)})"


def _apply(conn: Connection, writes: Sequence[Writes]) -> list[Applied]:
    """``apply_writes`` for writes that name disjoint fingerprints.

    Statements: one locked SELECT; one UPDATE per distinct set of new values (a Prometheus
    re-send of 100 alerts shares its ``endsAt``: one UPDATE); one multi-row INSERT with
    RETURNING per source and integration of new alerts; one INSERT ... SELECT per distinct
    event.
    """
    applied = [Applied({}, IngestReport()) for _ in writes]
    latest: dict[str, tuple[Incoming, int]] = {}
    for n, w in enumerate(writes):
        for item in w.items:
            latest[item.fingerprint] = (item, n)
    if not latest:
        return applied
    as_text = conn.dialect.name == "sqlite"
    current = (
        _lock_open_sqlite(conn, list(latest))
        if as_text
        else lock_open(conn, list(latest), _COMPARED)
    )
    new: dict[int, list[Incoming]] = {}
    updates: _Batch | _SqliteUpdates = _SqliteUpdates(conn) if as_text else _Batch(alert, conn)
    refreshed: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    events = _Batch(alert_event, conn)
    for fp, (item, n) in latest.items():
        w, counts = writes[n], applied[n].report
        row = current.get(fp)
        if row is None:
            if item.resolved_at is None:
                new.setdefault(n, []).append(item)
            continue
        applied[n].touched[fp] = row.id
        now = w.now
        if item.resolved_at is not None:
            at = max(min(item.resolved_at, now), _timestamp(row.started_at))
            counts.resolved += 1
            updates.add(
                row.id,
                status=AlertStatus.RESOLVED.value,
                open_key=None,
                resolved_at=at,
                ends_at=at,
                last_seen_at=now,
                updated_at=now,
            )
            message = f"resolved by {w.via}"
            events.add(row.id, **_event(now, "resolved", message, AlertStatus(row.status)))
            continue
        counts.refreshed += 1
        changed = _changed_columns(row, item, as_text=as_text)
        if not changed:
            updates.add(row.id, ends_at=item.ends_at, last_seen_at=now)
            continue
        times = {"ends_at": item.ends_at, "last_seen_at": now, "updated_at": now}
        refreshed.append((row.id, changed, times))
        if "severity" in changed:
            counts.fired.add(item.severity)
        if "labels" in changed or "severity" in changed:
            # A re-send that only brings new annotations or details (a summary carrying the
            # current value changes on every Prometheus evaluation) is not worth an event; one
            # that may route differently is. The new values are on the row; the event says
            # what changed, so the events of one re-send are alike and share an INSERT.
            counts.relabelled += 1
            message = f"received again from {w.via}: {_describe(row, changed)} changed"
            events.add(row.id, **_event(now, "received", message, None))
    # PostgreSQL: past a few alerts, new content goes in a statement of its own: a re-send's
    # times are the same for all its alerts (one UPDATE ... WHERE id IN), its content differs
    # per alert, and binding three timestamps per row through SQLAlchemy costs more than the
    # second statement. Not when the times differ from alert to alert anyway (a group commit of
    # one-alert requests, each with its own ``now`` and ``endsAt``): then one statement sets
    # both. SQLite binds pre-rendered text (``_SqliteUpdates``), so there each row is written
    # once, content and times in one statement.
    contents = _Batch(alert, conn)
    split = not as_text and len(refreshed) > _SPLIT_FROM and _shared_times(refreshed)
    for alert_id, changed, times in refreshed:
        if split:
            updates.add(alert_id, **times)
            contents.add(alert_id, **changed)
        else:
            updates.add(alert_id, **changed, **times)
    updates.update()
    contents.update()
    for n, items in new.items():
        w = writes[n]
        opened = _insert(conn, items, source=w.source, integration=w.integration, now=w.now)
        applied[n].report.opened += len(opened)
        applied[n].report.fired.update(i.severity for i in items)
        applied[n].touched |= opened
        message = f"received from {w.via}"
        for i in items:
            events.add(opened[i.fingerprint], **_event(w.now, "firing", message, None, i.values))
    events.insert_from_alerts()
    for w, done in zip(writes, applied, strict=True):
        order = dict.fromkeys(i.fingerprint for i in w.items)
        done.touched = {fp: done.touched[fp] for fp in order if fp in done.touched}
    return applied


def _shared_times(refreshed: Sequence[tuple[int, dict[str, Any], dict[str, Any]]]) -> bool:
    """Whether the refreshed alerts' times come in few enough distinct sets (at most one per
    ``_SPLIT_FROM`` alerts) for an ``UPDATE ... WHERE id IN`` per set to pay."""
    distinct = {(t["ends_at"], t["last_seen_at"]) for _, _, t in refreshed}
    return len(distinct) * _SPLIT_FROM <= len(refreshed)


def _changed_columns(row: Any, item: Incoming, *, as_text: bool) -> dict[str, Any]:
    """The columns whose value ``item`` changes, with the new values; JSON ones as the text to
    store when ``as_text`` (the row then holds JSON text too: ``_lock_open_sqlite``'s columns)."""
    if as_text:
        return _changed_text(row, item)
    changed: dict[str, Any] = {}
    for name, value in (
        ("annotations", item.annotations),
        ("labels", item.labels),
        ("values", item.values),
    ):
        if getattr(row, name) != value:
            changed[name] = value
    if row.severity != item.severity:
        changed["severity"] = item.severity
    return changed


def _changed_text(row: Any, item: Incoming) -> dict[str, Any]:
    # By position (``_COMPARED``: 4 labels, 5 annotations, 6 severity, 7 values): this runs for
    # every alert re-sent, and a Row's attribute lookup by name costs more than the compare.
    changed: dict[str, Any] = {}
    # Annotations are often new on every re-send (a summary with the current value): decoding
    # the old text would rarely pay. Prometheus sends them key-sorted, so equal is equal text.
    text = _json_text(item.annotations)
    if text != row[5]:
        changed["annotations"] = text
    for index, name, value in ((4, "labels", item.labels), (7, "values", item.values)):
        stored = row[index]
        if (_decoded(stored) if len(stored) <= _DECODED_TEXT_MAX else json.loads(stored)) != value:
            changed[name] = _json_text(value)
    if row[6] != item.severity:
        changed["severity"] = item.severity
    return changed


def _make_json_text() -> Callable[[Any], str]:
    """``json.dumps`` with its default arguments, the same text, without the per-call set-up
    (checking the arguments, making an encoder): a quarter of its cost for a few short
    strings. Without a check for cycles: these values were decoded from JSON and have none."""
    if c_make_encoder is None:  # pragma: no cover - CPython always has the C encoder
        return json.dumps
    encode = c_make_encoder(
        None, JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True
    )

    def json_text(value: Any) -> str:
        return "".join(encode(value, 0))

    return json_text


_json_text = _make_json_text()


# The cache keeps what it decoded alive for good, so it holds only label sets of ordinary size
# (a Prometheus one is a few hundred bytes). At 4096 entries of 60-label sets (~10 KB of small
# objects each) it could keep ~40 MB after a burst of refreshes, scattered over the heap so
# that no trim returns the pages around them (the same shape bench/memory_trace.py found in
# the fingerprint cache).
_DECODED_TEXT_MAX = 1024
"""JSON text longer than this is decoded each time, not cached."""


@lru_cache(maxsize=2048)
def _decoded(text: str) -> Any:
    # Callers only compare the result: it is shared, and must never be changed.
    return json.loads(text)


def _timestamp(value: datetime | str) -> datetime:
    """A ``started_at`` read as text from SQLite (SQLAlchemy's naive-UTC format) or as is."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def _describe(row: Any, changed: Mapping[str, Any]) -> str:
    words = {"annotations": "annotations", "labels": "labels", "values": "details"}
    parts = [
        f"severity {row.severity} -> {changed[name]}" if name == "severity" else words[name]
        for name in changed
    ]
    return ", ".join(parts)


class _SqliteUpdates:
    """``UPDATE alert`` on SQLite for many alerts, sent as written with values bound as the text
    SQLite stores (timestamps rendered once per distinct value, JSON columns given as JSON
    text): binding through SQLAlchemy's type processors cost more per row than SQLite's write.
    Alerts given the same values share one ``UPDATE ... WHERE id IN``; past ``_MAX_GROUPS``
    distinct value sets, one ``executemany`` per shape of row sets each row once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._groups: dict[tuple[tuple[str, ...], tuple[Any, ...]], list[int]] = {}
        self._rendered: dict[datetime, str] = {}
        self._render = _timestamp_text(conn.dialect)

    def add(self, alert_id: int, **values: Any) -> None:
        row = tuple(self._text(v) if isinstance(v, datetime) else v for v in values.values())
        key = (tuple(values), row)
        ids = self._groups.get(key)
        if ids is None:
            self._groups[key] = [alert_id]
        else:
            ids.append(alert_id)

    def _text(self, value: datetime) -> str:
        text = self._rendered.get(value)
        if text is None:
            text = self._rendered[value] = self._render(value)
        return text

    def update(self) -> None:
        conn = self._conn
        if len(self._groups) <= _MAX_GROUPS:
            for (names, row), ids in self._groups.items():
                driver.run(conn, _sqlite_update(names, len(ids)), (*row, *ids))
            return
        shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for (names, row), ids in self._groups.items():
            shapes.setdefault(names, []).extend((*row, i) for i in ids)
        for names, rows in shapes.items():
            driver.run(conn, _sqlite_update(names, 1), rows, many=True)


@lru_cache(maxsize=256)
def _sqlite_update(names: tuple[str, ...], count: int) -> str:
    """``UPDATE alert SET <names> WHERE id = ?`` (``id IN (?, ...)`` for ``count`` > 1)."""
    values = ", ".join(f'"{name}" = ?' for name in names)
    which = "id = ?" if count == 1 else f"id IN ({', '.join('?' * count)})"
    return f"UPDATE alert SET {values} WHERE {which}"


@lru_cache(maxsize=4)
def _timestamp_text(dialect: Any) -> Any:
    """What SQLAlchemy binds for a ``UTCDateTime`` on ``dialect`` (naive UTC text on SQLite)."""
    return timestamp_binder(dialect)


class _Batch:
    """Rows to write for many alerts, gathered by the values they write: alerts that get the
    same values share one statement (``UPDATE ... WHERE id IN``, ``INSERT ... SELECT``), which
    binds each value once instead of once per row. Past ``_MAX_GROUPS`` distinct value sets it
    falls back to one ``executemany`` per shape of row. Statements are built once per shape
    (``_statement``): building one per call costs more than running it for a single alert.
    """

    def __init__(self, table: sa.Table, conn: Connection) -> None:
        self._table = table
        self._conn = conn
        self._groups: dict[tuple[tuple[str, Any], ...], tuple[dict[str, Any], list[int]]] = {}
        self._rows: dict[tuple[str, ...], list[dict[str, Any]]] | None = None
        """Rows by shape, once there are too many groups to be worth grouping."""

    def add(self, alert_id: int, **values: Any) -> None:
        if self._rows is not None:
            self._rows.setdefault(tuple(values), []).append({"b_id": alert_id, **values})
            return
        key = tuple((name, _hashable(value)) for name, value in values.items())
        group = self._groups.get(key)
        if group is not None:
            group[1].append(alert_id)
            return
        self._groups[key] = (values, [alert_id])
        if len(self._groups) > _MAX_GROUPS:
            self._rows = {}
            for known, ids in self._groups.values():
                rows = self._rows.setdefault(tuple(known), [])
                rows.extend({"b_id": i, **known} for i in ids)
            self._groups.clear()

    def _run(self, verb: str, *, many: bool, rows: list[dict[str, Any]]) -> None:
        names = tuple(name for name in rows[0] if name != "b_id")
        statement = _statement(self._table.name, verb, names, many)
        self._conn.execute(statement, rows)

    def update(self) -> None:
        """``UPDATE alert`` for every alert added."""
        self._write("update")

    def insert_from_alerts(self) -> None:
        """``INSERT`` one row per alert added, ``alert_id`` being the alert's id."""
        self._write("insert")

    def _write(self, verb: str) -> None:
        for rows in (self._rows or {}).values():
            self._run(verb, many=False, rows=rows)
        for values, ids in self._groups.values():
            if len(ids) == 1:
                self._run(verb, many=False, rows=[{"b_id": ids[0], **values}])
            else:
                self._run(verb, many=True, rows=[{"b_id": ids, **values}])


@lru_cache(maxsize=256)
def _statement(table: str, verb: str, names: tuple[str, ...], many: bool) -> sa.Executable:
    """``UPDATE <table> SET <names> WHERE id = :b_id`` (``id IN :b_id`` when ``many``), or
    ``INSERT INTO alert_event (alert_id, <names>)`` from ``:b_id`` (a SELECT over the alert
    ids when ``many``). Values bind as ``:<name>``."""
    target = alert if table == "alert" else alert_event
    ids: sa.BindParameter[Any] = sa.bindparam("b_id", expanding=many)
    params = {name: sa.bindparam(name, type_=target.c[name].type) for name in names}
    if verb == "update":
        which = target.c.id.in_(ids) if many else target.c.id == ids
        return target.update().where(which).values(params)
    if not many:
        return target.insert().values(alert_id=ids, **params)
    select = sa.select(alert.c.id, *params.values()).where(alert.c.id.in_(ids))
    return target.insert().from_select(["alert_id", *names], select)


_MAX_GROUPS = 8
_SPLIT_FROM = 4


def _hashable(value: Any) -> Any:
    """A key equal for equal values. The type is part of it: ``1``, ``1.0`` and ``True`` are
    equal in Python but not the same JSON."""
    if isinstance(value, dict):
        try:
            return frozenset((k, v.__class__, v) for k, v in value.items())
        except TypeError:  # nested objects or arrays
            return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, list):
        return json.dumps(value, sort_keys=True, default=str)
    return (value.__class__, value)


def _insert(
    conn: Connection,
    items: Sequence[Incoming],
    *,
    source: AlertSource,
    integration: str,
    now: datetime,
) -> dict[str, int]:
    rows: list[dict[str, Any]] = [
        {
            "fingerprint": item.fingerprint,
            "open_key": item.fingerprint,
            "source": source.value,
            # The table keeps the integration name in ``rule`` for ingested alerts.
            "rule": integration,
            "integration": integration,
            "dedup_key": item.dedup_key,
            "check_id": None,
            "labels": item.labels,
            "annotations": item.annotations,
            "severity": item.severity,
            "status": AlertStatus.FIRING.value,
            "started_at": item.started_at,
            "fired_at": item.started_at,
            "ends_at": item.ends_at,
            "last_seen_at": now,
            "updated_at": now,
            "values": item.values,
            "silenced_by": [],
        }
        for item in items
    ]
    # RETURNING the open_key too, rather than asking for rows in parameter order: SQLAlchemy
    # can only batch an ordered RETURNING with a sentinel column, and goes row by row without.
    returned = conn.execute(alert.insert().returning(alert.c.id, alert.c.open_key), rows)
    return {open_key: int(alert_id) for alert_id, open_key in returned}


def _event(
    at: datetime,
    kind: str,
    message: str,
    from_status: AlertStatus | None,
    values: Mapping[str, JSONValue] | None = None,
) -> dict[str, Any]:
    to_status = {"firing": AlertStatus.FIRING, "resolved": AlertStatus.RESOLVED}.get(kind)
    return {
        "at": at,
        "kind": kind,
        "from_status": from_status.value if from_status else None,
        "to_status": to_status.value if to_status else None,
        "values": dict(values or {}),
        "message": message,
    }
