"""``alerting.routes`` through dispatch(), on a real store (SQLite and PostgreSQL): severity,
label equality, regexes, first match wins, ``continue``, the fallback and the rule's override."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from opsbook.alerts import records
from opsbook.alerts.dispatch import dispatch, route
from opsbook.alerts.models import AlertSource, AlertStatus
from opsbook.alerts.routing import Receiver, matching_routes, route_matches
from opsbook.config import Config
from opsbook.config.alerts import Route

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def make_config(
    routes: list[dict[str, Any]],
    *,
    notify: list[str] | None = None,
    rules: Mapping[str, dict[str, Any]] | None = None,
) -> Config:
    return Config.model_validate(
        {
            "service": "shop",
            "checks": {
                "api": {"http": {"url": "http://127.0.0.1:1/healthz"}},
                "db": {"tcp": {"host": "127.0.0.1", "port": 1}},
            },
            "channels": {
                name: {"webhook": {"url": f"http://127.0.0.1:1/{name}"}}
                for name in ("hook", "pager", "chat")
            },
            "alerting": {"notify": ["hook"] if notify is None else notify, "routes": routes},
            "alerts": {
                "api-down": {"when": "api down", "severity": "SEV1"},
                "db-down": {"when": "db down", "severity": "SEV3"},
                **(rules or {}),
            },
        }
    )


@dataclass(frozen=True)
class Fired:
    """One alert to fire: a rule alert (``rule``), or an ingested one (``rule=None``)."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    rule: str | None = None


def fire_all(engine: Engine, alerts: list[Fired]) -> dict[int, str]:
    ids: dict[int, str] = {}
    with engine.begin() as conn:
        for item in alerts:
            if item.rule is not None:
                check = "api" if item.rule == "api-down" else "db"
                alert_id = open_rule_alert(conn, item.rule, check=check, now=T0, labels=item.labels)
            else:
                labels = {"alertname": item.name, **item.labels}
                alert_id = records.open_alert(
                    conn,
                    fingerprint=records.fingerprint(labels),
                    source=AlertSource.ALERTMANAGER,
                    integration="am",
                    labels=labels,
                    severity=labels.get("severity", "SEV4"),
                    status=AlertStatus.FIRING,
                    now=T0,
                    message="received",
                )
            ids[alert_id] = item.name
    return ids


def notified(engine: Engine, config: Config, alerts: list[Fired]) -> dict[str, list[str]]:
    """Group key -> the names of the alerts in its notice, after one dispatch pass."""
    names = fire_all(engine, alerts)
    with engine.begin() as conn:
        notices = dispatch(conn, config=config, now=T0, emit=None)
    return {n.group_key: [names[a.id] for a in n.alerts] for n in notices}


SEV1 = {"severity": "SEV1"}
SEV3 = {"severity": "SEV3"}

CASES = [
    pytest.param(
        [{"severity": ["SEV1", "SEV2"], "notify": ["pager"]}],
        {},
        [Fired("p", SEV1, "api-down"), Fired("q", SEV3, "db-down")],
        {'pager:{alertname="api-down"}': ["p"], 'hook:{alertname="db-down"}': ["q"]},
        id="severity list; the rest falls back to alerting.notify",
    ),
    pytest.param(
        [{"severity": "SEV3", "notify": ["chat"]}],
        {},
        [Fired("p", SEV1, "api-down"), Fired("q", SEV3, "db-down")],
        {'hook:{alertname="api-down"}': ["p"], 'chat:{alertname="db-down"}': ["q"]},
        id="severity as one name",
    ),
    pytest.param(
        [{"match": {"team": "payments"}, "notify": ["pager"]}],
        {},
        [
            Fired("pay", {"team": "payments", "instance": "a"}, "api-down"),
            Fired("web", {"team": "web", "instance": "b"}, "api-down"),
        ],
        {'pager:{alertname="api-down"}': ["pay"], 'hook:{alertname="api-down"}': ["web"]},
        id="label equality",
    ),
    pytest.param(
        [{"match": {"instance": "~web-[0-9]+"}, "notify": ["pager"]}],
        {},
        [
            Fired("w12", {"instance": "web-12"}, "api-down"),
            Fired("wx", {"instance": "web-x"}, "api-down"),
            Fired("xw1", {"instance": "xweb-1"}, "api-down"),
        ],
        {'pager:{alertname="api-down"}': ["w12"], 'hook:{alertname="api-down"}': ["wx", "xw1"]},
        id="regex, anchored at both ends",
    ),
    pytest.param(
        [{"match": {"team": "~"}, "notify": ["chat"]}],
        {},
        [Fired("none", {}, "api-down"), Fired("web", {"team": "web"}, "db-down")],
        {'chat:{alertname="api-down"}': ["none"], 'hook:{alertname="db-down"}': ["web"]},
        id="a missing label is the empty string",
    ),
    pytest.param(
        [
            {"match": {"team": "payments"}, "severity": ["SEV1"], "notify": ["pager"]},
            {"match": {"team": "payments"}, "notify": ["chat"]},
        ],
        {},
        [
            Fired("sev1", {"team": "payments", "instance": "a"}, "api-down"),
            Fired("sev3", {"team": "payments", **SEV3}, "db-down"),
        ],
        {'pager:{alertname="api-down"}': ["sev1"], 'chat:{alertname="db-down"}': ["sev3"]},
        id="every condition must hold; the first matching route wins",
    ),
    pytest.param(
        [
            {"severity": ["SEV1"], "notify": ["pager"], "continue": True},
            {"match": {"team": "payments"}, "notify": ["chat", "pager"]},
            {"match": {"team": "payments"}, "notify": ["hook"]},
        ],
        {},
        [Fired("p", {"team": "payments"}, "api-down")],
        {'pager:{alertname="api-down"}': ["p"], 'chat:{alertname="api-down"}': ["p"]},
        id="continue: later routes too, a channel once, the walk stops at a route without it",
    ),
    pytest.param(
        [{"severity": ["SEV2"], "notify": ["pager"]}],
        {},
        [Fired("p", SEV1, "api-down")],
        {'hook:{alertname="api-down"}': ["p"]},
        id="no route matches: alerting.notify",
    ),
    pytest.param(
        [{"severity": ["SEV1"], "notify": []}],
        {},
        [Fired("p", SEV1, "api-down"), Fired("q", SEV3, "db-down")],
        {'hook:{alertname="db-down"}': ["q"]},
        id="a route with notify [] drops what it takes",
    ),
    pytest.param(
        [{"severity": ["SEV1"], "notify": ["pager"]}],
        {"api-down": {"when": "api down", "severity": "SEV1", "notify": ["chat"]}},
        [Fired("p", SEV1, "api-down")],
        {'chat:{alertname="api-down"}': ["p"]},
        id="a rule's own notify overrides the routes",
    ),
    pytest.param(
        [{"match": {"team": "payments"}, "notify": ["pager"], "group_by": ["team"]}],
        {},
        [
            Fired("api", {"team": "payments"}, "api-down"),
            Fired("db", {"team": "payments"}, "db-down"),
        ],
        {'pager:{team="payments"}': ["api", "db"]},
        id="a route's group_by",
    ),
    pytest.param(
        [{"match": {"team": "payments"}, "notify": ["pager"], "group_by": ["team"]}],
        {"db-down": {"when": "db down", "severity": "SEV3", "group_by": ["check"]}},
        [
            Fired("api", {"team": "payments"}, "api-down"),
            Fired("db", {"team": "payments"}, "db-down"),
        ],
        {'pager:{team="payments"}': ["api"], 'pager:{check="db"}': ["db"]},
        id="a rule's group_by beats the route's",
    ),
    pytest.param(
        [{"match": {"service": "~pay.*", "severity": "critical"}, "notify": ["pager"]}],
        {},
        [
            Fired("PayDown", {"service": "payments", "severity": "critical"}),
            Fired("PayLag", {"service": "payments", "severity": "warning"}),
        ],
        {'pager:{alertname="PayDown"}': ["PayDown"], 'hook:{alertname="PayLag"}': ["PayLag"]},
        id="ingested alerts route by their own labels",
    ),
]


@pytest.mark.parametrize(("routes", "rules", "alerts", "expected"), CASES)
def test_routes_pick_the_receivers(
    engine: Engine,
    routes: list[dict[str, Any]],
    rules: dict[str, dict[str, Any]],
    alerts: list[Fired],
    expected: dict[str, list[str]],
) -> None:
    config = make_config(routes, rules=rules)
    assert notified(engine, config, alerts) == expected


def test_without_alerting_notify_an_alert_no_route_takes_is_not_notified(engine: Engine) -> None:
    config = make_config([{"severity": ["SEV1"], "notify": ["pager"]}], notify=[])
    got = notified(engine, config, [Fired("p", SEV1, "api-down"), Fired("q", SEV3, "db-down")])
    assert got == {'pager:{alertname="api-down"}': ["p"]}


def test_route_returns_each_receiver_with_its_group_by(engine: Engine) -> None:
    config = make_config(
        [
            {"severity": ["SEV1"], "notify": ["pager"], "group_by": [], "continue": True},
            {"match": {"check": "api"}, "notify": ["chat"]},
        ]
    )
    [alert_id] = fire_all(engine, [Fired("p", SEV1, "api-down")])
    with engine.connect() as conn:
        item = records.get_alert(conn, alert_id)
    assert route(config, item) == [Receiver("pager", ()), Receiver("chat", ("alertname",))]


def test_matching_is_pure_and_ordered() -> None:
    first = Route.model_validate({"severity": "SEV1", "notify": ["a"], "continue": True})
    second = Route.model_validate({"match": {"team": "~pay|ops"}, "notify": ["b"]})
    third = Route.model_validate({"notify": ["c"]})
    routes = [first, second, third]
    assert matching_routes(routes, {"severity": "SEV1", "team": "ops"}) == [first, second]
    assert matching_routes(routes, {"severity": "SEV1", "team": "web"}) == [first, third]
    assert matching_routes(routes, {"severity": "SEV2"}) == [third]
    assert route_matches(second, {"team": "pay"})
    assert not route_matches(second, {"team": "payments"})
