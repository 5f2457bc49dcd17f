"""The ``sh``/``bash`` step: ``bash -c SCRIPT`` in its own process group, parameters passed in
the environment and never spliced into the script, output capped and masked, the whole group
killed on timeout or cancel and when the step ends (a step's background jobs do not outlive it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsbook.config.units import format_duration
from opsbook.errors import InputError
from opsbook.runbooks.models import Step
from opsbook.runbooks.outcome import (
    Capture,
    RunSettings,
    Status,
    StepContext,
    StepOutcome,
    Stopwatch,
)
from opsbook.runbooks.values import Value, render_value

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def env_name(name: str) -> str:
    """The variable carrying parameter ``name``: ``user-id`` -> ``OPSBOOK_PARAM_USER_ID``."""
    return "OPSBOOK_PARAM_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def render_script(text: str) -> tuple[str, list[str]]:
    """``text`` with each ``{{ name }}`` replaced by a reference to its environment variable,
    quoted for where it stands, and the names used in order.

    Unquoted it becomes ``"$VAR"``, inside double quotes ``${VAR}``, inside single quotes
    ``'"$VAR"'`` (close, expand, reopen). Whatever the quoting, the script only ever names a
    variable: a value is never parsed by the shell, so it cannot inject anything.
    """
    out: list[str] = []
    names: list[str] = []
    quote = ""  # "", "'" or '"'
    i = 0
    while i < len(text):
        match = PLACEHOLDER.match(text, i)
        if match:
            var = env_name(match.group(1))
            names.append(match.group(1))
            out.append({"": f'"${var}"', '"': f"${{{var}}}", "'": f"'\"${var}\"'"}[quote])
            i = match.end()
            continue
        char = text[i]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            out.append(text[i : i + 2])
            i += 2
            continue
        elif quote == '"':
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out.append(text[i:end])
            i = end
            continue
        out.append(char)
        i += 1
    return "".join(out), list(dict.fromkeys(names))


def step_env(
    names: list[str],
    values: Mapping[str, Value],
    *,
    base: Mapping[str, str] | None,
    configured: Mapping[str, str],
) -> dict[str, str]:
    """A minimal base (PATH, HOME, LANG), then config's ``env``, then the parameters."""
    if base is None:
        base = {
            "PATH": os.environ.get("PATH", _DEFAULT_PATH),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
        }
    env = {**base, **configured}
    for name in names:
        if name not in values:
            raise InputError(f"params.{name}: no value for this step", field=f"params.{name}")
        env[env_name(name)] = render_value(values[name])
    return env


def step_cwd(step: Step, settings: RunSettings) -> str | None:
    """Where ``step`` runs: its ``cwd=`` attribute taken from ``runbooks.shell.cwd`` (else the
    config's folder, else the server's working directory), or that base itself without one.

    The attribute may not leave its base: an absolute path, or one whose ``..`` or symlinks
    resolve outside it, raises ``InputError`` naming ``cwd``, as does a folder that is not
    there. A runbook names folders of the service it runs for, never the server's others."""
    given = step.attr("cwd")
    if given is None:
        return settings.cwd
    base = Path(settings.cwd or settings.root or Path.cwd())
    if Path(given).is_absolute():
        raise InputError(
            f"cwd={given!r}: must be relative to {base} (absolute paths are refused)", field="cwd"
        )
    target = (base / given).resolve()
    if not target.is_relative_to(base.resolve()):
        raise InputError(f"cwd={given!r}: leaves {base}", field="cwd")
    if not target.is_dir():
        raise InputError(f"cwd={given!r}: no such folder under {base}", field="cwd")
    return str(target)


async def run_shell(step: Step, ctx: StepContext) -> StepOutcome:
    """Run ``step``. Returns its outcome (``ok`` on exit 0, ``failed`` otherwise, ``timeout``,
    ``cancelled``); raises ``InputError`` for a missing parameter value. Cancelling the calling
    task kills the process group and re-raises."""
    settings = ctx.settings
    script, names = render_script(step.text)
    env = step_env(names, ctx.values, base=settings.base_env, configured=settings.env)
    watch = Stopwatch(step, ctx)
    rendered = ctx.mask(script)
    cwd = step_cwd(step, settings)
    if ctx.dry_run:
        return watch.outcome(Status.OK, rendered=rendered, output="(dry run: not run)")
    capture = Capture(
        limit_bytes=settings.output_limit_bytes, secrets=ctx.secrets, on_output=ctx.on_output
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            settings.shell, "-c", script,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        error = ctx.mask(f"could not start {settings.shell}: {exc.strerror or exc}")
        return watch.outcome(Status.FAILED, error=error, rendered=rendered)
    assert proc.stdout is not None  # PIPE above
    pump = asyncio.create_task(_pump(proc.stdout, capture))
    grace = settings.kill_grace.total_seconds()
    limit = step.timeout or settings.default_timeout
    stopped = await _wait(
        proc, limit_s=limit.total_seconds(), cancel=ctx.cancel, grace=grace, pump=pump
    )
    # Whatever the script left running in its group goes now, or the pipe never closes.
    _signal_group(proc.pid, signal.SIGKILL)
    # A grandchild that left the group may still hold the pipe: stop waiting for it.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(pump, timeout=max(grace, 1.0))
    output = capture.close()
    fields = {"output": output, "truncated": capture.truncated, "rendered": rendered}
    if stopped is not None:
        after = format_duration(limit)
        error = "cancelled" if stopped is Status.CANCELLED else f"timed out after {after}"
        return watch.outcome(stopped, error=error, **fields)
    code = proc.returncode
    if code == 0:
        return watch.outcome(Status.OK, exit_code=0, **fields)
    error = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return watch.outcome(Status.FAILED, exit_code=code, error=error, **fields)


async def _pump(stream: asyncio.StreamReader, capture: Capture) -> None:
    while chunk := await stream.read(65536):
        capture.feed(chunk)


async def _wait(
    proc: asyncio.subprocess.Process,
    *,
    limit_s: float,
    cancel: asyncio.Event | None,
    grace: float,
    pump: asyncio.Task[None],
) -> Status | None:
    """Wait for the process; on timeout or ``cancel`` kill its group and say which."""
    waiter = asyncio.ensure_future(_exited(proc))
    stop = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    watchers: set[asyncio.Future[Any]] = {waiter}
    if stop is not None:
        watchers.add(stop)
    try:
        done, _ = await asyncio.wait(watchers, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await asyncio.shield(_kill_group(proc, grace=grace))
        pump.cancel()
        raise
    finally:
        if stop is not None:
            stop.cancel()
    if waiter in done:
        return None
    await _kill_group(proc, grace=grace)
    return Status.CANCELLED if stop is not None and stop in done else Status.TIMEOUT


async def _kill_group(proc: asyncio.subprocess.Process, *, grace: float) -> None:
    """SIGTERM to the whole group, SIGKILL to what is left after ``grace`` seconds."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_exited(proc), timeout=grace)
    _signal_group(proc.pid, signal.SIGKILL)
    await _exited(proc)


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """The exit status, as soon as the process has exited.

    ``Process.wait()`` also waits for the pipes to close (CPython 3.11), which a background
    job holding stdout delays for as long as it lives; ``returncode`` is set at the exit itself.
    """
    while proc.returncode is None:  # noqa: ASYNC110 - no event fires at the exit alone
        await asyncio.sleep(0.02)
    return proc.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, sig)
