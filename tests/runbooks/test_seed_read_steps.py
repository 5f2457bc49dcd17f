"""Each seed imported, loaded with the registry, and every ``read`` step it made run for real
(issue 13): shell steps in bash, SQL steps in ``BEGIN READ ONLY`` on the PostgreSQL, through
the executor auto-diagnostics calls, with parameters pointing at the demo service and the
PostgreSQL (``seed_summary.py`` does the running and prints the table; run it by hand to see
each step's outcome).

The seeds target their own systems, so "relation does not exist", "command not found" and a
non-zero exit are expected outcomes. What must hold: every read step ends with an outcome
within its timeout, a failure records why, nothing was written (no file in the scratch folder,
no refused write in a read-only transaction, the demo service's faults untouched), and a secret
parameter's value never shows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from opsbook.demo import DemoState
from opsbook.runbooks.models import StepKind
from opsbook.runbooks.outcome import Status
from runbooks.seed_summary import (
    CANARY,
    GRACE_S,
    HEADER,
    SEEDS,
    STEP_TIMEOUT,
    SeedReport,
    run_all,
    table,
)

pytestmark = pytest.mark.postgres

SEED_NAMES = sorted(p.stem for p in SEEDS.glob("*.md"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seeds")


@pytest.fixture(scope="module")
def demo() -> DemoState:
    return DemoState()


@pytest.fixture(scope="module")
def reports(workdir: Path, demo: DemoState) -> dict[str, SeedReport]:
    found = asyncio.run(run_all(workdir, demo=demo))
    return {r.seed: r for r in found}


def test_there_are_five_seeds() -> None:
    assert len(SEED_NAMES) == 5


@pytest.mark.parametrize("seed", SEED_NAMES)
def test_every_runbook_a_seed_made_loads(seed: str, reports: dict[str, SeedReport]) -> None:
    report = reports[seed]
    assert report.problems == []
    assert sorted(report.loaded) == sorted(r.filename[:-3] for r in report.imported.runbooks)


@pytest.mark.parametrize("seed", SEED_NAMES)
def test_every_read_step_runs_to_an_outcome_in_time(
    seed: str, reports: dict[str, SeedReport]
) -> None:
    report = reports[seed]
    assert report.runs, f"{seed} made no read step"
    for run in report.runs:
        where = f"{run.runbook}/{run.step.id}"
        assert run.outcome is not None, f"{where} crashed: {run.crash}"
        assert run.outcome.status in (Status.OK, Status.FAILED, Status.TIMEOUT), where
        limit = (run.step.timeout or STEP_TIMEOUT).total_seconds() + GRACE_S
        assert run.elapsed_s <= limit, f"{where} took {run.elapsed_s:.1f}s"
        if not run.outcome.is_ok:
            assert run.outcome.error, f"{where} failed without saying why"


@pytest.mark.parametrize("seed", SEED_NAMES)
def test_no_read_step_writes_or_shows_a_secret(seed: str, reports: dict[str, SeedReport]) -> None:
    report = reports[seed]
    for run in report.runs:
        assert run.outcome is not None
        where = f"{run.runbook}/{run.step.id}"
        said = run.outcome.output + run.outcome.error + run.outcome.rendered
        # A write in a read step fails in the read-only transaction with this hint.
        assert "read-only transaction" not in run.outcome.error, where
        runbook = report.loaded[run.runbook]
        for param in runbook.parameters:
            if param.secret and param.name in run.step.params:
                assert f"{CANARY}-{param.name}" not in said, f"{where} shows {param.name}"


def test_nothing_was_written_in_the_scratch_folder(
    workdir: Path, reports: dict[str, SeedReport]
) -> None:
    scratch = workdir / "scratch"
    left = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*"))
    assert left == ["home", "kubeconfig", "work"]


def test_the_demo_service_was_reached_and_only_read(
    demo: DemoState, reports: dict[str, SeedReport]
) -> None:
    [uptime] = [r for r in reports["levqor-runbook"].runs if r.step.id == "quick-status-check"]
    # `curl https://{{ domain }}/ops/uptime` with domain = the demo: it answered, in plain HTTP.
    assert uptime.said.startswith("exit status 35 | curl: (35)"), uptime.said
    assert demo.faults.is_healthy


def test_real_outputs_come_back(reports: dict[str, SeedReport]) -> None:
    """Not only failures: the steps that fit this machine read the real PostgreSQL, and the ones
    that do not say why in the words of the tool."""
    runs = {f"{r.runbook}/{r.step.id}": r for report in reports.values() for r in report.runs}
    connections = runs["lovable-shop-6-database-connection-errors/check-active-connections"]
    assert connections.step.kind is StepKind.SQL
    assert connections.outcome is not None and connections.outcome.is_ok
    assert connections.outcome.columns == ("count",)
    assert int(str(connections.outcome.rows[0][0])) >= 1  # this step's own session
    missing = runs["lovable-shop-2-checkout-not-working/check-database-for-order-creation"]
    assert missing.said == 'relation "orders" does not exist'
    psql = runs["lilove-issue-1-database-connection-failures/check-database-connectivity"]
    assert psql.outcome is not None and psql.outcome.is_ok  # psql {{ database_url }}, masked
    assert "postgres@127.0.0.1" not in psql.outcome.rendered + psql.outcome.output


def test_kill_switches_are_not_read_steps(reports: dict[str, SeedReport]) -> None:
    """Levqor's `export RATELIMIT_ENABLED=false` steps set the service's flags: write."""
    levqor = reports["levqor-runbook"]
    ran = {r.step.id for r in levqor.runs}
    assert not {"disable-rate-limiting-temporarily", "disable-all-flags"} & ran


def test_the_summary_has_a_row_per_seed_and_a_total(
    reports: dict[str, SeedReport], capsys: pytest.CaptureFixture[str]
) -> None:
    text = table(list(reports.values()))
    with capsys.disabled():
        print("\n" + text)
    lines = text.splitlines()
    assert lines[0].split() == [w for h in HEADER for w in h.split()]
    assert [ln.split()[0] for ln in lines[2:]] == [*SEED_NAMES, "total"]
    total = lines[-1].split()
    assert int(total[-1]) == 0  # crashed
    assert int(total[-4]) == sum(len(r.runs) for r in reports.values())
