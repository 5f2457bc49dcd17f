"""The status moves an incident may make, and severity names (pure, table-tested)."""

from __future__ import annotations

import pytest

from opsbook.errors import InputError
from opsbook.incidents.lifecycle import check_severity, transition_problem
from opsbook.incidents.models import IncidentStatus as S

BACK = "statuses move forward, and only monitoring may go back to investigating (a regression)"
OUT = "a resolved incident only reopens (opsbook incident reopen)"


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.INVESTIGATING, S.INVESTIGATING),
        (S.INVESTIGATING, S.IDENTIFIED),
        (S.INVESTIGATING, S.MONITORING),
        (S.INVESTIGATING, S.RESOLVED),
        (S.IDENTIFIED, S.IDENTIFIED),
        (S.IDENTIFIED, S.MONITORING),
        (S.IDENTIFIED, S.RESOLVED),
        (S.MONITORING, S.MONITORING),
        (S.MONITORING, S.RESOLVED),
        (S.MONITORING, S.INVESTIGATING),
    ],
)
def test_it_allows_forward_moves_and_the_regression(current: S, target: S) -> None:
    assert transition_problem(current, target) is None


@pytest.mark.parametrize(
    ("current", "target", "problem"),
    [
        (S.IDENTIFIED, S.INVESTIGATING, f"cannot go back from identified to investigating: {BACK}"),
        (S.MONITORING, S.IDENTIFIED, f"cannot go back from monitoring to identified: {BACK}"),
        (S.RESOLVED, S.INVESTIGATING, f"cannot go from resolved to investigating: {OUT}"),
        (S.RESOLVED, S.IDENTIFIED, f"cannot go from resolved to identified: {OUT}"),
        (S.RESOLVED, S.MONITORING, f"cannot go from resolved to monitoring: {OUT}"),
        (S.RESOLVED, S.RESOLVED, f"cannot go from resolved to resolved: {OUT}"),
    ],
)
def test_it_refuses_other_moves_naming_both_statuses(current: S, target: S, problem: str) -> None:
    assert transition_problem(current, target) == problem


@pytest.mark.parametrize("name", ["SEV1", "SEV4", "P0", "P3"])
def test_it_accepts_severity_names(name: str) -> None:
    assert check_severity(name) == name


@pytest.mark.parametrize(
    ("name", "known", "message"),
    [
        ("sev1", None, "severity: not a severity name (use SEV1..SEV9 or P0..P9)"),
        ("SEV10", None, "severity: not a severity name (use SEV1..SEV9 or P0..P9)"),
        ("", None, "severity: not a severity name (use SEV1..SEV9 or P0..P9)"),
        ("SEV7", ["SEV1", "SEV2"], "severity: not a configured severity (use SEV1, SEV2)"),
    ],
)
def test_it_rejects_unknown_severities(name: str, known: list[str] | None, message: str) -> None:
    with pytest.raises(InputError) as caught:
        check_severity(name, known=known)
    assert str(caught.value) == message
    assert caught.value.field == "severity"
