"""``opsbook oncall who`` and ``opsbook oncall schedule NAME`` against the real app in-process
(``cli_api``): the server computes the shifts from its config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsbook.accounts import Role
from unreachable import closed_port

CONFIG = """\
service: shop
timezone: Europe/Berlin
oncall:
  people:
    ana: {name: Ana Silva}
    ben: {name: Ben Okafor}
    cy: {name: Cy Lindqvist-Montgomery-Featherstonehaugh}
  schedules:
    primary:
      rotation: weekly
      handoff: "mon 09:00"
      people: [ana, ben]
      overrides:
        - {person: cy, start: "2026-03-31T09:00", end: "2026-04-01T09:00"}
    tokyo: {timezone: Asia/Tokyo, rotation: daily, handoff: "10:00", people: [ben, ana]}
"""

Run = Callable[..., Any]


def squeeze(line: str) -> str:
    return " ".join(line.split())


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG + f"store: {{url: 'sqlite:///{tmp_path}/opsbook.db'}}\n")
    return str(path)


@pytest.fixture
def api(cli_api: Callable[..., Any], config: str) -> Any:
    return cli_api(Path(config), role=Role.VIEWER)


def test_who_lists_every_schedule_at_a_time(api: Any, config: str) -> None:
    result = api.run("oncall", "who", "--at", "2026-03-30T12:00", "--config", config)
    assert result.exit_code == 0, result.stderr
    # A time without an offset goes as typed: the server reads it in its config's timezone.
    assert api.requests == [("GET", "/api/v1/oncall?at=2026-03-30T12%3A00%3A00")]
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["schedule", "on", "call", "since", "until", "why"]
    assert (
        squeeze(lines[2]) == "primary Ana Silva Mon 2026-03-30 09:00 Tue 2026-03-31 09:00 layer 1"
    )
    # 12:00 in Berlin is 19:00 in Tokyo: the turn began at 10:00 Tokyo time.
    assert squeeze(lines[3]) == "tokyo Ben Okafor Mon 2026-03-30 10:00 Tue 2026-03-31 10:00 layer 1"


def test_who_for_one_schedule_shows_an_override(api: Any, config: str) -> None:
    result = api.run(
        "oncall", "who", "--schedule", "primary", "--at", "2026-03-31T10:00+02:00", "-c", config
    )
    assert result.exit_code == 0, result.stderr
    assert "Cy Lindqvist" in result.stdout and "override" in result.stdout
    assert "tokyo" not in result.stdout


@pytest.mark.parametrize("at", ["tomorrow", "2026-13-01", ""])
def test_a_bad_at_is_a_usage_error_naming_it(api: Any, config: str, at: str) -> None:
    result = api.run("oncall", "who", "--at", at, "--config", config)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --at: {at!r} is not a date and time (use ISO 8601")


def test_an_unknown_schedule_is_named(api: Any, config: str) -> None:
    result = api.run("oncall", "who", "--schedule", "nope", "--config", config)
    assert result.exit_code == 1
    assert "no schedule with this name (known: primary, tokyo)" in result.stderr


def test_no_schedules_says_so(cli_api: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(f"service: shop\nstore: {{url: 'sqlite:///{tmp_path}/opsbook.db'}}\n")
    result = cli_api(path).run("oncall", "who", "--config", str(path))
    assert (result.exit_code, result.stdout.strip()) == (
        0,
        "no on-call schedules in the server's config",
    )


def test_schedule_shows_four_weeks_in_80_columns(
    api: Any, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = api.run("oncall", "schedule", "primary", "--at", "2026-03-23T09:00", "-c", config)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "primary (Europe/Berlin), next 4 weeks" in lines[0]
    rows = [line.split() for line in lines if line.startswith(("Mon", "Tue", "Wed"))]
    assert [row[:6] for row in rows] == [
        ["Mon", "2026-03-23", "09:00", "Mon", "2026-03-30", "09:00"],
        ["Mon", "2026-03-30", "09:00", "Tue", "2026-03-31", "09:00"],
        ["Tue", "2026-03-31", "09:00", "Wed", "2026-04-01", "09:00"],
        ["Wed", "2026-04-01", "09:00", "Mon", "2026-04-06", "09:00"],
        ["Mon", "2026-04-06", "09:00", "Mon", "2026-04-13", "09:00"],
        ["Mon", "2026-04-13", "09:00", "Mon", "2026-04-20", "09:00"],
    ]
    assert [row[6:] for row in rows] == [
        ["Ben", "Okafor", "layer", "1"],
        ["Ana", "Silva", "layer", "1"],
        ["Cy", "override"],  # the long name folds onto the next lines
        ["Ana", "Silva", "layer", "1"],
        ["Ben", "Okafor", "layer", "1"],
        ["Ana", "Silva", "layer", "1"],
    ]
    assert "Lindqvist-Montgomery" in result.stdout
    assert api.requests == [
        (
            "GET",
            "/api/v1/oncall/primary?from=2026-03-23T09%3A00%3A00&to=2026-04-20T09%3A00%3A00",
        )
    ]


def test_schedule_weeks_is_bounded(api: Any, config: str) -> None:
    result = api.run("oncall", "schedule", "primary", "--weeks", "0", "-c", config)
    assert result.exit_code == 2
    assert "--weeks" in result.stderr


def test_schedule_of_an_unknown_name_fails(api: Any, config: str) -> None:
    result = api.run("oncall", "schedule", "nope", "-c", config)
    assert result.exit_code == 1
    assert "no schedule with this name (known: primary, tokyo)" in result.stderr


def test_without_a_server_it_is_one_red_line(
    run_cli: Run, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with closed_port() as port:
        monkeypatch.setenv("OPSBOOK_SERVER", f"http://127.0.0.1:{port}")
        result = run_cli("oncall", "who", "-c", config)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot reach the opsbook server at http://127.0.0.1:{port}"
    )
    assert len(result.stderr.strip().splitlines()) == 1
