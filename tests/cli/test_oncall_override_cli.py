"""``opsbook oncall override add|list|rm`` against the real app in-process (``cli_api``, clock
frozen at ``CLI_NOW``): the override goes through the API, changes who is on call, and errors
name the argument as typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsbook.accounts import Role

# CLI_NOW is Mon 2026-06-01 12:00 UTC, 14:00 in Berlin: ana's week on primary.
CONFIG = """\
service: shop
timezone: Europe/Berlin
oncall:
  people:
    ana: {name: Ana Silva}
    ben: {name: Ben Okafor}
  schedules:
    primary: {rotation: weekly, handoff: "mon 09:00", people: [ana, ben]}
"""


def squeeze(line: str) -> str:
    return " ".join(line.split())


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG + f"store: {{url: 'sqlite:///{tmp_path}/opsbook.db'}}\n")
    return str(path)


@pytest.fixture
def api(cli_api: Any, config: str) -> Any:
    return cli_api(Path(config), role=Role.RESPONDER)


def test_add_list_and_rm_go_through_the_api(api: Any, config: str) -> None:
    added = api.run(
        "oncall",
        "override",
        "add",
        "primary",
        "ben",
        "--start",
        "2026-06-06T10:00",
        "--end",
        "2026-06-06T18:00",
        "--reason",
        "covering Ana",
        "-c",
        config,
    )
    assert added.exit_code == 0, added.stderr
    assert added.stdout.strip() == (
        "override 1: Ben Okafor covers primary from Sat 2026-06-06 10:00 to Sat 2026-06-06 "
        "18:00 (Europe/Berlin)"
    )
    assert api.requests[-1] == ("POST", "/api/v1/oncall/overrides")
    at = api.run("oncall", "who", "--at", "2026-06-06T12:00", "-c", config)
    assert "Ben Okafor" in at.stdout and "override" in at.stdout

    listed = api.run("oncall", "override", "list", "-c", config)
    assert listed.exit_code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "schedule", "who", "from", "until", "reason"]
    assert squeeze(lines[2]) == (
        "1 primary Ben Okafor Sat 2026-06-06 10:00 Sat 2026-06-06 18:00 covering Ana"
    )

    removed = api.run("oncall", "override", "rm", "1", "-c", config)
    assert (removed.exit_code, removed.stdout.strip()) == (0, "override 1 removed")
    assert api.requests[-1] == ("DELETE", "/api/v1/oncall/overrides/1")
    empty = api.run("oncall", "override", "list", "-c", config)
    assert empty.stdout.strip() == "no overrides on now or to come"


def test_for_starts_at_the_servers_now(api: Any, config: str) -> None:
    result = api.run("oncall", "override", "add", "primary", "ben", "--for", "8h", "-c", config)
    assert result.exit_code == 0, result.stderr
    assert "from Mon 2026-06-01 14:00 to Mon 2026-06-01 22:00" in result.stdout
    now = api.run("oncall", "who", "-c", config)
    assert "Ben Okafor" in now.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "8h", "--end", "2026-06-06T18:00"], "error: --end: give --end or --for"),
        ([], "error: --end: give --end or --for"),
        (["--for", "soon"], "error: --for: not a duration (use e.g. 8h, 2d)"),
        (["--start", "saturday", "--for", "1h"], "error: --start: not a date and time"),
        (["--end", "2026-05-01T10:00"], "error: --end: must be after start"),
        (["--for", "100d"], "error: --end: an override lasts at most 90 days"),
    ],
)
def test_bad_options_are_named(api: Any, config: str, args: list[str], message: str) -> None:
    result = api.run("oncall", "override", "add", "primary", "ben", *args, "-c", config)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(message), result.stderr


def test_an_unknown_person_or_schedule_names_the_argument(api: Any, config: str) -> None:
    person = api.run("oncall", "override", "add", "primary", "zed", "--for", "1h", "-c", config)
    assert person.exit_code == 2
    assert person.stderr.startswith("error: PERSON: not one of oncall.people")
    schedule = api.run("oncall", "override", "add", "nope", "ben", "--for", "1h", "-c", config)
    assert schedule.exit_code == 2
    assert schedule.stderr.startswith("error: SCHEDULE: not a configured schedule")


def test_rm_of_an_unknown_id_names_it(api: Any, config: str) -> None:
    result = api.run("oncall", "override", "rm", "42", "-c", config)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ID: no override with this id")


def test_a_viewer_cannot_add(cli_api: Any, config: str) -> None:
    viewer = cli_api(Path(config), role=Role.VIEWER)
    result = viewer.run("oncall", "override", "add", "primary", "ben", "--for", "1h", "-c", config)
    assert (result.exit_code, result.stderr) == (
        4,
        "error: this needs the responder role; you are a viewer\n",
    )
    assert viewer.run("oncall", "override", "list", "-c", config).exit_code == 0
