"""Usage mistakes are click's message and exit 2, whichever copy of click typer raises."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--nope",), "No such option: --nope"),
        (("status", "--nope"), "No such option: --nope"),
        (("no-such-command",), "No such command 'no-such-command'"),
    ],
)
def test_a_usage_mistake_is_a_message_not_a_traceback(
    run_cli: Any, args: tuple[str, ...], message: str
) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_arguments_shows_the_usage_and_exits_2(run_cli: Any) -> None:
    result = run_cli()
    assert result.exit_code == 2
    assert "Usage: opsbook" in result.stdout + result.stderr
