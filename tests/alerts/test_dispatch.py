"""dispatch(): mutes, grouping and timing, on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alert_helpers import open_rule_alert
from opsbook.alerts import records
from opsbook.alerts.dispatch import dispatch, group_key
from opsbook.alerts.models import AlertNotice, AlertSource, AlertStatus, Silence
from opsbook.alerts.silences import create_silence, expire_silence, parse_matchers
from opsbook.alerts.tables import alert
from opsbook.config import Config
from opsbook.tasks import TaskFailures

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
KEY = 'hook:{alertname="api-down"}'


def make_config(**fields: Any) -> Config:
    base: dict[str, Any] = {
        "service": "shop",
        "checks": {
            "api": {"http": {"url": "http://127.0.0.1:1/healthz"}},
            "db": {"tcp": {"host": "127.0.0.1", "port": 1}},
        },
        "components": {"backend": {"name": "Backend", "checks": ["db"]}},
        "channels": {
            "hook": {"webhook": {"url": "http://127.0.0.1:1/hook"}},
            "pager": {"webhook": {"url": "http://127.0.0.1:1/pager"}},
        },
        "alerting": {"notify": ["hook"]},
        "alerts": {
            "api-down": {"when": "api down", "severity": "SEV1"},
            "db-down": {"when": "db down", "severity": "SEV1"},
        },
    }
    for name, value in fields.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            base[name] = {**base[name], **value}
        else:
            base[name] = value
    return Config.model_validate(base)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[AlertNotice]] = []

    def __call__(self, conn: Connection, notices: Sequence[AlertNotice]) -> None:
        self.calls.append(list(notices))


def fire(
    engine: Engine,
    rule: str = "api-down",
    *,
    at: datetime = T0,
    instance: str = "a",
    check: str = "api",
    flapping: bool = False,
    **columns: Any,
) -> int:
    with engine.begin() as conn:
        alert_id = open_rule_alert(
            conn, rule, check=check, now=at, labels={"instance": instance}, message="fired"
        )
        if flapping or columns:
            conn.execute(
                alert.update().where(alert.c.id == alert_id).values(flapping=flapping, **columns)
            )
    return alert_id


def resolve(engine: Engine, alert_id: int, at: datetime) -> None:
    with engine.begin() as conn:
        current = records.get_alert(conn, alert_id)
        records.set_status(conn, current, AlertStatus.RESOLVED, now=at, message="resolved")


def change(engine: Engine, alert_id: int, **columns: Any) -> None:
    with engine.begin() as conn:
        conn.execute(alert.update().where(alert.c.id == alert_id).values(**columns))


def silence(
    engine: Engine, *matchers: str, hours: int, comment: str, now: datetime = T0
) -> Silence:
    """ana's silence of ``matchers`` from T0 for ``hours``, created at ``now``."""
    with engine.begin() as conn:
        return create_silence(
            conn,
            matchers=parse_matchers(matchers),
            starts_at=T0,
            ends_at=T0 + timedelta(hours=hours),
            created_by="ana",
            comment=comment,
            now=now,
            origin="test",
        )


def run(engine: Engine, config: Config, at: datetime, emit: Recorder | None = None) -> list[Any]:
    with engine.begin() as conn:
        return dispatch(conn, config=config, now=at, emit=emit, external_url="http://ops.local")


def ids(notice: AlertNotice) -> list[int]:
    return [a.id for a in notice.alerts]


def events(engine: Engine, alert_id: int, kind: str | None = None) -> list[str]:
    with engine.begin() as conn:
        found = records.alert_events(conn, alert_id)
    return [e.message for e in found if kind is None or e.kind == kind]


def test_two_alerts_with_the_same_group_labels_go_out_as_one_notice(engine: Engine) -> None:
    config = make_config()
    first, second = fire(engine, instance="a"), fire(engine, instance="b")
    other = fire(engine, "db-down", check="db")
    emit = Recorder()
    notices = run(engine, config, T0, emit)
    assert emit.calls == [notices]
    by_key = {n.key: n for n in notices}
    assert set(by_key) == {f"{KEY}#1", 'hook:{alertname="db-down"}#1'}
    notice = by_key[f"{KEY}#1"]
    assert (notice.receiver, notice.group_key, notice.status) == ("hook", KEY, "firing")
    assert (notice.reason, notice.at, notice.external_url) == (
        "first notification",
        T0,
        "http://ops.local",
    )
    assert dict(notice.group_labels) == {"alertname": "api-down"}
    assert ids(notice) == [first, second]
    assert ids(by_key['hook:{alertname="db-down"}#1']) == [other]
    assert events(engine, first, "notified") == ["notified hook (first notification; firing)"]
    # Nothing new: the next pass sends nothing.
    assert run(engine, config, T0 + S, emit) == []
    assert len(emit.calls) == 1


def test_group_wait_holds_the_first_notice_to_collect_the_group(engine: Engine) -> None:
    config = make_config(alerting={"notify": ["hook"], "group_wait": "30s"})
    first = fire(engine)
    assert run(engine, config, T0) == []
    second = fire(engine, instance="b", at=T0 + 10 * S)
    assert run(engine, config, T0 + 29 * S) == []
    [notice] = run(engine, config, T0 + 30 * S)
    assert (notice.reason, ids(notice)) == ("first notification", [first, second])


def test_group_interval_batches_alerts_that_join_a_notified_group(engine: Engine) -> None:
    config = make_config()  # group_interval 10s
    first = fire(engine)
    [notice] = run(engine, config, T0)
    second = fire(engine, instance="b", at=T0 + 2 * S)
    assert run(engine, config, T0 + 2 * S) == []
    assert run(engine, config, T0 + 9 * S) == []
    [notice] = run(engine, config, T0 + 10 * S)
    assert (notice.key, notice.reason, ids(notice)) == (
        f"{KEY}#2",
        "new alerts added",
        [first, second],
    )


def test_a_firing_group_is_repeated_after_repeat_every(engine: Engine) -> None:
    config = make_config(
        alerts={"api-down": {"when": "api down", "severity": "SEV1", "repeat_every": "1h"}}
    )
    first = fire(engine)
    run(engine, config, T0)
    assert run(engine, config, T0 + 59 * 60 * S) == []
    [notice] = run(engine, config, T0 + 3600 * S)
    assert (notice.key, notice.reason, ids(notice)) == (
        f"{KEY}#2",
        "repeat interval elapsed",
        [first],
    )
    assert run(engine, config, T0 + 3601 * S) == []
    assert len(run(engine, config, T0 + 7200 * S)) == 1


def test_the_default_repeat_is_alerting_repeat_every(engine: Engine) -> None:
    config = make_config()  # 4h
    fire(engine)
    run(engine, config, T0)
    assert run(engine, config, T0 + timedelta(hours=3, minutes=59)) == []
    [notice] = run(engine, config, T0 + timedelta(hours=4))
    assert notice.reason == "repeat interval elapsed"


def test_resolved_alerts_are_sent_after_group_interval(engine: Engine) -> None:
    config = make_config()
    first, second = fire(engine), fire(engine, instance="b")
    run(engine, config, T0)
    resolve(engine, first, T0 + 3 * S)
    assert run(engine, config, T0 + 3 * S) == []
    [notice] = run(engine, config, T0 + 10 * S)
    assert (notice.reason, notice.status, ids(notice)) == (
        "some alerts resolved",
        "firing",
        [first, second],
    )
    assert [a.status for a in notice.alerts] == [AlertStatus.RESOLVED, AlertStatus.FIRING]
    resolve(engine, second, T0 + 12 * S)
    [notice] = run(engine, config, T0 + 20 * S)
    assert (notice.reason, notice.status, ids(notice)) == (
        "all alerts resolved",
        "resolved",
        [second],
    )
    assert events(engine, second, "notified")[-1] == (
        "notified hook (all alerts resolved; resolved)"
    )
    # An empty group sends nothing more, not even a repeat.
    assert run(engine, config, T0 + timedelta(hours=5)) == []


def test_send_resolved_false_drops_the_resolved_alert_silently(engine: Engine) -> None:
    config = make_config(
        alerts={"api-down": {"when": "api down", "severity": "SEV1", "send_resolved": False}}
    )
    first = fire(engine)
    run(engine, config, T0)
    resolve(engine, first, T0 + S)
    assert run(engine, config, T0 + 20 * S) == []
    # The group starts again: a first notification, with a key never used before.
    second = fire(engine, instance="b", at=T0 + 30 * S)
    [notice] = run(engine, config, T0 + 30 * S)
    assert (notice.key, notice.reason, ids(notice)) == (f"{KEY}#2", "first notification", [second])


def test_a_group_that_empties_waits_group_wait_again(engine: Engine) -> None:
    config = make_config(alerting={"notify": ["hook"], "group_wait": "30s"})
    first = fire(engine)
    assert run(engine, config, T0) == []
    assert len(run(engine, config, T0 + 30 * S)) == 1
    resolve(engine, first, T0 + 40 * S)
    [notice] = run(engine, config, T0 + 40 * S)
    assert notice.reason == "all alerts resolved"
    # Same instant as the resolved notice: the new group still waits its group_wait.
    second = fire(engine, instance="b", at=T0 + 40 * S)
    assert run(engine, config, T0 + 40 * S) == []
    assert run(engine, config, T0 + 69 * S) == []
    [notice] = run(engine, config, T0 + 70 * S)
    assert (notice.key, notice.reason, ids(notice)) == (f"{KEY}#3", "first notification", [second])


def test_a_silence_mutes_and_its_expiry_unmutes(engine: Engine) -> None:
    config = make_config()
    alert_id = fire(engine)
    quiet = silence(engine, 'alertname="api-down"', "instance=~a|b", hours=1, comment="deploying")
    assert run(engine, config, T0) == []
    with engine.begin() as conn:
        muted = records.get_alert(conn, alert_id)
    assert muted.silenced_by == (quiet.id,)
    assert events(engine, alert_id, "silenced") == [
        f"silenced by {quiet.id} (until 2026-11-22T13:00:00Z, ana: deploying)"
    ]
    assert run(engine, config, T0 + timedelta(minutes=30)) == []
    with engine.begin() as conn:
        expire_silence(conn, quiet.id, now=T0 + timedelta(minutes=40), actor="user:ana", origin="t")
    [notice] = run(engine, config, T0 + timedelta(minutes=40))
    assert (notice.reason, ids(notice)) == ("first notification", [alert_id])
    assert notice.alerts[0].silenced_by == ()
    assert events(engine, alert_id, "unsilenced") == [
        f"no longer silenced: silence {quiet.id} ended or was expired"
    ]


def test_a_silenced_alert_drops_out_and_is_new_again_when_the_silence_ends(
    engine: Engine,
) -> None:
    config = make_config()
    first, second = fire(engine), fire(engine, instance="b")
    run(engine, config, T0)
    silence(engine, "instance=b", hours=5, comment="known", now=T0 + S)
    # Muted after it was notified: no resolved notice for it, it just leaves the group.
    assert run(engine, config, T0 + 20 * S) == []
    [repeat] = run(engine, config, T0 + timedelta(hours=4))
    assert ids(repeat) == [first]
    # The silence ends while it still fires: it is new again and gets notified.
    [notice] = run(engine, config, T0 + timedelta(hours=5))
    assert (notice.reason, ids(notice)) == ("new alerts added", [first, second])


def test_an_alert_resolved_while_silenced_sends_no_resolved_notice(engine: Engine) -> None:
    config = make_config()
    alert_id = fire(engine)
    run(engine, config, T0)
    silence(engine, "api-down", hours=1, comment="noisy", now=T0 + S)
    run(engine, config, T0 + S)
    resolve(engine, alert_id, T0 + 2 * S)
    assert run(engine, config, T0 + 30 * S) == []
    assert run(engine, config, T0 + timedelta(hours=2)) == []


def test_maintenance_holds_alerts_of_its_components_and_releases_them(engine: Engine) -> None:
    config = make_config(
        maintenance={
            "db-upgrade": {
                "start": "2026-11-22T12:00:00Z",
                "end": "2026-11-22T13:00:00Z",
                "components": ["backend"],
            }
        }
    )
    held = fire(engine, "db-down", check="db")
    free = fire(engine)
    [notice] = run(engine, config, T0 + S)
    assert ids(notice) == [free]
    with engine.begin() as conn:
        assert records.get_alert(conn, held).maintenance == "db-upgrade"
    assert events(engine, held, "maintenance") == [
        "held by maintenance window 'db-upgrade' until 2026-11-22T13:00:00Z"
    ]
    assert run(engine, config, T0 + timedelta(minutes=59)) == []
    [notice] = run(engine, config, T0 + timedelta(hours=1))
    assert (notice.reason, ids(notice)) == ("first notification", [held])
    assert events(engine, held, "maintenance")[-1] == "maintenance window 'db-upgrade' ended"


def test_a_global_window_holds_everything(engine: Engine) -> None:
    config = make_config(
        maintenance={"freeze": {"schedule": "0 12 * * *", "duration": "30m", "timezone": "UTC"}}
    )
    fire(engine)
    fire(engine, "db-down", check="db")
    assert run(engine, config, T0 + S) == []
    assert len(run(engine, config, T0 + timedelta(minutes=30))) == 2


def test_dependency_suppressed_alerts_are_never_notified(engine: Engine) -> None:
    config = make_config()
    root = fire(engine, "db-down", check="db")
    dependent = fire(engine, suppressed_by=root, suppressed_reason="db is down")
    [notice] = run(engine, config, T0)
    assert ids(notice) == [root]
    [repeat] = run(engine, config, T0 + timedelta(hours=4))
    assert ids(repeat) == [root]
    assert events(engine, dependent, "notified") == []


def test_acknowledged_alerts_are_not_repeated_but_their_resolve_is_sent(engine: Engine) -> None:
    config = make_config()
    alert_id = fire(engine)
    run(engine, config, T0)
    change(engine, alert_id, acknowledged_at=T0 + S)
    assert run(engine, config, T0 + timedelta(hours=5)) == []
    resolve(engine, alert_id, T0 + timedelta(hours=6))
    [notice] = run(engine, config, T0 + timedelta(hours=6))
    assert (notice.reason, notice.status) == ("all alerts resolved", "resolved")


def test_an_alert_acknowledged_before_its_first_notice_is_never_sent(engine: Engine) -> None:
    config = make_config()
    fire(engine, acknowledged_at=T0)
    assert run(engine, config, T0) == []


def test_a_flapping_alert_is_notified_once_then_kept_out_of_repeats(engine: Engine) -> None:
    config = make_config()
    flapping = fire(engine, flapping=True)
    [notice] = run(engine, config, T0)
    assert (notice.reason, ids(notice)) == ("flapping", [flapping])
    assert run(engine, config, T0 + timedelta(hours=5)) == []
    steady = fire(engine, instance="b", at=T0 + timedelta(hours=5))
    [notice] = run(engine, config, T0 + timedelta(hours=5))
    assert (notice.reason, ids(notice)) == ("new alerts added", [flapping, steady])
    [repeat] = run(engine, config, T0 + timedelta(hours=9))
    assert (repeat.reason, ids(repeat)) == ("repeat interval elapsed", [steady])


def test_receivers_and_group_by_come_from_the_rule_then_the_defaults(engine: Engine) -> None:
    config = make_config(
        alerts={
            "api-down": {
                "when": "api down",
                "severity": "SEV1",
                "notify": ["hook", "pager"],
                "group_by": ["severity", "team"],
            }
        }
    )
    fire(engine)
    notices = run(engine, config, T0)
    assert sorted(n.key for n in notices) == [
        'hook:{severity="SEV1", team=""}#1',
        'pager:{severity="SEV1", team=""}#1',
    ]
    assert {n.receiver for n in notices} == {"hook", "pager"}


def test_ingested_alerts_use_alerting_notify(engine: Engine) -> None:
    config = make_config(alerting={"notify": ["pager"], "group_by": ["alertname", "service"]})
    labels = {"alertname": "HighLatency", "service": "api", "severity": "SEV2"}
    with engine.begin() as conn:
        records.open_alert(
            conn,
            fingerprint=records.fingerprint(labels),
            source=AlertSource.ALERTMANAGER,
            rule="prom",
            integration="prom",
            labels=labels,
            severity="SEV2",
            status=AlertStatus.FIRING,
            now=T0,
            message="received",
        )
    [notice] = run(engine, config, T0)
    assert notice.key == 'pager:{alertname="HighLatency", service="api"}#1'


def test_without_receivers_nothing_is_sent(engine: Engine) -> None:
    config = make_config(alerting={"notify": []})
    fire(engine)
    emit = Recorder()
    assert run(engine, config, T0, emit) == []
    assert emit.calls == []


def test_the_emit_shares_the_transaction(engine: Engine) -> None:
    config = make_config()
    alert_id = fire(engine)

    def failing(conn: Connection, notices: Sequence[AlertNotice]) -> None:
        raise RuntimeError("outbox is full")

    with engine.begin() as conn:
        assert dispatch(conn, config=config, now=T0, emit=failing) == []
    assert events(engine, alert_id, "notified") == []
    # Rolled back with the emit: the next pass sends the same notice under the same key.
    [notice] = run(engine, config, T0 + S)
    assert notice.key == f"{KEY}#1"


def test_long_group_keys_are_cut_with_a_hash() -> None:
    short = group_key("hook", {"alertname": "x", "team": 'a "b"'})
    assert short == 'hook:{alertname="x", team="a \\"b\\""}'
    long_a = group_key("hook", {"alertname": "x" * 300})
    long_b = group_key("hook", {"alertname": "x" * 299 + "y"})
    assert len(long_a) == len(long_b) == 200
    assert long_a != long_b


def test_it_reads_the_group_table_it_wrote(engine: Engine) -> None:
    config = make_config()
    fire(engine)
    run(engine, config, T0)
    with engine.begin() as conn:
        rows = conn.execute(sa.text("select group_key, sequence from alert_group")).all()
    assert [(r.group_key, r.sequence) for r in rows] == [(KEY, 1)]


class FailingFor(Recorder):
    """An emitter that cannot store the notices of one alert rule (as a renderer that raised)."""

    def __init__(self, rule: str) -> None:
        super().__init__()
        self.rule = rule

    def __call__(self, conn: Connection, notices: Sequence[AlertNotice]) -> None:
        if any(a.rule == self.rule for n in notices for a in n.alerts):
            raise UnicodeEncodeError("utf-8", "x\ud800", 1, 2, "surrogates not allowed")
        super().__call__(conn, notices)


def test_a_group_that_cannot_be_emitted_fails_alone_and_is_retried(engine: Engine) -> None:
    config = make_config()
    good, bad = fire(engine), fire(engine, "db-down", check="db")
    failures = TaskFailures()
    emit = FailingFor("db-down")
    with engine.begin() as conn:
        notices = dispatch(conn, config=config, now=T0, emit=emit, failures=failures)
    assert [ids(n) for n in notices] == [[good]]
    assert [[ids(n) for n in call] for call in emit.calls] == [[[good]]]
    assert events(engine, good, "notified") == ["notified hook (first notification; firing)"]
    assert events(engine, bad, "notified") == []
    [reason] = events(engine, bad, "failed")
    assert reason.startswith("alerts: UnicodeEncodeError: ")
    assert failures.items == {"alerts": 1}
    # Its group state did not advance: once it can be emitted, the first notice goes out.
    [notice] = run(engine, config, T0 + S, Recorder())
    assert (ids(notice), notice.reason) == ([bad], "first notification")
