"""The markdown importer: the five seeds become runbooks with the steps, parameters and manual
steps a person would expect, and any text at all imports without an error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from opsbook.errors import Conflict
from opsbook.runbooks.import_text import PLACEHOLDER, repair_mojibake, slug
from opsbook.runbooks.importer import (
    ImportedRunbook,
    ImportResult,
    import_markdown,
    summary,
    write_runbooks,
)
from opsbook.runbooks.parse import parse_runbook

# Copies of ../shared/seeds/, the five real runbooks the importer must take with no hand edits.
SEEDS = Path(__file__).resolve().parent / "seeds"
# "→" as UTF-8 bytes read as cp1252, as the lovable-shop seed has it 65 times.
ARROW_MOJIBAKE = "\u00e2\u2020\u2019"
SEED_NAMES = [
    "in-midst-my-life-runbook.md",
    "levqor-runbook.md",
    "lift-runbook.md",
    "lilove-runbook.md",
    "lovable-shop-runbook.md",
]
_FENCE_STEP = re.compile(r"^(`{3,})(?:sh|sql|http) \{name=([^}]*)\}\n.*?\n\1$", re.M | re.S)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _seed(name: str) -> ImportResult:
    path = SEEDS / name
    return import_markdown(path.read_text(encoding="utf-8"), source=name)


def _runbook(result: ImportResult, filename: str) -> ImportedRunbook:
    found = [r for r in result.runbooks if r.filename == filename]
    assert found, f"{filename} not among {[r.filename for r in result.runbooks]}"
    return found[0]


def _front_matter(text: str) -> dict[str, object]:
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    assert isinstance(meta, dict)
    return meta


def _step(runbook: ImportedRunbook, name: str) -> str:
    steps = {s.name: s for s in runbook.steps if s.name}
    assert name in steps, f"{name} not among {sorted(steps)}"
    return steps[name].text


def _check_well_formed(result: ImportResult) -> None:
    """Every file: front matter with a title, a review note, named unique steps, and every
    placeholder in a step declared as a parameter."""
    filenames = [r.filename for r in result.runbooks]
    assert len(filenames) == len(set(filenames))
    for runbook in result.runbooks:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*\.md", runbook.filename)
        meta = _front_matter(runbook.text)
        assert meta["title"] == runbook.title
        assert "first draft" in runbook.text
        declared = set((meta.get("parameters") or {}).keys())  # type: ignore[union-attr]
        names = [s.name for s in runbook.steps if s.kind != "manual"]
        assert len(names) == len(set(names))
        assert all(_NAME.fullmatch(n) for n in names)
        fences = _FENCE_STEP.findall(runbook.text)
        assert [n for _, n in fences] == names
        used = {m.group(1) for s in runbook.steps for m in PLACEHOLDER.finditer(s.text)}
        assert used <= declared, f"{runbook.filename}: undeclared {used - declared}"
        assert runbook.text.count("- [ ] ") >= runbook.count("manual")


@pytest.mark.parametrize("name", SEED_NAMES)
def test_each_seed_imports_into_well_formed_runbooks(name: str) -> None:
    result = _seed(name)
    assert len(result.runbooks) >= 8
    _check_well_formed(result)
    assert ARROW_MOJIBAKE not in "".join(r.text for r in result.runbooks)


def test_lilove_issue_becomes_a_runbook_with_an_sql_step_and_a_declared_parameter() -> None:
    result = _seed("lilove-runbook.md")
    issue = _runbook(result, "lilove-issue-3-payment-webhook-failures.md")
    assert issue.title == "Issue 3: Payment Webhook Failures"
    sql = _step(issue, "manually-sync-user-subscription")
    assert "WHERE user_id = {{ user_id }};" in sql
    assert "USER_ID" not in sql
    params = _front_matter(issue.text)["parameters"]
    assert isinstance(params, dict) and params["user_id"]["type"] == "string"
    assert "## Symptoms" in issue.text and "## Prevention" in issue.text
    assert "- Monitor webhook failure rate" in issue.text  # prevention stays text
    assert "- [ ] Verify `PADDLE_WEBHOOK_SECRET` matches Paddle dashboard" in issue.text
    procedure = _runbook(result, "lilove-procedure-rotate-session-secret.md")
    assert (
        "- [ ] Add new secret to environment: `NEW_SESSION_SECRET={{ new_value }}`"
        in procedure.text
    )
    export = _runbook(result, "lilove-procedure-emergency-user-data-export.md")
    assert "psql {{ database_url }} -c" in _step(export, "identify-user")
    assert "node scripts/export-user-data.js {{ user_id }} > user_data.json" in _step(
        export, "export-user-data"
    )
    deploy = _runbook(result, "lilove-deployment.md")
    assert '- [ ] Click "Deploy" button' in deploy.text
    assert "1. Go to" not in "".join(s.text for s in deploy.steps if s.kind == "shell")


def test_lovable_shop_console_lines_become_manual_steps_and_mojibake_is_repaired() -> None:
    result = _seed("lovable-shop-runbook.md")
    assert result.repaired >= 60
    down = _runbook(result, "lovable-shop-1-site-is-down-500-errors.md")
    assert (
        "- [ ] Check edge function logs — Via Lovable Cloud UI: "
        "Navigate to Cloud → Functions → View Logs" in down.text
    )
    assert _step(down, "check-recent-deployments").endswith("git log --oneline -5")
    checkout = _runbook(result, "lovable-shop-2-checkout-not-working.md")
    commented_query = [s for s in checkout.steps if s.kind == "sql"]
    assert commented_query and commented_query[0].text.startswith(
        "SELECT * FROM orders WHERE created_at"
    )
    assert (
        "```typescript\n// If Stripe is down:" in checkout.text
    )  # pseudo-code stays documentation
    slow = _runbook(result, "lovable-shop-3-slow-performance-high-latency.md")
    assert "WHERE consumer_id = {{ user_id }}" in _step(slow, "analyze-query-plans")
    assert "- [ ] Clear CDN cache" in slow.text
    long_queries = _step(
        _runbook(result, "lovable-shop-6-database-connection-errors.md"),
        "check-for-long-running-queries",
    )
    assert "query != '<IDLE>'" in long_queries  # an old server's marker, not a placeholder
    routine = _runbook(result, "lovable-shop-routine-maintenance.md")
    assert (
        "- [ ] Review slow queries — Cloud → Database → Performance → Top 10 slowest"
        in routine.text
    )
    everything = "".join(r.text for r in result.runbooks)
    assert "ðŸš¨" not in everything


def test_in_midst_playbooks_split_shell_blocks_into_named_steps() -> None:
    result = _seed("in-midst-my-life-runbook.md")
    playbook = _runbook(result, "in-midst-my-life-playbook-database-connection-errors.md")
    assert [s.name for s in playbook.steps if s.kind == "shell"] == [
        "check-postgresql-status",
        "check-connection-count",
        "if-exhausted-kill-idle-connections",
        "restart-applications-to-apply",
    ]
    assert 'psql {{ database_url }} -c "SELECT COUNT(*) FROM pg_stat_activity;"' in _step(
        playbook, "check-connection-count"
    )
    assert (
        "- [ ] Increase pool size if recurring — Edit apps/api/src/db/pool.ts: max: 20 → 30"
        in playbook.text
    )
    deploy = _runbook(result, "in-midst-my-life-deployment-procedures.md")
    assert "{{ previous_tag }}" in deploy.text
    checklists = _runbook(result, "in-midst-my-life-runbooks-checklists.md")
    script = _step(checklists, "production-deployment-runbook")
    assert script.startswith("#!/bin/bash") and script.rstrip().endswith(
        'echo "=== Deployment complete ==="'
    )
    assert "- [ ] Knows escalation contacts" in checklists.text
    quick = _runbook(result, "in-midst-my-life-quick-reference.md")
    assert "```dotenv\n# Required for all services" in quick.text  # settings, not a step


def test_levqor_placeholders_and_checklists() -> None:
    result = _seed("levqor-runbook.md")
    dlq = _runbook(result, "levqor-3-queue-dlq-overflow.md")
    retry = next(s for s in dlq.steps if s.kind == "shell").text
    assert (
        retry == "curl -X POST https://{{ domain }}/ops/dlq/retry"
        ' -H "Authorization: Bearer {{ admin_key }}"'
    )
    restore = _step(
        _runbook(result, "levqor-backup-recovery.md"), "only-in-emergency-with-approval"
    )
    assert "-h {{ pghost }}" in restore and "backup_{{ timestamp }}.sql" in restore
    flags = _step(_runbook(result, "levqor-rollback-procedures.md"), "disable-all-flags")
    assert "{{" not in flags  # exported in the same block: not parameters
    weekly = _runbook(result, "levqor-monitoring-checklist.md")
    assert "- [ ] Check DLQ for recurring failures" in weekly.text
    assert any("unlabelled block kept as documentation" in note for note in result.unclassified)


def test_lift_sql_in_a_bash_block_becomes_an_sql_step() -> None:
    result = _seed("lift-runbook.md")
    latency = _runbook(result, "lift-2-high-database-latency.md")
    slow = [s for s in latency.steps if s.kind == "sql"]
    assert slow[0].name == "check-slow-query-log"
    assert slow[0].text.startswith("-- Check slow query log\nSELECT query, calls")
    assert "WHERE email = {{ email }};" in _step(latency, "analyze-query-plans")
    payments = _runbook(result, "lift-1-payment-processing-failures.md")
    assert '-H "stripe-signature: {{ test_signature }}"' in _step(payments, "re-trigger-webhook")
    assert "- [ ] Check Stripe logs: https://dashboard.stripe.com/logs" in payments.text
    assert "```javascript" in latency.text


def test_summary_table_counts_each_seed() -> None:
    results = [_seed(name) for name in SEED_NAMES]
    table = summary(results)
    print("\n" + table)
    lines = table.splitlines()
    assert lines[0].split() == [
        "source",
        "runbooks",
        "shell",
        "sql",
        "http",
        "manual",
        "params",
        "unclassified",
    ]
    for result in results:
        row = next(line for line in lines if line.startswith(result.source)).split()
        assert int(row[1]) == len(result.runbooks)
        assert int(row[2]) == result.count("shell") > 0
        assert int(row[5]) == result.count("manual") > 0
    assert sum(r.count("sql") for r in results) >= 20
    assert "first drafts" in lines[-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Cloud {ARROW_MOJIBAKE} Functions", "Cloud → Functions"),
        ("ðŸš¨ INCIDENT", "🚨 INCIDENT"),
        ("café — naïve → ok", "café — naïve → ok"),
        ("Ã", "Ã"),
    ],
)
def test_it_repairs_only_mis_decoded_runs(text: str, expected: str) -> None:
    assert repair_mojibake(text)[0] == expected


@pytest.mark.parametrize(
    ("body", "step", "params"),
    [
        ('for f in *.log; do gzip "$f"; done', 'for f in *.log; do gzip "$f"; done', []),
        ("echo $HOME $? $1", "echo $HOME $? $1", []),
        ("X=1\necho $X", "X=1\necho $X", []),
        ("curl ${API_URL:-http://localhost}/health", "curl {{ api_url }}/health", ["api_url"]),
        ("awk '{print $NF}' $LOGFILE", "awk '{print $NF}' {{ logfile }}", ["logfile"]),
        (
            "kubectl rollout undo deploy/<service-name>",
            "kubectl rollout undo deploy/{{ service_name }}",
            ["service_name"],
        ),
    ],
)
def test_shell_placeholders_are_conservative(body: str, step: str, params: list[str]) -> None:
    result = import_markdown(f"# T\n\n## Issue 1: X\n\n```bash\n{body}\n```\n", source="t.md")
    (runbook,) = result.runbooks
    assert runbook.steps[0].text == step
    assert list(runbook.parameters) == params


def test_console_prompts_are_stripped_and_output_kept_as_documentation() -> None:
    text = "# Ops\n\n## Playbook: Disk\n\n```console\n$ df -h /\nFilesystem  Size\n"
    text += "/dev/sda1   50G\n```\n"
    (runbook,) = import_markdown(text, source="ops.md").runbooks
    assert runbook.steps[0].text == "df -h /"
    assert "```text\nFilesystem  Size\n/dev/sda1   50G\n```" in runbook.text


def test_a_document_without_steps_makes_no_runbook_and_says_so() -> None:
    result = import_markdown(
        "# Notes\n\nJust prose.\n\n## Contacts\n\n- Alice\n", source="notes.md"
    )
    assert result.runbooks == ()
    assert result.unclassified and all("no steps" in note for note in result.unclassified)


def test_write_runbooks_refuses_to_overwrite(tmp_path: Path) -> None:
    result = import_markdown(
        "# T\n\n## 1. Restart\n\n```sh\nsystemctl restart app\n```\n", source="t.md"
    )
    paths = write_runbooks(result, tmp_path / "out")
    assert [p.name for p in paths] == ["t-1-restart.md"]
    assert paths[0].read_text(encoding="utf-8") == result.runbooks[0].text
    with pytest.raises(Conflict, match=r"t-1-restart\.md: already exists"):
        write_runbooks(result, tmp_path / "out")
    assert write_runbooks(result, tmp_path / "out", overwrite=True) == paths


def test_slugs_fold_dashes_and_accents() -> None:
    assert slug("in\u2013midst\u2013my-life") == "in-midst-my-life"
    assert slug("Café: Ünïcode / 500") == "cafe-unicode-500"
    assert slug("🚨") == ""


_MARKDOWNISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "# Title",
                "## Issue 1: Broken",
                "### 2. Thing",
                "#### Playbook: X",
                "## If it breaks then",
                "```bash",
                "```sql",
                "```",
                "~~~",
                "```http",
                "```console",
                "```ts",
                "   ```bash",
                "**Steps:**",
                "**Symptoms**:",
                "- [ ] tick",
                "- ✅ done",
                "1. Check the Stripe dashboard",
                "- Via X UI: a → b",
                "# Check it",
                "$ ls -la",
                "SELECT * FROM t WHERE id = 'USER_ID';",
                "echo $FOO ${BAR:-x} <id-x>",
                "curl https://your-domain.com/x",
                "for i in 1 2; do",
                "done",
                "if true; then",
                "fi",
                "cat <<EOF",
                "EOF",
                "'",
                '"',
                "\\",
                "{{ a }}",
                "{{ $value }}",
                "[Name]",
                ARROW_MOJIBAKE,
                "ðŸš¨",
                "",
                "   ",
                "\t",
                "> - [ ] quoted {{ q }}",
                "1. [ ] numbered {{ n }}",
                "* [x] done",
                "<!--",
                "-->",
                "<div>",
                "    indented {{ i }}",
                "---",
                "+ item",
                "| a | b |",
                "```sql {name=Bad Name}",
                "- [ ]",
            ]
        ),
        st.text(max_size=40),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_imports_without_error(text: str) -> None:
    _check_well_formed(import_markdown(text, source="random.md"))


@settings(max_examples=200, deadline=None)
@given(_MARKDOWNISH, st.sampled_from(["x.md", "", "../a b/Ops Runbook.MD", "—.md"]))
def test_any_markdownish_document_imports_into_well_formed_runbooks(
    lines: list[str], source: str
) -> None:
    _check_well_formed(import_markdown("\n".join(lines), source=source))


def _check_loads(result: ImportResult) -> None:
    for imported in result.runbooks:
        runbook, problems = parse_runbook(
            imported.text, name=imported.filename[:-3], file=imported.filename
        )
        assert problems == [], "\n".join(str(p) for p in problems)
        assert runbook is not None
        assert [s.kind.value for s in runbook.steps] == [s.kind for s in imported.steps]
        named = [s.id for s in runbook.steps if s.kind.value != "manual"]
        assert named == [s.name for s in imported.steps if s.kind != "manual"]
        assert runbook.title == imported.title
        assert {p.name for p in runbook.parameters} == set(imported.parameters)


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_imported_seed_runbook_loads_with_no_problems(name: str) -> None:
    _check_loads(_seed(name))


@settings(max_examples=200, deadline=None)
@given(_MARKDOWNISH)
def test_any_markdownish_import_loads_with_no_problems(lines: list[str]) -> None:
    result = import_markdown("\n".join(lines), source="fuzz.md")
    for imported in result.runbooks:
        _, problems = parse_runbook(
            imported.text, name=imported.filename[:-3], file=imported.filename
        )
        assert problems == [], "\n".join(str(p) for p in problems)
