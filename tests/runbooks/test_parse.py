"""Runbook markdown -> Runbook: accepted fences and their Step fields, rejected ones with the
exact FILE:LINE:COL message (STYLE.md R23), front matter, and the five seeds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from opsbook.runbooks import ParamType, Position, Risk, StepKind
from opsbook.runbooks.parse import parse_runbook, step_digest

SEEDS = sorted((Path(__file__).resolve().parent / "seeds").glob("*.md"))
assert len(SEEDS) == 5, SEEDS
FRONT = "---\nparameters:\n  user_id: {type: int}\n  env: {allowed: [prod, staging]}\n---\n"
# The first fence of a document starting with FRONT is on line 6.


def _one(body: str) -> object:
    runbook, problems = parse_runbook(FRONT + body, name="rb", file="rb.md")
    assert problems == []
    assert runbook is not None
    assert len(runbook.steps) == 1
    return runbook.steps[0]


def _errors(body: str, *, front: str = FRONT) -> list[str]:
    runbook, problems = parse_runbook(front + body, name="rb", file="rb.md")
    assert runbook is None
    return [str(p) for p in problems]


@pytest.mark.parametrize(
    ("fence", "expected"),
    [
        (
            "```sh {name=pool-usage risk=read timeout=30s}\nps aux\n```\n",
            {"id": "pool-usage", "kind": StepKind.SHELL, "risk": Risk.READ, "risk_reason": ""},
        ),
        (
            "```bash\nkubectl get pods -n inmidst\n```\n",
            {"id": "step-1", "kind": StepKind.SHELL, "risk": Risk.READ},
        ),
        (
            "```bash {name=restart}\nkubectl rollout restart deployment/api -n inmidst\n```\n",
            {"id": "restart", "risk": Risk.WRITE, "risk_reason": "kubectl rollout restart"},
        ),
        (
            "```sh {name=undo}\nkubectl rollout undo deployment/api -n inmidst\n```\n",
            {"id": "undo", "risk": Risk.DANGER, "risk_reason": "kubectl rollout undo"},
        ),
        (
            "```sql {name=long-queries db=main}\nSELECT pid FROM pg_stat_activity;\n```\n",
            {"kind": StepKind.SQL, "risk": Risk.READ, "db": "main", "risk_reason": "SELECT"},
        ),
        (
            "```sql {name=fix write=true}\nSELECT 1;\n```\n",
            {"risk": Risk.WRITE, "risk_reason": "write=true"},
        ),
        (
            "```sql {name=kill risk=danger}\nSELECT pg_terminate_backend(1);\n```\n",
            {"risk": Risk.DANGER, "risk_reason": ""},
        ),
        (
            "```sh {risk=read}\n./scripts/report.sh\n```\n",  # unknown, stated read: allowed
            {"id": "step-1", "risk": Risk.READ},
        ),
        (
            "```http {name=health timeout=5s}\nGET https://api.example/health\nAccept: x/y\n```\n",
            {"kind": StepKind.HTTP, "risk": Risk.READ, "timeout": timedelta(seconds=5)},
        ),
        (
            '```sh {name=logs cwd="logs/my app"}\ntail -n 100 app.log\n```\n',
            {"attrs": (("name", "logs"), ("cwd", "logs/my app"))},
        ),
        (
            "```sql {name=user}\nSELECT * FROM users WHERE id = {{ user_id }};\n```\n",
            {"params": ("user_id",), "at": Position(6, 1)},
        ),
        (
            "```sh {name=x}\necho {{env}} {{ user_id }} {{ env }}\n```\n",
            {"params": ("env", "user_id")},
        ),
        (
            "- [ ] Check the Stripe dashboard for failed payments\n",
            {
                "id": "step-1",
                "kind": StepKind.MANUAL,
                "risk": Risk.READ,
                "text": "Check the Stripe dashboard for failed payments",
                "at": Position(6, 3),
            },
        ),
        ("- [x] Done already {{ env }}\n", {"kind": StepKind.MANUAL, "params": ("env",)}),
    ],
)
def test_it_accepts_fences_as_steps(fence: str, expected: dict[str, object]) -> None:
    step = _one(fence)
    for key, value in expected.items():
        assert getattr(step, key) == value, key


@pytest.mark.parametrize(
    "body",
    [
        "```js\nrm -rf /\n```\n",
        "```ts\nawait db.drop()\n```\n",
        "```text\nDROP TABLE users;\n```\n",
        "```\nkubectl delete ns prod\n```\n",
        "```python {name=x}\nprint(1)\n```\n",
        "    rm -rf /  (an indented code block)\n",
        "- a plain list item\n",
        "- [] not a checkbox\n",
    ],
)
def test_other_blocks_are_documentation(body: str) -> None:
    runbook, problems = parse_runbook(FRONT + body, name="rb", file="rb.md")
    assert problems == []
    assert runbook is not None and runbook.steps == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "```sh {name=x colour=red}\nls\n```\n",
            "rb.md:6:15: unknown attribute 'colour' for a sh step (use name, risk, timeout, cwd)",
        ),
        (
            "```http {name=x db=main}\nGET https://a.example/\n```\n",
            "rb.md:6:17: unknown attribute 'db' for a http step (use name, risk, timeout)",
        ),
        (
            "```sh {name=x risk=maybe}\nls\n```\n",
            "rb.md:6:15: risk='maybe' is not a risk (use read, write or danger)",
        ),
        (
            "```sh {name=Bad_Name}\nls\n```\n",
            "rb.md:6:8: name='Bad_Name' is not a step id (use lowercase letters, digits, '-' "
            "and '_', starting with a letter or digit)",
        ),
        (
            "```sh {timeout=30}\nls\n```\n",
            "rb.md:6:8: timeout: '30' is not a duration (use e.g. 30s, 5m, 1h)",
        ),
        (
            "```sh {timeout=0s}\nls\n```\n",
            "rb.md:6:8: timeout must be longer than 0s",
        ),
        (
            "```sh {name=a name=b}\nls\n```\n",
            "rb.md:6:15: attribute 'name' is given twice",
        ),
        (
            "```sh name=x\nls\n```\n",
            "rb.md:6:7: after 'sh' write attributes in braces, e.g. {name=x}",
        ),
        (
            "```sh {name}\nls\n```\n",
            "rb.md:6:8: cannot read attribute 'name' (write key=value; quote a value with "
            'spaces: key="a b")',
        ),
        (
            "```sql {write=yes}\nSELECT 1\n```\n",
            "rb.md:6:9: write='yes' must be true or false",
        ),
        (
            "```bash\nkubectl rollout restart deployment/api\n```\n",
            "rb.md:6:1: this write step (kubectl rollout restart) needs a name: add {name=...} "
            "(approvals and runs name it)",
        ),
        (
            "```sql\nDELETE FROM sessions;\n```\n",
            "rb.md:6:1: this danger step (DELETE without WHERE) needs a name: add {name=...} "
            "(approvals and runs name it)",
        ),
        (
            "```sh {risk=write}\n./fix.sh\n```\n",
            "rb.md:6:1: this write step needs a name: add {name=...} (approvals and runs name it)",
        ),
        (
            "```sql {name=x risk=read}\nDELETE FROM sessions WHERE id = 1;\n```\n",
            "rb.md:6:1: risk=read but the step runs DELETE ... WHERE; say risk=write or danger",
        ),
        (
            "```sh {name=x risk=write}\nredis-cli FLUSHALL\n```\n",
            "rb.md:6:1: risk=write but the step runs redis-cli FLUSHALL; say risk=danger",
        ),
        (
            "```sql {name=x risk=read write=true}\nSELECT 1\n```\n",
            "rb.md:6:1: risk=read contradicts write=true; say risk=write or danger",
        ),
        (
            "```sql {name=x}\nSELECT 1;\n-- ok\nSELECT * FROM t WHERE id = {{ id }};\n```\n",
            "rb.md:9:28: {{ id }} is not a declared parameter (declare it under parameters: in "
            "the front matter)",
        ),
        (
            "- [ ] Call {{ person }}\n",
            "rb.md:6:12: {{ person }} is not a declared parameter (declare it under parameters: "
            "in the front matter)",
        ),
        ("```sh\n\n```\n", "rb.md:6:1: the sh step is empty"),
        (
            "```http {name=x}\nFETCH /health\n```\n",
            "rb.md:7:1: 'FETCH /health' is not a request line (write METHOD URL, e.g. GET "
            "https://example.com/health; methods: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
        ),
        (
            "```http {name=x}\nGET {{ user_id }}/health\n```\n",
            "rb.md:7:1: '{{}}/health' is not an http:// or https:// URL (write the scheme and "
            "host out; a parameter cannot say where a request goes)",
        ),
        (
            "```http {name=x}\nGET https://a.example/\nnot a header\n```\n",
            "rb.md:8:1: 'not a header' is not a header (write Name: value)",
        ),
        (
            "```sh {name=a}\nls\n```\n\n```sh {name=a}\nls\n```\n",
            "rb.md:10:1: step id 'a' is already used by the step at line 6",
        ),
    ],
)
def test_it_rejects_bad_steps_with_file_line_column(body: str, message: str) -> None:
    assert _errors(body) == [message]


def test_it_reports_every_mistake_of_a_file_at_once() -> None:
    body = "```sh {colour=red}\nls\n```\n\n```sql\nDROP TABLE users;\n```\n- [ ] {{ who }}\n"
    assert _errors(body) == [
        "rb.md:6:8: unknown attribute 'colour' for a sh step (use name, risk, timeout, cwd)",
        "rb.md:10:1: this danger step (DROP TABLE) needs a name: add {name=...} (approvals and "
        "runs name it)",
        "rb.md:13:7: {{ who }} is not a declared parameter (declare it under parameters: in the "
        "front matter)",
    ]


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("---\ntitel: x\n---\n", "rb.md:2:1: unknown front matter key 'titel' (use title, "
         "description, tags, parameters, alerts, schedule, timezone, channels, grace, alert)"),
        ("---\nschedule: every day\n---\n", "rb.md:2:11: schedule: 'every day' is not a cron "
         "schedule (use 5 fields: minute hour day month weekday, e.g. '0 9 * * 1')"),
        ("---\nschedule: '61 * * * *'\n---\n", "rb.md:2:11: schedule: '61 * * * *' is not a "
         "cron schedule (use 5 fields: minute hour day month weekday, e.g. '0 9 * * 1')"),
        ("---\ntimezone: Mars/Base\n---\n", "rb.md:2:11: timezone: 'Mars/Base' is not a "
         "timezone (use an IANA name such as UTC or Europe/Berlin)"),
        ("---\nparameters:\n  n: {type: number}\n---\n", "rb.md:3:13: parameters.n.type: "
         "'number' is not a parameter type (use string, int, float, bool, duration)"),
        ("---\nparameters:\n  n: {type: int, default: many}\n---\n", "rb.md:3:27: "
         "parameters.n.default: 'many' is not an integer"),
        ("---\nparameters:\n  w: {type: duration, default: 5}\n---\n", "rb.md:3:32: "
         "parameters.w.default: '5' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("---\nparameters:\n  e: {default: dev, allowed: [prod, staging]}\n---\n",
         "rb.md:3:16: parameters.e.default: 'dev' is not one of allowed ['prod', 'staging']"),
        ("---\nparameters:\n  e: {secret: yes please}\n---\n",
         "rb.md:3:15: parameters.e.secret: must be true or false"),
        ("---\nparameters:\n  e: {kind: x}\n---\n", "rb.md:3:7: parameters.e: unknown key "
         "'kind' (use type, default, allowed, description, secret, required)"),
        ("---\nparameters:\n  9lives: {}\n---\n", "rb.md:3:3: parameters: '9lives' is not a "
         "parameter name (use letters, digits, '-' and '_', starting with a letter; it becomes "
         "an environment variable)"),
        ("---\nalerts: [Site Down]\n---\n", "rb.md:2:10: alerts[0]: 'Site Down' is not a "
         "valid id (use lowercase letters, digits, '-' and '_', starting with a letter or "
         "digit)"),
        ("---\ntitle: [a\n---\n", "rb.md:2:10: front matter: expected ',' or ']', but got "
         "'<stream end>'"),
        ("---\n- a\n---\n", "rb.md:2:1: front matter: must be a mapping (title: ..., "
         "parameters: ...)"),
        ("---\ntitle: x\n", "rb.md:1:1: the front matter opened by --- is never closed (end "
         "it with a --- line)"),
    ],
)  # fmt: skip
def test_it_rejects_bad_front_matter(front: str, message: str) -> None:
    assert _errors("# T\n", front=front) == [message]


def test_front_matter_becomes_the_runbooks_values() -> None:
    text = (
        "---\ntitle: Database connections\ndescription: Pool exhausted\ntags: [db, sev2]\n"
        "alerts: [db-pool]\ntimezone: Europe/Berlin\nparameters:\n"
        "  limit: {type: int, default: 10, allowed: [10, 50], description: rows}\n"
        "  token: {secret: true}\n  ratio: {type: float, default: 1}\n"
        "  wait: {type: duration, default: 5m}\n  dry: {type: bool, default: false}\n---\n"
        "# Ignored title\n\n## Look\n\n```sql {name=a}\nSELECT {{ limit }}\n```\n"
    )
    runbook, problems = parse_runbook(text, name="db-connections", file="db.md")
    assert problems == [] and runbook is not None
    assert (runbook.name, runbook.title, runbook.path) == (
        "db-connections",
        "Database connections",
        "db.md",
    )
    assert runbook.tags == ("db", "sev2") and runbook.alerts == ("db-pool",)
    # A routine (its schedule needs no required parameter): tests/runbooks/test_routines.py.
    assert (runbook.schedule, runbook.timezone) == (None, "Europe/Berlin")
    limit, token, ratio, wait, dry = runbook.parameters
    assert (limit.type, limit.default, limit.allowed, limit.required) == (
        ParamType.INT,
        10,
        (10, 50),
        False,
    )
    assert (token.secret, token.required, token.default) == (True, True, None)
    assert (ratio.type, ratio.default) == (ParamType.FLOAT, 1.0)
    assert (wait.default, dry.default) == ("5m", False)
    assert runbook.steps[0].section == "Look"


def test_the_title_falls_back_to_the_first_heading_then_the_name() -> None:
    runbook, _ = parse_runbook("# Site down\n\ntext\n", name="site-down", file="x.md")
    assert runbook is not None and runbook.title == "Site down"
    runbook, _ = parse_runbook("text only\n", name="site-down", file="x.md")
    assert runbook is not None and runbook.title == "site-down"


def test_digests_cover_kind_risk_attributes_and_text() -> None:
    base = _one("```sh {name=a timeout=5s}\nls\n```\n")
    assert base.digest == step_digest(  # type: ignore[attr-defined]
        StepKind.SHELL, Risk.READ, (("name", "a"), ("timeout", "5s")), "ls\n"
    )
    others = [
        _one("```sh {name=a timeout=6s}\nls\n```\n"),
        _one("```sh {name=a timeout=5s}\nls -l\n```\n"),
        _one("```sh {name=a timeout=5s risk=write}\nls\n```\n"),
        _one("```sql {name=a timeout=5s}\nls\n```\n"),
    ]
    assert len({base.digest, *(o.digest for o in others)}) == 5  # type: ignore[attr-defined]
    # Attribute order is no change to what runs.
    assert _one("```sh {timeout=5s name=a}\nls\n```\n").digest == base.digest  # type: ignore[attr-defined]


def test_the_runbook_digest_changes_with_any_step() -> None:
    one, _ = parse_runbook("```sh\nls\n```\n```sh\ndf\n```\n", name="a", file="a.md")
    two, _ = parse_runbook("```sh\nls\n```\n```sh\ndu\n```\n", name="a", file="a.md")
    assert one is not None and two is not None
    assert one.digest and one.digest != two.digest


def test_step_numbers_count_every_step_in_order() -> None:
    runbook, _ = parse_runbook(
        "- [ ] look\n\n```sh {name=named}\nls\n```\n\n```sh\ndf\n```\n", name="a", file="a.md"
    )
    assert runbook is not None
    assert [s.id for s in runbook.steps] == ["step-1", "named", "step-3"]


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name)
def test_the_seeds_parse_without_crashing_and_every_error_is_located(seed: Path) -> None:
    # The seeds are free-form (unnamed write steps, undeclared placeholders...): they need not
    # load, but every problem must point into the file.
    text = seed.read_text(encoding="utf-8")
    runbook, problems = parse_runbook(text, name="seed", file=seed.name)
    assert (runbook is None) == bool(problems)
    lines = len(text.split("\n"))
    for problem in problems:
        assert problem.file == seed.name
        assert 1 <= problem.line <= lines and problem.column >= 1, str(problem)
    assert any("needs a name" in p.message for p in problems)
