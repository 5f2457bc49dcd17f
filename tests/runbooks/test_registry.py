"""Loading a runbooks folder: every file's errors at once, and the checks between runbooks and
config (``db=``, alert rules' ``runbook:``, front matter ``alerts:``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.config import loads
from opsbook.runbooks import Risk
from opsbook.runbooks.registry import link_name, load_folder, load_for_config

GOOD = "---\nalerts: [site-down]\n---\n# Site down\n\n```sh {name=health}\ncurl -s http://a/\n```\n"
CONFIG = """\
service: shop
checks:
  web: {http: {url: "http://127.0.0.1:8081/healthz"}}
alerts:
  site-down: {when: web down, runbook: site-down}
runbooks:
  path: books
  databases:
    main: {dsn: "${DATABASE_URL}"}
"""


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_it_loads_every_runbook_in_the_folder(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "site-down.md": GOOD,
            "sub/queue.md": "```sql {name=depth}\nSELECT 1\n```\n",
            "README.md": "```sh\nrm -rf /\n```\n",  # about the folder, not a runbook
            ".draft.md": "```sh\nrm -rf /\n```\n",
        },
    )
    registry, problems = load_folder(tmp_path)
    assert problems == []
    assert sorted(registry.runbooks) == ["queue", "site-down"]
    site = registry.get("site-down")
    assert site is not None and site.path == str(tmp_path / "site-down.md")
    assert site.step("health") is not None and site.step("health").risk is Risk.READ  # type: ignore[union-attr]
    assert registry.for_alert("site-down") == [site]


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "a.md": "```sh {colour=red}\nls\n```\n",
            "b.md": GOOD,
            "c.md": "```sql\nDROP TABLE t\n```\n- [ ] {{ who }}\n",
        },
    )
    registry, problems = load_folder(tmp_path)
    assert list(registry.runbooks) == ["b"]
    a, c = tmp_path / "a.md", tmp_path / "c.md"
    assert [str(p) for p in problems] == [
        f"{a}:1:8: unknown attribute 'colour' for a sh step (use name, risk, timeout, cwd)",
        f"{c}:1:1: this danger step (DROP TABLE) needs a name: add {{name=...}} (approvals and "
        "runs name it)",
        f"{c}:4:7: {{{{ who }}}} is not a declared parameter (declare it under parameters: in "
        "the front matter)",
    ]


def test_names_must_be_ids_and_unique_across_subfolders(tmp_path: Path) -> None:
    _write(tmp_path, {"a/dup.md": GOOD, "b/dup.md": GOOD, "Site Down.md": GOOD})
    registry, problems = load_folder(tmp_path)
    assert list(registry.runbooks) == ["dup"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'Site Down.md'}:1:1: 'Site Down' is not a runbook name (rename the file: "
        "lowercase letters, digits, '-' and '_')",
        f"{tmp_path / 'b/dup.md'}:1:1: runbook name 'dup' is already used by "
        f"{tmp_path / 'a/dup.md'}",
    ]


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe bad")
    _, problems = load_folder(tmp_path)
    assert [p.message for p in problems] == ["is not UTF-8 text (invalid start byte)"]


def test_db_must_name_a_configured_database(tmp_path: Path) -> None:
    _write(tmp_path, {"q.md": "\n```sql {name=a db=main}\nSELECT 1\n```\n"
                              "```sql {name=b db=replica}\nSELECT 1\n```\n"})  # fmt: skip
    _, problems = load_folder(tmp_path, databases={"main"})
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'q.md'}:5:16: db='replica' names no database (add it under "
        "runbooks.databases in the config; have: main)"
    ]


def test_front_matter_alerts_must_be_alert_rules(tmp_path: Path) -> None:
    _write(tmp_path, {"a.md": "---\nalerts:\n  - site-down\n  - sight-down\n---\n"})
    _, problems = load_folder(tmp_path, alert_rules={"site-down", "db-down"})
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'a.md'}:4:5: alerts: no alert rule named 'sight-down' in the config; "
        "have: db-down, site-down"
    ]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("site-down", "site-down"),
        ("runbooks/api-down.md", "api-down"),
        ("https://wiki.example/runbooks/api-down", None),
    ],
)
def test_an_alert_rules_runbook_link_names_a_runbook_or_a_url(value: str, name: str | None) -> None:
    assert link_name(value) == name


def _config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(text)
    return path


def test_the_folder_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = _config(tmp_path)
    _write(tmp_path / "books", {"site-down.md": GOOD})
    config = loads(path.read_text(), environ={"DATABASE_URL": "postgresql://x"})
    loaded = load_for_config(path, config, environ={"DATABASE_URL": "postgresql://x"})
    assert loaded.problems == ()
    assert loaded.folder == tmp_path / "books"
    assert list(loaded.registry.runbooks) == ["site-down"]


def test_an_alert_rule_naming_no_runbook_is_an_error_at_its_key(tmp_path: Path) -> None:
    path = _config(tmp_path, CONFIG.replace("runbook: site-down", "runbook: sight-down"))
    _write(tmp_path / "books", {"site-down.md": GOOD.replace("alerts: [site-down]", "")})
    environ = {"DATABASE_URL": "postgresql://x"}
    loaded = load_for_config(path, loads(path.read_text(), environ=environ), environ=environ)
    assert [str(p) for p in loaded.problems] == [
        f"{path}:5:40: alerts.site-down.runbook: no runbook named 'sight-down'; have: site-down"
    ]


def test_a_broken_runbook_is_not_also_reported_missing(tmp_path: Path) -> None:
    path = _config(tmp_path)
    _write(tmp_path / "books", {"site-down.md": "```sh {colour=red}\nls\n```\n"})
    environ = {"DATABASE_URL": "postgresql://x"}
    loaded = load_for_config(path, loads(path.read_text(), environ=environ), environ=environ)
    assert [p.message for p in loaded.problems] == [
        "unknown attribute 'colour' for a sh step (use name, risk, timeout, cwd)"
    ]


def test_without_a_runbooks_folder_nothing_is_checked(tmp_path: Path) -> None:
    text = "service: shop\nchecks:\n  web: {tcp: {host: a, port: 1}}\n"
    path = _config(tmp_path, text + "alerts:\n  down: {when: web down, runbook: nowhere}\n")
    loaded = load_for_config(path, loads(path.read_text()))
    assert (loaded.folder, loaded.problems, loaded.registry.runbooks) == (None, (), {})


def test_a_configured_folder_must_exist(tmp_path: Path) -> None:
    path = _config(tmp_path, "service: shop\nrunbooks: missing/\n")
    loaded = load_for_config(path, loads(path.read_text()))
    assert [str(p) for p in loaded.problems] == [
        f"{path}:2:11: runbooks.path: no such folder: {tmp_path / 'missing'}"
    ]


def test_a_broken_config_still_has_its_runbooks_parsed(tmp_path: Path) -> None:
    path = _config(tmp_path, "service: shop\nrunbooks: {path: books, databses: {}}\n")
    _write(tmp_path / "books", {"a.md": "```sql {name=a db=nowhere}\nDROP TABLE t\n```\n"})
    loaded = load_for_config(path, None)
    # Without a config there are no databases to check db= against: only the runbook's own.
    assert [p.message for p in loaded.problems] == []
    assert list(loaded.registry.runbooks) == ["a"]
    assert loaded.registry.runbooks["a"].steps[0].risk is Risk.DANGER


def test_the_demo_runbooks_load_with_the_demo_config() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "demo" / "opsbook.yaml"
    loaded = load_for_config(path, loads(path.read_text(), file=str(path), environ={}), environ={})
    assert loaded.problems == ()
    assert {"site-down", "queue-backlog"} <= set(loaded.registry.runbooks)
    site = loaded.registry.runbooks["site-down"]
    assert [s.risk for s in site.steps if s.kind != "manual"] == [Risk.READ, Risk.READ]
