"""The rollup rules of docs/status-page.md as tables (statuspage/rollup.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opsbook.statuspage.rollup import Inputs, Override, component_status, overall_status

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SEV1 = (7, "SEV1", "major_outage")
SEV2 = (8, "SEV2", "partial_outage")
SEV3 = (9, "SEV3", "none")
DEGRADE = (10, "SEV2", "degraded_performance")


def override(status: str) -> Override:
    return Override(status, 12, "user:ana", AT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("inputs", "status", "cause"),
    [
        (Inputs(), "operational", ""),
        (Inputs(checks=[("a", "up"), ("b", "up")]), "operational", ""),
        (Inputs(checks=[("a", "degraded")]), "degraded_performance", "check a is degraded"),
        (Inputs(checks=[("a", "down")]), "major_outage", "check a is down"),
        (
            Inputs(checks=[("a", "down"), ("b", "up")]),
            "partial_outage",
            "check a is down",
        ),
        (
            Inputs(checks=[("a", "down"), ("b", "degraded")]),
            "partial_outage",
            "check a is down, b is degraded",
        ),
        (
            Inputs(checks=[("a", "down"), ("b", "down")]),
            "major_outage",
            "check a is down, b is down",
        ),
        # Open incidents: their severity's status_impact; "none" changes nothing.
        (Inputs(incidents=[SEV3]), "operational", ""),
        (Inputs(incidents=[SEV2]), "partial_outage", "incident 8 (SEV2)"),
        (Inputs(checks=[("a", "up")], incidents=[SEV1]), "major_outage", "incident 7 (SEV1)"),
        (Inputs(incidents=[DEGRADE, SEV2]), "partial_outage", "incident 8 (SEV2)"),
        # Worst wins between checks and incidents; on a tie the checks are named.
        (
            Inputs(checks=[("a", "down")], incidents=[DEGRADE]),
            "major_outage",
            "check a is down",
        ),
        (
            Inputs(checks=[("a", "down"), ("b", "up")], incidents=[SEV2]),
            "partial_outage",
            "check a is down",
        ),
        # Maintenance only when nothing worse.
        (Inputs(maintenance="db-upgrade"), "under_maintenance", "maintenance db-upgrade"),
        (
            Inputs(checks=[("a", "up")], incidents=[SEV3], maintenance="db-upgrade"),
            "under_maintenance",
            "maintenance db-upgrade",
        ),
        (
            Inputs(incidents=[DEGRADE], maintenance="db-upgrade"),
            "degraded_performance",
            "incident 10 (SEV2)",
        ),
        (
            Inputs(incidents=[SEV1], maintenance="db-upgrade"),
            "major_outage",
            "incident 7 (SEV1)",
        ),
        # An override wins outright, better or worse than what is derived.
        (
            Inputs(checks=[("a", "down")], incidents=[SEV1], override=override("operational")),
            "operational",
            "set by user:ana on incident 12",
        ),
        (
            Inputs(checks=[("a", "up")], override=override("major_outage")),
            "major_outage",
            "set by user:ana on incident 12",
        ),
        (
            Inputs(maintenance="db-upgrade", override=override("degraded_performance")),
            "degraded_performance",
            "set by user:ana on incident 12",
        ),
    ],
)
def test_component_status(inputs: Inputs, status: str, cause: str) -> None:
    assert component_status(inputs) == (status, cause)


@pytest.mark.parametrize(
    ("statuses", "impacts", "indicator", "description"),
    [
        ([], [], "none", "All Systems Operational"),
        (["operational", "operational"], [], "none", "All Systems Operational"),
        # One component: its status decides the sentence.
        (["under_maintenance"], [], "maintenance", "Service Under Maintenance"),
        (["degraded_performance"], [], "minor", "Degraded System Service"),
        (["partial_outage"], [], "major", "Partial System Outage"),
        (["major_outage"], [], "critical", "Major System Outage"),
        # Several: "all" wording when every one has the worst status, "some" wording otherwise.
        (["degraded_performance", "operational"], [], "minor", "Partially Degraded Service"),
        (["degraded_performance"] * 2, [], "minor", "Degraded System Service"),
        (["partial_outage", "operational"], [], "major", "Minor Service Outage"),
        (["partial_outage"] * 3, [], "major", "Partial System Outage"),
        (["major_outage", "operational"], [], "critical", "Partial System Outage"),
        (["major_outage", "degraded_performance"], [], "critical", "Partial System Outage"),
        (["major_outage"] * 2, [], "critical", "Major System Outage"),
        (["under_maintenance", "operational"], [], "maintenance", "Service Under Maintenance"),
        # The indicator is the worst, never blended down.
        (["major_outage", "under_maintenance"], [], "critical", "Partial System Outage"),
        (["degraded_performance", "under_maintenance"], [], "minor", "Partially Degraded Service"),
        # Unresolved incidents raise the indicator; with every component operational they
        # also word the sentence (no components at all: the same).
        ([], ["major"], "major", "Partial System Outage"),
        (["operational"], ["none"], "none", "All Systems Operational"),
        (["operational"], ["minor"], "minor", "Minor Service Outage"),
        (["operational"], ["critical", "minor"], "critical", "Major System Outage"),
        (["under_maintenance"], ["minor"], "minor", "Service Under Maintenance"),
        (["degraded_performance"], ["critical"], "critical", "Degraded System Service"),
        (["major_outage"], ["minor"], "critical", "Major System Outage"),
    ],
)
def test_overall_status(
    statuses: list[str], impacts: list[str], indicator: str, description: str
) -> None:
    found = overall_status(statuses, incident_impacts=impacts)  # type: ignore[arg-type]
    assert (found.indicator, found.description) == (indicator, description)


def test_overall_status_exposes_the_worst_component_status() -> None:
    found = overall_status(["operational", "partial_outage", "degraded_performance"])
    assert found.worst == "partial_outage"
