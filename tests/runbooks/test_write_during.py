"""``runbooks.approvals.write_during``: during an incident of a listed severity a ``write`` step
needs an approval by another person, not only a confirmation; on both stores, with the config's
own validation of the severity names."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from opsbook.config.loader import loads
from opsbook.errors import ConfigError, Forbidden
from opsbook.incidents.service import declare
from opsbook.runbooks.approvals import decide_approval, request_approval
from opsbook.runbooks.models import Risk
from opsbook.runbooks.run_models import RunState, Trigger, TriggerKind
from opsbook.runbooks.runner import execute_run
from opsbook.runbooks.runs import confirm_step, start_run
from runbook_helpers import SETTINGS, T0, clock, rows, runbook, step

ANA, BEN = "user:ana", "user:ben"
RB = runbook(step("restart", "echo restarted", risk=Risk.WRITE))
DURING = ("SEV1",)


def incident_run(engine: Engine, severity: str) -> int:
    with engine.begin() as conn:
        found = declare(conn, title="db down", severity=severity, actor=ANA, now=T0)
        return start_run(
            conn,
            RB,
            step_ids=None,
            params={},
            trigger=Trigger(TriggerKind.PERSON, ANA),
            actor=ANA,
            now=T0,
            incident_id=found.id,
        )


async def go(engine: Engine, run_id: int) -> RunState:
    return await execute_run(
        engine, run_id, RB, settings=SETTINGS, clock=clock(), write_approval_during=DURING
    )


def state(engine: Engine, run_id: int) -> str:
    return str(rows(engine, run_id)["steps"][0]["state"])


async def test_a_write_step_in_a_sev1_run_needs_another_persons_approval(engine: Engine) -> None:
    run_id = incident_run(engine, "SEV1")
    assert await go(engine, run_id) is RunState.WAITING
    assert state(engine, run_id) == "waiting_approval"
    # A confirmation is not enough during a SEV1.
    with engine.begin() as conn:
        confirm_step(conn, run_id, "restart", actor=ANA, now=T0)
    assert await go(engine, run_id) is RunState.WAITING
    assert state(engine, run_id) == "waiting_approval"
    with engine.begin() as conn:
        approval_id = request_approval(
            conn, run_id, "restart", actor=ANA, now=T0, ttl=SETTINGS.default_timeout
        )
    with pytest.raises(Forbidden, match="no self-approval"), engine.begin() as conn:
        decide_approval(conn, approval_id, actor=ANA, approve=True, now=T0)
    with engine.begin() as conn:
        decide_approval(conn, approval_id, actor=BEN, approve=True, now=T0)
    assert await go(engine, run_id) is RunState.SUCCEEDED
    assert rows(engine, run_id)["steps"][0]["output"] == "restarted\n"


async def test_a_write_step_in_a_sev3_run_needs_a_confirmation_only(engine: Engine) -> None:
    run_id = incident_run(engine, "SEV3")
    assert await go(engine, run_id) is RunState.WAITING
    assert state(engine, run_id) == "waiting_confirmation"
    with engine.begin() as conn:
        confirm_step(conn, run_id, "restart", actor=ANA, now=T0)
    assert await go(engine, run_id) is RunState.SUCCEEDED


async def test_a_run_for_no_incident_needs_a_confirmation_only(engine: Engine) -> None:
    with engine.begin() as conn:
        run_id = start_run(
            conn,
            RB,
            step_ids=None,
            params={},
            trigger=Trigger(TriggerKind.PERSON, ANA),
            actor=ANA,
            now=T0,
        )
    assert await go(engine, run_id) is RunState.WAITING
    assert state(engine, run_id) == "waiting_confirmation"


CONFIG = """\
service: shop
severities:
  SEV1: {respond_within: 15m}
  SEV3: {respond_within: 4h}
channels:
  pager: {webhook: {url: "http://127.0.0.1:1/pager"}}
runbooks:
  approvals: %s
"""


@pytest.mark.parametrize(
    ("approvals", "problem"),
    [
        (
            "{write_during: [SEV1, SEV2]}",
            "opsbook.yaml:8:36: runbooks.approvals.write_during[1]: unknown severity 'SEV2' "
            "(known severities: SEV1, SEV3)",
        ),
        (
            "{channels: [pager, slack]}",
            "opsbook.yaml:8:33: runbooks.approvals.channels[1]: unknown channel 'slack' "
            "(known channels: pager)",
        ),
        (
            "{ttl: 2d}",
            "opsbook.yaml:8:20: runbooks.approvals.ttl: ttl must be longer than 0s and at most 1d",
        ),
    ],
)
def test_bad_approvals_config_is_named_with_its_position(approvals: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(CONFIG % approvals, file="opsbook.yaml")
    assert [str(p) for p in caught.value.problems] == [problem]


def test_good_approvals_config_loads() -> None:
    config = loads(CONFIG % "{write_during: [SEV1], channels: [pager], ttl: 30m}")
    assert config.runbooks.approvals.write_during == ["SEV1"]
    assert config.runbooks.approvals.channels == ["pager"]
