"""The panels `opsbook demo` and `opsbook demo-service` print say where pages land."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from rich.console import Console, RenderableType

from opsbook.cli.demo_panel import (
    Invocation,
    demo_panel,
    fault_commands,
    service_panel,
    try_commands,
)


def _render(panel: RenderableType, *, width: int = 120) -> str:
    out = StringIO()
    # As `opsbook demo` prints it: soft_wrap, so no line is cut where the terminal ends.
    Console(file=out, width=width, color_system=None).print(panel, soft_wrap=True)
    return out.getvalue()


def test_the_demo_panel_shows_where_pages_land() -> None:
    text = _render(
        demo_panel(
            service_url="http://127.0.0.1:8081",
            opsbook_url="http://127.0.0.1:8080",
            log=Path(".opsbook-demo/serve.log"),
        )
    )
    assert "Pages and incident updates: http://127.0.0.1:8081/_inbox" in text


def test_the_service_panel_shows_the_inbox_of_its_own_port() -> None:
    text = _render(service_panel("http://127.0.0.1:9999"))
    assert "Pages and incident updates: http://127.0.0.1:9999/_inbox" in text


def test_every_command_is_one_whole_line_at_80_columns() -> None:
    run = Invocation(
        prog=".venv/bin/opsbook",
        config=Path("examples/demo/opsbook.yaml"),
        env=(
            ("DEMO_URL", "http://127.0.0.1:18081"),
            ("OPSBOOK_DATABASE_URL", "sqlite:////tmp/a/long/path/to/the/demo/store/opsbook.db"),
        ),
    )
    text = _render(
        demo_panel(
            service_url="http://127.0.0.1:18081",
            opsbook_url="http://127.0.0.1:18080",
            log=Path("examples/demo/.opsbook-demo/serve.log"),
            run=run,
        ),
        width=80,
    )
    lines = text.splitlines()
    commands = try_commands(run, opsbook_url="http://127.0.0.1:18080")
    commands += [t.plain for t in fault_commands("http://127.0.0.1:18081")]
    for command in commands:
        assert command in lines, f"{command!r} is not one line of:\n{text}"
    assert "│" not in text  # no box: nothing to copy along with a command
    assert (
        commands[0]
        == "DEMO_URL=http://127.0.0.1:18081 .venv/bin/opsbook check examples/demo/opsbook.yaml"
    )
    assert commands[1] == (
        "DEMO_URL=http://127.0.0.1:18081 "
        "OPSBOOK_DATABASE_URL=sqlite:////tmp/a/long/path/to/the/demo/store/opsbook.db "
        ".venv/bin/opsbook status --config examples/demo/opsbook.yaml"
    )


def test_with_the_default_ports_and_store_the_commands_need_no_variables() -> None:
    run = Invocation(prog=".venv/bin/opsbook", config=Path("examples/demo/opsbook.yaml"))
    assert try_commands(run, opsbook_url="http://127.0.0.1:8080")[:4] == [
        ".venv/bin/opsbook check examples/demo/opsbook.yaml",
        ".venv/bin/opsbook status --config examples/demo/opsbook.yaml",
        ".venv/bin/opsbook alerts --all --config examples/demo/opsbook.yaml",
        ".venv/bin/opsbook incidents --all --config examples/demo/opsbook.yaml",
    ]
