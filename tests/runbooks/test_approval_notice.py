"""A request for an approval is announced through the notification outbox in the same
transaction: one row per channel, saying who asks, for which step, with which parameters
(secrets masked), until when, and where to approve; on both stores."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.config import Config
from opsbook.config.loader import loads
from opsbook.incidents.service import declare
from opsbook.notify import outbox
from opsbook.notify.tables import notification
from opsbook.runbooks.approvals import request_approval
from opsbook.runbooks.models import Risk
from opsbook.runbooks.run_models import Trigger, TriggerKind
from opsbook.runbooks.runs import start_run
from opsbook.store.audit import audit_event
from runbook_helpers import CANARY, T0, runbook, step

ANA = "user:ana"
TTL = timedelta(minutes=15)
ENV_CANARY = "envCanary-41c9d"
DROP = runbook(step("drop", "psql -c 'drop {{ target }}' --token {{ token }}", risk=Risk.DANGER))
CONFIG = """\
service: shop
server: {public_url: "https://ops.example"}
severities:
  SEV1: {respond_within: 15m, notify: [email]}
  SEV3: {respond_within: 4h}
channels:
  hook: {webhook: {url: "http://127.0.0.1:1/hook"}}
  chat: {apprise: "json://127.0.0.1:1/chat"}
  email: {smtp: {host: 127.0.0.1, port: 1, from: ops@shop.example, to: [oncall@shop.example]}}
runbooks:
  shell: {env: {API_TOKEN: "${API_TOKEN}"}}
%s
"""


def config(approvals: str = "") -> Config:
    return loads(CONFIG % approvals, environ={"API_TOKEN": ENV_CANARY})


def ask(engine: Engine, cfg: Config, *, incident_id: int | None = None) -> tuple[int, int]:
    """A run of DROP whose ``target`` holds a config secret and ``token`` a secret parameter;
    returns the run's and the approval's ids."""
    with engine.begin() as conn:
        run_id = start_run(
            conn,
            DROP,
            step_ids=None,
            params={"target": f"db-{ENV_CANARY}", "token": CANARY},
            trigger=Trigger(TriggerKind.PERSON, ANA),
            actor=ANA,
            now=T0,
            incident_id=incident_id,
        )
        approval_id = request_approval(conn, run_id, "drop", actor=ANA, now=T0, ttl=TTL, config=cfg)
    return run_id, approval_id


def stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(sa.select(notification))]


def audit_detail(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_event.c.detail).where(
                audit_event.c.action == "runbook.approval.request"
            )
        ).scalars()
        (detail,) = list(rows)
    return dict(detail)


def test_one_row_to_the_configured_channel_with_secrets_masked(engine: Engine) -> None:
    run_id, approval_id = ask(engine, config("  approvals: {channels: [chat]}"))
    (row,) = stored(engine)
    assert (row["channel"], row["kind"], row["state"]) == ("chat", "runbook_approval", "pending")
    assert row["idempotency_key"] == f"runbook_approval:{approval_id}:chat"
    assert row["due_at"] == T0
    payload = row["payload"]
    digest = DROP.steps[0].digest[:12]
    assert payload == {
        "title": f"Approval needed: db-fix / drop (danger), run {run_id}",
        "body": "\n".join(
            [
                f"user:ana asks another person to approve step drop of runbook db-fix "
                f"(run {run_id}).",
                f"Step: drop, shell, risk danger, digest {digest}",
                "Parameters: target=db-***, token=***",
                f"Expires: {(T0 + TTL).isoformat()}",
                f"Approve or deny: https://ops.example/runs/{run_id}",
                f'API: POST https://ops.example/api/v1/approvals/{approval_id} {{"approve": true}}',
            ]
        ),
        "type": "failure",
    }
    text = json.dumps(row, default=str)
    assert CANARY not in text and ENV_CANARY not in text
    assert audit_detail(engine)["notified"] == ["chat"]


def test_a_webhook_gets_a_json_body_and_the_deliverer_can_claim_it(engine: Engine) -> None:
    run_id, approval_id = ask(engine, config("  approvals: {channels: [hook]}"))
    (row,) = stored(engine)
    body = row["payload"]
    assert body["version"] == "1" and body["type"] == "runbook_approval"
    assert body["step"] == {
        "id": "drop",
        "kind": "shell",
        "risk": "danger",
        "digest": DROP.steps[0].digest[:12],
    }
    assert body["run"]["params"] == {"target": "db-***", "token": "***"}
    assert body["approval"]["requested_by"] == ANA
    assert body["links"]["run"] == f"https://ops.example/runs/{run_id}"
    assert CANARY not in json.dumps(body) and ENV_CANARY not in json.dumps(body)
    with engine.begin() as conn:
        claimed = outbox.claim_due(conn, now=T0, limit=10, lease=timedelta(minutes=1))
    assert [c.idempotency_key for c in claimed] == [f"runbook_approval:{approval_id}:hook"]


def test_by_default_a_run_for_an_incident_tells_its_severitys_channels(engine: Engine) -> None:
    with engine.begin() as conn:
        found = declare(conn, title="db down", severity="SEV1", actor=ANA, now=T0)
    run_id, _ = ask(engine, config(), incident_id=found.id)
    (row,) = stored(engine)
    assert row["channel"] == "email"
    assert row["payload"]["to"] == ["oncall@shop.example"]
    assert f"(run {run_id} for incident {found.id})." in row["payload"]["body"]


@pytest.mark.parametrize("severity", [None, "SEV3"])
def test_with_no_channel_nothing_is_queued_and_the_audit_says_why(
    engine: Engine, severity: str | None
) -> None:
    incident_id = None
    if severity is not None:
        with engine.begin() as conn:
            incident_id = declare(conn, title="x", severity=severity, actor=ANA, now=T0).id
    ask(engine, config(), incident_id=incident_id)
    assert stored(engine) == []
    detail = audit_detail(engine)
    assert detail["notified"] == []
    assert detail["note"].startswith("no channel told:")
    assert "runbooks.approvals.channels" in detail["note"]


def test_a_request_that_rolls_back_queues_nothing(engine: Engine) -> None:
    cfg = config("  approvals: {channels: [chat]}")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        run_id = start_run(
            conn,
            DROP,
            step_ids=None,
            params={"token": CANARY},
            trigger=Trigger(TriggerKind.PERSON, ANA),
            actor=ANA,
            now=T0,
        )
        request_approval(conn, run_id, "drop", actor=ANA, now=T0, ttl=TTL, config=cfg)
        raise RuntimeError("rolled back")
    assert stored(engine) == []
