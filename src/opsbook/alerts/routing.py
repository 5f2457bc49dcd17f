"""Which receivers an alert's notices go to: the rule's ``notify``, else ``alerting.routes``
(Alertmanager's routing tree, flattened to one ordered list), else ``alerting.notify``. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from opsbook.config import Config
from opsbook.config.alerts import AlertRule, Route


class Receiver(NamedTuple):
    """A channel that gets an alert, and the label names its notices are grouped by."""

    name: str
    group_by: tuple[str, ...]


def route_matches(route: Route, labels: Mapping[str, str]) -> bool:
    """Every ``match`` label equal (``~regex``: matching the whole value; a missing label is
    ``""``, as in Alertmanager), and the ``severity`` label one of ``route.severity`` if set."""
    if route.severity and labels.get("severity", "") not in route.severity:
        return False
    for name, expected in route.match.items():
        value = labels.get(name, "")
        if expected.startswith("~"):
            if re.fullmatch(expected[1:], value) is None:
                return False
        elif value != expected:
            return False
    return True


def matching_routes(routes: Sequence[Route], labels: Mapping[str, str]) -> list[Route]:
    """The routes that take an alert with ``labels``, in order: each match is taken, and the
    walk stops at the first one without ``continue: true``."""
    taken: list[Route] = []
    for route in routes:
        if route_matches(route, labels):
            taken.append(route)
            if not route.continue_:
                break
    return taken


def receivers(
    config: Config, *, rule: AlertRule | None, labels: Mapping[str, str]
) -> list[Receiver]:
    """Where an alert with ``labels`` (raised by ``rule``, or ingested: ``None``) is notified.

    1. A rule with its own ``notify`` goes there; no route is consulted.
    2. Otherwise the receivers of every route ``matching_routes`` takes, in route order; a
       channel two routes name is notified once (the first route's ``group_by``).
    3. No route takes it: ``alerting.notify``.

    ``group_by`` is the rule's, else the route's, else ``alerting.group_by``. An empty list
    means no notice (the alert is still stored and shown).
    """
    fallback = tuple(config.alerting.group_by)
    if rule is not None and rule.group_by is not None:
        fallback = tuple(rule.group_by)
    if rule is not None and rule.notify is not None:
        return [Receiver(name, fallback) for name in rule.notify]
    routes = matching_routes(config.alerting.routes, labels)
    if not routes:
        return [Receiver(name, fallback) for name in config.alerting.notify]
    found: dict[str, Receiver] = {}
    for route in routes:
        group_by = fallback
        if route.group_by is not None and (rule is None or rule.group_by is None):
            group_by = tuple(route.group_by)
        for name in route.notify:
            found.setdefault(name, Receiver(name, group_by))
    return list(found.values())
