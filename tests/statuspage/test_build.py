"""build_snapshot on a real store (SQLite and PostgreSQL): statuses derived from checks,
incidents, maintenance and overrides; public updates only; 90 days of availability."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from statuspage_helpers import NOW, WINDOW_END, WINDOW_START, Shop, shop_config

from opsbook.config import Config
from opsbook.errors import Conflict, InputError
from opsbook.incidents import IncidentStatus, service
from opsbook.statuspage.availability import DayHistory
from opsbook.statuspage.build import build_snapshot
from opsbook.statuspage.overrides import set_component_status
from opsbook.statuspage.snapshot import AVAILABILITY_DAYS, Snapshot
from opsbook.statuspage.updates import DECLARED_BODY
from opsbook.store.audit import list_audit


def statuses(snapshot: Snapshot) -> dict[str, str]:
    return {c.id: c.status for c in snapshot.components}


def test_with_no_data_everything_is_operational_and_no_day_counts_as_up(shop: Shop) -> None:
    snap = shop.snapshot()
    assert statuses(snap) == {"web": "operational", "api": "operational", "db": "operational"}
    assert (snap.status.indicator, snap.status.description) == ("none", "All Systems Operational")
    assert snap.page.title == "Shop status"
    assert snap.page.base_url == "https://status.shop.example"
    for component in snap.components:
        assert len(component.availability) == AVAILABILITY_DAYS
        assert component.availability[-1].day == date(2026, 12, 1)
        assert {d.availability for d in component.availability} == {None}


def test_internal_components_stay_off_the_page_and_groups_are_formed(shop: Shop) -> None:
    snap = shop.snapshot()
    assert [c.id for c in snap.components] == ["web", "api", "db"]
    assert [c.position for c in snap.components] == [1, 2, 3]
    assert [(g.id, g.name, g.components) for g in snap.groups] == [
        ("group-storefront", "Storefront", ("web",))
    ]
    assert snap.components[0].group_id == "group-storefront"
    assert snap.components[1].group_id is None


def test_check_states_set_component_statuses(shop: Shop) -> None:
    start = NOW - timedelta(minutes=5)
    shop.results("web-http", ["up", "up"], start=start)
    shop.results("api-http", ["up", "down"], start=start)
    shop.results("api-tcp", ["up", "up"], start=start)
    shop.results("pg", ["down"], start=start)
    shop.results("tools", ["down"], start=start)  # internal: never shown
    snap = shop.snapshot()
    assert statuses(snap) == {"web": "operational", "api": "partial_outage", "db": "major_outage"}
    api = snap.component("api")
    assert api is not None
    assert api.cause == "check api-http is down"
    assert api.updated_at == start + timedelta(seconds=30)
    assert (snap.status.indicator, snap.status.description) == ("critical", "Partial System Outage")


def test_an_incident_publishes_its_status_updates_but_never_its_notes(shop: Shop) -> None:
    incident_id = shop.declare(summary="Some payments fail with a 502.")
    shop.note(incident_id, "ben: it is the new load balancer, db password is hunter2")
    shop.clock.advance(timedelta(minutes=10))
    shop.update(
        incident_id, IncidentStatus.IDENTIFIED, "A bad deploy.", workaround="Pay by invoice"
    )
    snap = shop.snapshot()
    assert statuses(snap)["api"] == "partial_outage"  # SEV2's status_impact
    [incident] = snap.incidents
    assert (incident.id, incident.status, incident.impact) == (
        str(incident_id),
        "identified",
        "major",
    )
    assert incident.components == ("api",)
    assert incident.shortlink == f"https://status.shop.example/incidents/{incident_id}"
    assert [(u.status, u.body) for u in incident.updates] == [
        ("identified", "A bad deploy.\n\nWorkaround: Pay by invoice"),
        ("investigating", "Some payments fail with a 502."),
    ]
    first = incident.updates[-1].affected_components
    assert first is not None
    assert [(a.code, a.old_status, a.new_status) for a in first] == [
        ("api", "operational", "partial_outage")
    ]
    assert incident.updates[0].affected_components is None
    assert "hunter2" not in repr(snap)
    assert (snap.status.indicator, snap.status.description) == ("major", "Minor Service Outage")

    shop.clock.advance(timedelta(minutes=10))
    shop.update(incident_id, IncidentStatus.MONITORING, "Rolled back.")
    shop.clock.advance(timedelta(minutes=10))
    shop.update(incident_id, IncidentStatus.RESOLVED, "Payments work again.")
    snap = shop.snapshot()
    assert statuses(snap)["api"] == "operational"
    [incident] = snap.incidents
    assert incident.monitoring_at == NOW + timedelta(minutes=20)
    assert incident.resolved_at == NOW + timedelta(minutes=30)
    assert incident.updated_at == NOW + timedelta(minutes=30)
    assert incident.updates[0].status == "resolved"
    resolved = incident.updates[0].affected_components
    assert resolved is not None
    assert [(a.old_status, a.new_status) for a in resolved] == [("partial_outage", "operational")]
    # The day's bar names the incident.
    assert incident.id in snap.components[1].availability[-1].incidents


def test_an_incident_without_summary_uses_the_templates_wording(shop: Shop) -> None:
    shop.declare(component=None, severity="SEV1")
    snap = shop.snapshot()
    [incident] = snap.incidents
    assert [u.body for u in incident.updates] == [DECLARED_BODY]
    assert incident.components == ()
    assert statuses(snap) == {"web": "operational", "api": "operational", "db": "operational"}
    # No component is affected, yet an unresolved critical incident makes the headline.
    assert (snap.status.indicator, snap.status.description) == ("critical", "Major System Outage")


def test_incidents_of_internal_components_and_unlisted_severities_stay_private(
    engine: object,
) -> None:
    config = Config.model_validate(shop_config(severities=["SEV1", "SEV2"]))
    shop = Shop(engine, config)  # type: ignore[arg-type]
    shop.declare(component="internal", severity="SEV1")
    shop.declare(component="api", severity="SEV3")
    merged_away = shop.declare(component="api", severity="SEV2")
    kept = shop.declare(component="api", severity="SEV2")
    with shop.engine.begin() as conn:
        service.merge(conn, merged_away, into=kept, actor="user:ana", now=shop.clock.now())
    snap = shop.snapshot()
    assert [x.id for x in snap.incidents] == [str(kept)]


def test_a_responder_override_holds_while_the_incident_is_open(shop: Shop) -> None:
    shop.results("web-http", ["down"], start=NOW - timedelta(minutes=1))
    incident_id = shop.declare(component="web", severity="SEV3")
    shop.clock.advance(timedelta(minutes=1))
    with shop.engine.begin() as conn:
        set_component_status(
            conn,
            incident_id,
            component="web",
            status="degraded_performance",
            message="Only image uploads are slow.",
            config=shop.config,
            actor="user:ana",
            now=shop.clock.now(),
            origin="api 10.0.0.7",
        )
    snap = shop.snapshot()
    web = snap.component("web")
    assert web is not None
    assert (web.status, web.cause) == (
        "degraded_performance",
        f"set by user:ana on incident {incident_id}",
    )
    [incident] = snap.incidents
    assert incident.impact == "minor"
    top = incident.updates[0]
    assert top.body == "Only image uploads are slow."
    assert top.affected_components is not None
    assert [(a.old_status, a.new_status) for a in top.affected_components] == [
        ("major_outage", "degraded_performance")
    ]
    with shop.engine.begin() as conn:
        timeline = service.timeline(conn, incident_id)
        audit = [(a.action, a.actor, a.origin) for a in list_audit(conn)]
    assert timeline[-1].kind == "component_status"
    assert ("incident.component_status", "user:ana", "api 10.0.0.7") in audit

    # Clearing it gives the component back its derived status.
    with shop.engine.begin() as conn:
        set_component_status(
            conn,
            incident_id,
            component="web",
            status=None,
            config=shop.config,
            actor="user:ana",
            now=shop.clock.now(),
        )
        set_component_status(
            conn,
            incident_id,
            component="web",
            status="operational",
            config=shop.config,
            actor="user:ana",
            now=shop.clock.now(),
        )
    assert statuses(shop.snapshot())["web"] == "operational"
    shop.update(incident_id, IncidentStatus.RESOLVED, "Fixed.")
    # The override ended with the incident: the check's state shows again.
    assert statuses(shop.snapshot())["web"] == "major_outage"


@pytest.mark.parametrize(
    ("component", "status", "problem"),
    [
        ("nope", "major_outage", "component: no component by that name"),
        ("web", "broken", "status: not a component status"),
    ],
)
def test_an_override_names_the_bad_field_and_writes_nothing(
    shop: Shop, component: str, status: str, problem: str
) -> None:
    incident_id = shop.declare(component="web")
    with pytest.raises(InputError, match=problem), shop.engine.begin() as conn:
        set_component_status(
            conn,
            incident_id,
            component=component,
            status=status,
            config=shop.config,
            actor="user:ana",
            now=shop.clock.now(),
        )
    with shop.engine.begin() as conn:
        assert [e.kind for e in service.timeline(conn, incident_id)] == ["declared"]


def test_a_resolved_incident_takes_no_override(shop: Shop) -> None:
    incident_id = shop.declare(component="web")
    shop.update(incident_id, IncidentStatus.RESOLVED, "Fixed.")
    with pytest.raises(Conflict, match="resolved"), shop.engine.begin() as conn:
        set_component_status(
            conn,
            incident_id,
            component="web",
            status="major_outage",
            config=shop.config,
            actor="user:ana",
            now=shop.clock.now(),
        )


def test_a_maintenance_window_is_scheduled_then_in_progress_then_completed(shop: Shop) -> None:
    [maintenance] = shop.snapshot().maintenances
    assert (maintenance.status, maintenance.name, maintenance.components) == (
        "scheduled",
        "Database upgrade to PostgreSQL 17",
        ("db",),
    )
    assert maintenance.id == "db-upgrade-20261202T0200Z"
    assert [u.status for u in maintenance.updates] == ["scheduled"]

    shop.clock.advance(WINDOW_START - NOW + timedelta(minutes=5))
    # The database's check fails during the work: expected, so not an outage.
    shop.results("pg", ["down"], start=WINDOW_START)
    snap = shop.snapshot()
    [maintenance] = snap.maintenances
    assert maintenance.status == "in_progress"
    assert statuses(snap)["db"] == "under_maintenance"
    assert (snap.status.indicator, snap.status.description) == (
        "maintenance",
        "Service Under Maintenance",
    )
    # ...but an incident's outage shows through the window.
    shop.declare(component="db", severity="SEV1")
    assert statuses(shop.snapshot())["db"] == "major_outage"

    shop.clock.advance(WINDOW_END - WINDOW_START)
    [maintenance] = shop.snapshot().maintenances
    assert maintenance.status == "completed"
    assert [u.status for u in maintenance.updates] == ["completed", "in_progress", "scheduled"]


def test_daily_availability_counts_only_observed_time(shop: Shop) -> None:
    yesterday = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    # 3 of 4 results up on api-http, all up on api-tcp: the component is as good as its worst.
    shop.results("api-http", ["up", "up", "up", "down"], start=yesterday, every_s=60)
    shop.results("api-tcp", ["up", "up", "up", "up"], start=yesterday, every_s=60)
    shop.results("web-http", ["up"], start=NOW - timedelta(minutes=1))
    snap = shop.snapshot()
    api = snap.component("api")
    web = snap.component("web")
    assert api is not None and web is not None
    days = {d.day: d for d in api.availability}
    assert days[date(2026, 11, 30)].availability == pytest.approx(75.0)
    assert days[date(2026, 11, 30)].down_seconds == pytest.approx(60.0)
    assert days[date(2026, 12, 1)].availability is None  # no data today: not up
    assert web.availability[-1].availability == pytest.approx(100.0)
    assert web.availability[-2].availability is None


def test_days_follow_the_page_timezone(engine: object) -> None:
    config = Config.model_validate(shop_config(timezone="America/Los_Angeles"))
    shop = Shop(engine, config)  # type: ignore[arg-type]
    # 2026-12-01 06:00 UTC is still 2026-11-30 in Los Angeles (UTC-8).
    shop.results("web-http", ["down", "down"], start=datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    snap = shop.snapshot()
    web = snap.component("web")
    assert web is not None
    days = {d.day: d.availability for d in web.availability}
    assert web.availability[-1].day == date(2026, 12, 1)  # 04:00 in Los Angeles
    assert days[date(2026, 11, 30)] == pytest.approx(0.0)
    assert days[date(2026, 12, 1)] is None


def test_kept_history_gives_the_same_days_and_reads_new_results_of_today(engine: object) -> None:
    config = Config.model_validate(shop_config(timezone="Europe/Berlin"))
    shop = Shop(engine, config)  # type: ignore[arg-type]
    shop.results("web-http", ["up", "down"], start=NOW - timedelta(days=3), every_s=60)
    history = DayHistory()
    first = build_snapshot(shop.engine, config, shop.clock, history=history)
    assert first == shop.snapshot()
    shop.results("web-http", ["down"], start=NOW - timedelta(minutes=1))
    shop.clock.advance(timedelta(minutes=1))
    again = build_snapshot(shop.engine, config, shop.clock, history=history)
    assert again == shop.snapshot()
    web = again.component("web")
    assert web is not None
    assert web.availability[-1].availability == pytest.approx(0.0)
    assert web.availability[-4].availability == pytest.approx(50.0)


def test_kept_days_are_made_again_when_their_incidents_or_the_days_shown_change(
    engine: object,
) -> None:
    config = Config.model_validate(shop_config(timezone="Europe/Berlin"))
    shop = Shop(engine, config)  # type: ignore[arg-type]
    shop.results("web-http", ["up", "down"], start=NOW - timedelta(days=3), every_s=60)
    history = DayHistory()
    first = build_snapshot(shop.engine, config, shop.clock, history=history)
    # Settled days are not made again: the same entries, not equal ones.
    again = build_snapshot(shop.engine, config, shop.clock, history=history)
    assert again == first
    assert again.components[0].availability[0] is first.components[0].availability[0]
    # An incident of three days ago (declared then, resolved an hour later) is on a settled day.
    shop.clock.advance(-timedelta(days=3))
    incident_id = shop.declare(component="api")
    shop.clock.advance(timedelta(hours=1))
    shop.update(incident_id, IncidentStatus.RESOLVED, "Fixed.")
    shop.clock.advance(timedelta(days=3) - timedelta(hours=1))
    with_incident = build_snapshot(shop.engine, config, shop.clock, history=history)
    assert with_incident == shop.snapshot()
    api = with_incident.component("api")
    assert api is not None
    assert api.availability[-4].incidents == (str(incident_id),)
    # A day later every bar moves one to the left.
    shop.clock.advance(timedelta(days=1))
    next_day = build_snapshot(shop.engine, config, shop.clock, history=history)
    assert next_day == shop.snapshot()
    api = next_day.component("api")
    assert api is not None
    assert api.availability[-5].incidents == (str(incident_id),)
