"""Shell steps, run for real: exit status, timeout and cancel killing the whole process group,
the output cap, parameters passed as values (never as shell text), masking."""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest

from opsbook.clock import FrozenClock
from opsbook.runbooks.execute import run_step
from opsbook.runbooks.models import Position, Risk, Step, StepKind
from opsbook.runbooks.outcome import RunSettings, Status, StepContext
from opsbook.runbooks.shell import render_script

FAST = RunSettings(kill_grace=timedelta(seconds=0.3))


def shell_step(text: str, *, timeout: float | None = None, params: tuple[str, ...] = ()) -> Step:
    return Step(
        id="s1",
        kind=StepKind.SHELL,
        risk=Risk.READ,
        text=text,
        section="Diagnose",
        at=Position(3),
        digest="d" * 64,
        params=params,
        timeout=timedelta(seconds=timeout) if timeout is not None else None,
    )


def _gone(pid: int) -> bool:
    """``pid`` has died (signals land asynchronously: allow it a moment)."""
    for _ in range(50):
        if _dead(pid):
            return True
        time.sleep(0.01)
    return False


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie waiting for a reaper is dead too.
    status = Path(f"/proc/{pid}/status").read_text()
    return bool(re.search(r"^State:\s+Z", status, re.M))


async def test_it_reports_output_and_exit_status() -> None:
    clock = FrozenClock()
    outcome = await run_step(
        shell_step("echo hello; echo oops >&2; exit 3"), StepContext(clock=clock)
    )
    assert outcome.status is Status.FAILED
    assert outcome.exit_code == 3
    assert outcome.error == "exit status 3"
    assert outcome.output == "hello\noops\n"
    assert (outcome.step_id, outcome.digest, outcome.kind) == ("s1", "d" * 64, "shell")
    assert outcome.started_at == clock.now() == outcome.ended_at


async def test_exit_zero_is_ok() -> None:
    outcome = await run_step(shell_step("true"), StepContext())
    assert (outcome.status, outcome.exit_code, outcome.output) == (Status.OK, 0, "")


async def test_the_environment_is_minimal_plus_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOOK_LEAK_CHECK", "server-only")
    settings = RunSettings(env={"REGION": "eu-1"})
    outcome = await run_step(
        shell_step('echo "$REGION|${OPSBOOK_LEAK_CHECK:-unset}|$LANG"'),
        StepContext(settings=settings),
    )
    assert outcome.output == "eu-1|unset|C.UTF-8\n"


async def test_it_runs_in_the_configured_directory_with_stdin_closed(tmp_path: Path) -> None:
    settings = RunSettings(cwd=str(tmp_path))
    outcome = await run_step(shell_step("pwd; cat; echo end"), StepContext(settings=settings))
    assert outcome.output == f"{tmp_path}\nend\n"


async def test_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    settings = RunSettings(cwd=str(tmp_path / "nope"))
    outcome = await run_step(shell_step("true"), StepContext(settings=settings))
    assert outcome.status is Status.FAILED
    assert outcome.error == "could not start bash: No such file or directory"


async def test_timeout_kills_the_whole_group_including_background_children() -> None:
    step = shell_step("sleep 30 & echo $!; sleep 30; wait", timeout=0.5)
    outcome = await asyncio.wait_for(run_step(step, StepContext(settings=FAST)), 3)
    assert outcome.status is Status.TIMEOUT
    assert outcome.error == "timed out after 500ms"
    pid = int(outcome.output.split()[0])
    assert _gone(pid)
    assert outcome.duration >= timedelta(seconds=0.5)


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    step = shell_step("trap '' TERM; sleep 30 & echo $!; wait", timeout=0.3)
    outcome = await asyncio.wait_for(run_step(step, StepContext(settings=FAST)), 3)
    assert outcome.status is Status.TIMEOUT
    assert _gone(int(outcome.output.split()[0]))


async def test_background_jobs_do_not_outlive_a_finished_step() -> None:
    outcome = await asyncio.wait_for(run_step(shell_step("sleep 30 & echo $!"), StepContext()), 3)
    assert outcome.status is Status.OK
    assert _gone(int(outcome.output.split()[0]))


async def test_the_cancel_event_stops_the_step() -> None:
    cancel = asyncio.Event()
    seen: list[str] = []

    def on_output(chunk: str) -> None:
        seen.append(chunk)
        if "".join(seen).count("\n") >= 2:  # the background pid is out
            cancel.set()

    step = shell_step("echo started; sleep 30 & echo $!; wait")
    ctx = StepContext(settings=FAST, cancel=cancel, on_output=on_output)
    outcome = await asyncio.wait_for(run_step(step, ctx), 3)
    assert outcome.status is Status.CANCELLED
    assert outcome.error == "cancelled"
    assert seen and seen[0].startswith("started")
    assert _gone(int(outcome.output.split()[1]))


async def test_cancelling_the_task_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    step = shell_step(f"sleep 30 & echo $! > {pid_file}; wait")
    task = asyncio.ensure_future(run_step(step, StepContext(settings=FAST)))
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    assert _gone(int(pid_file.read_text()))


async def test_output_is_capped_and_the_child_still_finishes() -> None:
    settings = RunSettings(output_limit_bytes=10_000)
    step = shell_step("yes | head -c 10000000; echo done >&2", timeout=3)
    outcome = await asyncio.wait_for(run_step(step, StepContext(settings=settings)), 3)
    assert outcome.status is Status.OK
    assert outcome.truncated is True
    assert len(outcome.output.encode()) == 10_000
    assert outcome.output.startswith("y\ny\n")


async def test_output_under_the_cap_is_not_truncated() -> None:
    outcome = await run_step(
        shell_step("printf 12345"), StepContext(settings=RunSettings(output_limit_bytes=5))
    )
    assert (outcome.output, outcome.truncated) == ("12345", False)


PWNED = Path("/tmp/pwned")


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _exists(path: Path) -> bool:
    return path.exists()


HOSTILE = [
    "$(touch /tmp/pwned)",
    "'",
    '"; rm -rf',
    "`touch /tmp/pwned`",
    "a b\nc",
    "$HOME",
    "\\",
    "-n",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "template",
    ["printf '%s' {{ v }}", 'printf "%s" "{{ v }}"', "printf '%s' '{{ v }}'", "printf '%s' {{v}}"],
)
async def test_a_parameter_is_passed_literally(value: str, template: str) -> None:
    _unlink(PWNED)
    outcome = await run_step(shell_step(template, params=("v",)), StepContext(values={"v": value}))
    assert outcome.status is Status.OK, outcome.error
    assert outcome.output == value
    assert not _exists(PWNED)


def test_placeholders_become_quoted_variable_references() -> None:
    script, names = render_script(
        "echo {{ a }} \"x{{ b }}\" 'y{{ a }}' \\'{{ c }} # it's {{ d }}\necho {{ d }}"
    )
    assert script == (
        'echo "$OPSBOOK_PARAM_A" "x${OPSBOOK_PARAM_B}" \'y\'"$OPSBOOK_PARAM_A"\'\' '
        '\\\'"$OPSBOOK_PARAM_C" # it\'s {{ d }}\necho "$OPSBOOK_PARAM_D"'
    )
    assert names == ["a", "b", "c", "d"]


async def test_a_missing_value_is_an_input_error() -> None:
    from opsbook.errors import InputError

    with pytest.raises(InputError, match=r"params\.v: no value for this step"):
        await run_step(shell_step("echo {{ v }}", params=("v",)), StepContext())


async def test_non_utf8_output_is_decoded_with_replacement() -> None:
    outcome = await run_step(shell_step(r"printf 'caf\xe9 \xff ok \xc3\xa9'"), StepContext())
    assert outcome.output == "caf\ufffd \ufffd ok é"


async def test_secrets_are_masked_in_output_stream_and_rendered_script() -> None:
    canary = "canary-s3cr3t-7d1f"
    chunks: list[str] = []
    # The secret arrives split across two writes, a read apart.
    step = shell_step(
        "printf 'token=canary-s3'; sleep 0.1; printf 'cr3t-7d1f end\\n'; echo {{ t }}",
        params=("t",),
    )
    ctx = StepContext(values={"t": canary}, secrets=[canary], on_output=chunks.append)
    outcome = await run_step(step, ctx)
    assert outcome.output == "token=*** end\n***\n"
    assert "".join(chunks) == outcome.output
    assert all(canary[:8] not in c or "***" in c for c in chunks)
    assert canary not in "".join(chunks) + outcome.rendered + outcome.error


async def test_a_secret_in_an_error_is_masked(tmp_path: Path) -> None:
    canary = "canary-dir-91ab2c"
    settings = RunSettings(cwd=str(tmp_path / canary))
    outcome = await run_step(shell_step("true"), StepContext(settings=settings, secrets=[canary]))
    assert outcome.status is Status.FAILED
    assert canary not in outcome.error


async def test_dry_run_shows_the_script_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    outcome = await run_step(shell_step(f"touch {marker}"), StepContext(dry_run=True))
    assert outcome.dry_run and outcome.status is Status.OK
    assert outcome.rendered == f"touch {marker}"
    assert not marker.exists()


async def test_a_manual_step_is_refused() -> None:
    step = Step("m1", StepKind.MANUAL, Risk.READ, "Check Stripe", "S", Position(1), "e" * 64)
    outcome = await run_step(step, StepContext())
    assert outcome.status is Status.REFUSED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_capture_never_leaks_a_secret_split_between_reads(size: int) -> None:
    from opsbook.runbooks.outcome import Capture

    canary = "canary-é-split-42"
    data = f"a {canary} b {canary}{canary} é end".encode()
    chunks: list[str] = []
    capture = Capture(limit_bytes=10_000, secrets=[canary, "tiny"], on_output=chunks.append)
    for i in range(0, len(data), size):
        capture.feed(data[i : i + size])
    text = capture.close()
    assert text == "a *** b ****** é end"
    assert "".join(chunks) == text
    assert all("canary" not in chunk for chunk in chunks)
