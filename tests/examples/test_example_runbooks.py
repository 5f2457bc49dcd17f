"""Every example's runbooks folder loads as shipped (``opsbook check`` would say ok), and the
seeds' routine checklists are routines: daily, weekly and monthly lists open by themselves and
remind a configured channel; the deploy checklists are plain runbooks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsbook.config import load
from opsbook.runbooks.models import StepKind
from opsbook.runbooks.registry import load_for_config
from opsbook.runbooks.routines import latest_due, routines_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = sorted(EXAMPLES.glob("*/opsbook.yaml"))

# Each seed's routine lists and checklists, as runbooks (lilove and lift have none: their seeds
# list no daily, weekly or monthly work and no deploy checklist).
ROUTINES = {
    "lovable-shop": {
        "daily-checks": "0 9 * * *",
        "weekly-tasks": "0 9 * * 1",
        "monthly-tasks": "0 9 1 * *",
    },
    "in-midst-my-life": {
        "daily-checks": "0 9 * * *",
        "weekly-checks": "0 9 * * 1",
        "monthly-checks": "0 9 1 * *",
    },
}
CHECKLISTS = {"in-midst-my-life": {"pre-deploy", "post-deploy"}}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.parent.name)
def test_its_runbooks_load_without_problems(path: Path) -> None:
    loaded = load_for_config(path, load(path, environ={}), environ={})
    assert [str(p) for p in loaded.problems] == []


@pytest.mark.parametrize("seed", sorted(ROUTINES))
def test_the_seeds_routine_lists_are_routines_that_remind_a_channel(seed: str) -> None:
    path = EXAMPLES / seed / "opsbook.yaml"
    config = load(path, environ={})
    registry = load_for_config(path, config, environ={}).registry
    routines = {r.name: r for r in routines_of(registry, timezone=config.timezone)}
    assert {name: r.schedule for name, r in routines.items()} == ROUTINES[seed]
    now = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
    for routine in routines.values():
        assert routine.runbook.channels and set(routine.runbook.channels) <= set(config.channels)
        assert any(s.kind is StepKind.MANUAL for s in routine.runbook.steps), routine.name
        assert latest_due(routine.schedule, routine.timezone, now) <= now


@pytest.mark.parametrize("seed", sorted(CHECKLISTS))
def test_the_deploy_checklists_are_plain_runbooks(seed: str) -> None:
    path = EXAMPLES / seed / "opsbook.yaml"
    registry = load_for_config(path, load(path, environ={}), environ={}).registry
    for name in CHECKLISTS[seed]:
        runbook = registry.get(name)
        assert runbook is not None and runbook.schedule is None
        assert any(s.kind is StepKind.MANUAL for s in runbook.steps)
