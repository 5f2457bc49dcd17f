"""Every v2 document against real Statuspage responses (fixtures/README.md): the same keys on
every object, values of the JSON types Statuspage sends, its enum values, and its time format."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from statuspage_helpers import NOW, WINDOW_START, Shop, shop_config

from opsbook.config import Config
from opsbook.incidents import IncidentStatus
from opsbook.statuspage import render_json
from opsbook.statuspage.overrides import set_component_status

FIXTURES = Path(__file__).parent / "fixtures" / "discord"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)")
# Fields Statuspage documents as nullable (integrations.md §5), whatever one capture shows.
NULLABLE = {
    "monitoring_at",
    "resolved_at",
    "description",
    "group_id",
    "start_date",
    "affected_components",
    "custom_tweet",
    "tweet_id",
    "started_at",
}
ENUMS = {
    ("status", "indicator"): {"none", "minor", "major", "critical", "maintenance"},
    ("component", "status"): {
        "operational",
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "under_maintenance",
    },
    ("incident", "status"): {"investigating", "identified", "monitoring", "resolved", "postmortem"},
    ("incident", "impact"): {"none", "minor", "major", "critical"},
    ("maintenance", "status"): {"scheduled", "in_progress", "verifying", "completed"},
    ("maintenance", "impact"): {"maintenance"},
    ("affected", "old_status"): {
        "operational",
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "under_maintenance",
    },
}
ENUMS[("affected", "new_status")] = ENUMS[("affected", "old_status")]
ENUMS[("update", "status")] = ENUMS[("incident", "status")] | ENUMS[("maintenance", "status")]
GROUP_ONLY = {"components"}
"""A group component also lists its members (integrations.md §5)."""


def kind_of(parent: str, key: str) -> str:
    return {
        "page": "page",
        "status": "status",
        "components": "component",
        "incidents": "incident",
        "scheduled_maintenances": "maintenance",
        "incident_updates": "update",
        "affected_components": "affected",
    }[key]


def objects(doc: dict[str, Any], kind: str = "document") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object of a document with its kind, depth first."""
    yield kind, doc
    for key, value in doc.items():
        if isinstance(value, dict):
            yield from objects(value, kind_of(kind, key))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from objects(item, kind_of(kind, key))


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {int: "int", str: "str", list: "list", dict: "dict", float: "float"}[type(value)]


def real_documents() -> dict[str, dict[str, Any]]:
    return {name: json.loads((FIXTURES / name).read_text()) for name in render_json.NAMES}


def real_shapes() -> dict[str, dict[str, set[str]]]:
    """kind -> key -> JSON types seen in every captured document."""
    shapes: dict[str, dict[str, set[str]]] = {}
    for doc in real_documents().values():
        for kind, obj in objects(doc):
            fields = shapes.setdefault(kind, {})
            for key, value in obj.items():
                fields.setdefault(key, set()).add(type_name(value))
    return shapes


def test_the_captures_cover_every_endpoint_and_kind() -> None:
    assert sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*.json")) == sorted(
        render_json.NAMES
    )
    assert set(real_shapes()) == {
        "document",
        "page",
        "status",
        "component",
        "incident",
        "maintenance",
        "update",
        "affected",
    }


@pytest.fixture
def busy_shop(engine: Engine) -> Shop:
    """A page with something in every list: a group, an unresolved and a resolved incident
    with updates and an override, and maintenances scheduled, in progress and completed."""
    config = shop_config(timezone="America/Tijuana")
    config["maintenance"]["nightly"] = {
        "schedule": "0 3 * * *",
        "duration": "1h",
        "timezone": "UTC",
        "components": ["api"],
    }
    shop = Shop(engine, Config.model_validate(config))
    shop.results("api-http", ["up", "down"], start=NOW - timedelta(minutes=1))
    old = shop.declare(component="web", summary="Images do not load.")
    shop.update(old, IncidentStatus.MONITORING, "A fix is out.")
    shop.update(old, IncidentStatus.RESOLVED, "Images load again.")
    current = shop.declare(component="api", severity="SEV1", summary="Checkout fails.")
    with shop.engine.begin() as conn:
        set_component_status(
            conn,
            current,
            component="db",
            status="degraded_performance",
            config=shop.config,
            actor="user:ana",
            now=shop.clock.now(),
        )
    shop.clock.advance(timedelta(hours=15, minutes=30))  # 03:30 UTC: nightly is open
    return shop


def our_documents(shop: Shop) -> dict[str, dict[str, Any]]:
    rendered = render_json.render(shop.snapshot())
    assert list(rendered) == list(render_json.NAMES)
    return {name: json.loads(body) for name, body in rendered.items()}


def test_every_document_has_statuspages_fields_types_and_enums(busy_shop: Shop) -> None:
    real = real_shapes()
    seen: set[str] = set()
    for name, doc in our_documents(busy_shop).items():
        assert list(doc) == list(real_documents()[name]), name
        for kind, obj in objects(doc):
            seen.add(kind)
            if kind == "document":
                continue  # its keys and their order: checked above
            extra = GROUP_ONLY if obj.get("group") is True else set()
            assert set(obj) == set(real[kind]) | extra, (name, kind)
            for key, value in obj.items():
                if key in extra:
                    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
                    continue
                allowed = real[kind][key] | ({"null"} if key in NULLABLE else set())
                assert type_name(value) in allowed, (name, kind, key, value)
                if (kind, key) in ENUMS:
                    assert value in ENUMS[(kind, key)], (name, kind, key, value)
                if key.endswith("_at") or key in ("scheduled_for", "scheduled_until"):
                    assert value is None or TIME.fullmatch(value), (name, key, value)
    assert seen == set(real)


def test_the_real_captures_pass_the_same_checks() -> None:
    # The checks above are only as good as the captures: they must hold for them too.
    for name, doc in real_documents().items():
        for kind, obj in objects(doc):
            for key, value in obj.items():
                if (kind, key) in ENUMS and kind != "maintenance":
                    assert value in ENUMS[(kind, key)], (name, kind, key, value)
                if key.endswith("_at") or key in ("scheduled_for", "scheduled_until"):
                    assert value is None or TIME.fullmatch(value), (name, key, value)


def test_the_lists_hold_what_statuspage_puts_in_them(busy_shop: Shop) -> None:
    docs = our_documents(busy_shop)
    incidents = docs["incidents.json"]["incidents"]
    assert [x["status"] for x in incidents] == ["investigating", "resolved"]
    assert all(len(x["incident_updates"]) >= 1 for x in incidents)
    assert [x["status"] for x in docs["incidents/unresolved.json"]["incidents"]] == [
        "investigating"
    ]
    assert docs["summary.json"]["incidents"] == docs["incidents/unresolved.json"]["incidents"]
    all_maintenances = docs["scheduled-maintenances.json"]["scheduled_maintenances"]
    assert {m["status"] for m in all_maintenances} == {"scheduled", "in_progress", "completed"}
    assert {
        m["status"] for m in docs["scheduled-maintenances/upcoming.json"]["scheduled_maintenances"]
    } == {"scheduled"}
    active = docs["scheduled-maintenances/active.json"]["scheduled_maintenances"]
    assert [(m["id"], m["status"]) for m in active] == [
        ("nightly-20261202T0300Z", "in_progress"),
        ("db-upgrade-20261202T0200Z", "in_progress"),
    ]
    assert {m["status"] for m in docs["summary.json"]["scheduled_maintenances"]} == {
        "scheduled",
        "in_progress",
    }
    components = docs["components.json"]["components"]
    assert [(c["id"], c["group"], c["group_id"]) for c in components] == [
        ("group-storefront", True, None),
        ("web", False, "group-storefront"),
        ("api", False, None),
        ("db", False, None),
    ]
    assert components[0]["components"] == ["web"]
    # api: SEV1's major outage; db: the override beats its maintenance; web: operational.
    assert [(c["id"], c["status"]) for c in components if not c["group"]] == [
        ("web", "operational"),
        ("api", "major_outage"),
        ("db", "degraded_performance"),
    ]
    assert docs["summary.json"]["status"] == {
        "indicator": "critical",
        "description": "Partial System Outage",
    }


def test_times_are_in_the_page_timezone_with_milliseconds(busy_shop: Shop) -> None:
    page = our_documents(busy_shop)["status.json"]["page"]
    assert page["time_zone"] == "America/Tijuana"
    # NOW + 15h30 = 2026-12-02T03:30Z = 19:30 the day before in Tijuana (UTC-8).
    assert page["updated_at"].endswith("-08:00")
    component_times = [
        c["updated_at"] for c in our_documents(busy_shop)["components.json"]["components"]
    ]
    assert all(t.endswith("-08:00") for t in component_times)


def test_a_utc_page_writes_z_even_with_zero_milliseconds(engine: Engine) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    shop.declare()
    [incident] = our_documents(shop)["incidents.json"]["incidents"]
    assert incident["created_at"] == "2026-12-01T12:00:00.000Z"
    assert incident["incident_updates"][0]["display_at"] == "2026-12-01T12:00:00.000Z"
    assert incident["shortlink"] == f"https://status.shop.example/incidents/{incident['id']}"


def test_incidents_json_lists_the_fifty_most_recent(engine: Engine) -> None:
    shop = Shop(engine, Config.model_validate(shop_config()))
    ids = []
    for _ in range(52):
        ids.append(shop.declare())
        shop.clock.advance(timedelta(minutes=1))
    listed = our_documents(shop)["incidents.json"]["incidents"]
    assert [x["id"] for x in listed] == [str(i) for i in reversed(ids)][:50]


def test_the_window_start_constant_is_in_the_future() -> None:
    assert WINDOW_START > NOW and datetime(2026, 12, 2, tzinfo=UTC) < WINDOW_START
