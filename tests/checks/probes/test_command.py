"""The command probe: exit codes, output, environment, timeouts that kill, missing commands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsbook.checks.models import BODY_LIMIT_BYTES
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext

MakeCheck = Callable[..., Any]


async def test_a_shell_line_reports_exit_code_and_output(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    obs = await probe_for("command").run(
        make_check("command", {"run": "echo hi; echo oops >&2; exit 3"}), context=context
    )
    assert (obs.error, obs.connected, obs.status) == (None, True, 3)
    assert obs.values == {"exit_code": 3}
    assert obs.body == "hi\noops\n"


async def test_an_argv_list_runs_without_a_shell(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("command", {"run": ["sh", "-c", "echo $0", "not;a;shell"]})
    obs = await probe_for("command").run(check, context=context)
    assert (obs.status, obs.body) == (0, "not;a;shell\n")


async def test_env_is_merged_over_the_process_env_and_cwd_is_used(
    tmp_path: Path, context: ProbeContext, make_check: MakeCheck
) -> None:
    spec = {
        "run": 'echo "$PROBE_VAR ${PATH:+inherited}"; pwd',
        "env": {"PROBE_VAR": "x"},
        "cwd": str(tmp_path),
    }
    obs = await probe_for("command").run(make_check("command", spec), context=context)
    assert obs.body == f"x inherited\n{tmp_path}\n"


async def test_output_is_capped_but_the_command_still_finishes(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("command", {"run": "head -c 200000 /dev/zero | tr '\\0' y; exit 0"})
    obs = await probe_for("command").run(check, context=context)
    assert (obs.status, obs.body) == (0, "y" * BODY_LIMIT_BYTES)


async def test_a_timeout_kills_the_whole_process_group(
    tmp_path: Path, context: ProbeContext, make_check: MakeCheck
) -> None:
    pid_file = tmp_path / "child.pid"
    check = make_check(
        "command", {"run": f"sleep 30 & echo $! > {pid_file}; wait"}, timeout="300ms"
    )
    obs = await probe_for("command").run(check, context=context)
    assert obs.error == "timed out after 0.3s; killed"
    assert obs.connected is True
    assert obs.latency_ms < 2000
    assert await _stops(int(pid_file.read_text()))


async def _stops(pid: int) -> bool:
    """SIGKILL to the group is sent when the probe returns, but a busy machine may take a moment
    to schedule the grandchild's death: wait for it (bounded), rather than read its state once."""
    for _ in range(100):
        if not _is_running(pid):
            return True
        await asyncio.sleep(0.05)
    return False


def _is_running(pid: int) -> bool:
    # A killed child whose parent died is a zombie until PID 1 reaps it; zombies run nothing.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_a_missing_program_is_named(context: ProbeContext, make_check: MakeCheck) -> None:
    check = make_check("command", {"run": ["no-such-program-xyz", "--flag"]})
    obs = await probe_for("command").run(check, context=context)
    assert obs.error == "command not found: no-such-program-xyz"
    assert obs.connected is False


async def test_a_missing_program_in_a_shell_line_is_named(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("command", {"run": "no-such-program-xyz --flag"})
    obs = await probe_for("command").run(check, context=context)
    assert obs.error == "command not found: no-such-program-xyz --flag"
    assert obs.status == 127


async def test_a_missing_working_directory_is_named(
    context: ProbeContext, make_check: MakeCheck
) -> None:
    check = make_check("command", {"run": ["true"], "cwd": "/nonexistent/dir"})
    obs = await probe_for("command").run(check, context=context)
    assert obs.error == "working directory not found: /nonexistent/dir"


def test_an_empty_command_is_refused_at_load(make_check: MakeCheck) -> None:
    with pytest.raises(ValueError, match="must name a command"):
        make_check("command", {"run": []})
