"""An imported parameter named like a credential is declared ``secret: true``, so its value is
masked in what a run records: Lift's `echo $NEXTAUTH_SECRET` and in-midst-my-life's
`echo $STRIPE_WEBHOOK_SECRET | head -c 10` would otherwise print it."""

from __future__ import annotations

import asyncio

import pytest

from opsbook.runbooks.execute import run_step
from opsbook.runbooks.importer import import_markdown
from opsbook.runbooks.outcome import StepContext
from opsbook.runbooks.parse import parse_runbook
from opsbook.runbooks.values import check_values, secret_values

SECRET = [
    ("$NEXTAUTH_SECRET", "nextauth_secret", True),
    ("$STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret", True),
    ("$SENDGRID_API_KEY", "sendgrid_api_key", True),
    ("$OPENAI_API_KEY", "openai_api_key", True),
    ("YOUR_ADMIN_KEY", "admin_key", True),
    ("$TOKEN", "token", True),
    ("$DB_PASSWORD", "db_password", True),
    ("$DATABASE_URL", "database_url", True),
    ("$SLACK_WEBHOOK_URL", "slack_webhook_url", True),
    ("$PROJECT_ID", "project_id", False),
    ("$API_URL", "api_url", False),
    ("$MONKEY", "monkey", False),
    ("<user_id>", "user_id", False),
]


@pytest.mark.parametrize(("source", "name", "secret"), SECRET)
def test_a_parameter_named_like_a_credential_is_secret(
    source: str, name: str, secret: bool
) -> None:
    text = f"# Ops\n\n## Check\n\n```bash\n# Look\necho {source}\n```\n"
    [imported] = import_markdown(text, source="ops.md").runbooks
    runbook, problems = parse_runbook(imported.text, name="ops-check", file="ops-check.md")
    assert problems == [] and runbook is not None
    [param] = runbook.parameters
    assert (param.name, param.secret) == (name, secret)


def test_an_imported_echo_of_a_secret_prints_it_masked() -> None:
    text = "# Lift\n\n## Sessions\n\n```bash\n# Verify it is set\necho $NEXTAUTH_SECRET\n```\n"
    [imported] = import_markdown(text, source="lift.md").runbooks
    runbook, _ = parse_runbook(imported.text, name="lift-sessions", file="lift-sessions.md")
    assert runbook is not None
    [step] = runbook.steps
    values = check_values(
        {"nextauth_secret": "n3xt-s3cr3t-value"}, parameters=runbook.parameters, names=step.params
    )
    ctx = StepContext(values=values, secrets=secret_values(runbook.parameters, values))
    outcome = asyncio.run(run_step(step, ctx))
    assert outcome.is_ok, outcome
    assert outcome.output.strip() == "***"
    assert "n3xt-s3cr3t-value" not in outcome.output + outcome.rendered + outcome.error
