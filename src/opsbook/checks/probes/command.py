"""The ``command`` kind: run a local command with a timeout; its exit code is the status.

A timed-out command is killed with its whole process group (it runs in a new session), so a
shell's children do not outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from time import monotonic
from typing import ClassVar

from opsbook.checks.models import BODY_LIMIT_BYTES, Check, Observation
from opsbook.checks.probes._errors import seconds
from opsbook.checks.probes.base import ProbeContext
from opsbook.config.checks import CommandSpec


def _display(spec: CommandSpec) -> str:
    return spec.run if isinstance(spec.run, str) else spec.run[0]


async def _start(spec: CommandSpec) -> asyncio.subprocess.Process:
    env = {**os.environ, **spec.env} if spec.env else None
    options: dict[str, object] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "cwd": spec.cwd,
        "env": env,
        "start_new_session": True,
    }
    if isinstance(spec.run, str):
        return await asyncio.create_subprocess_shell(spec.run, **options)  # type: ignore[arg-type]
    return await asyncio.create_subprocess_exec(*spec.run, **options)  # type: ignore[arg-type]


async def _read_capped(process: asyncio.subprocess.Process) -> bytes:
    assert process.stdout is not None, "stdout is a pipe"
    kept = bytearray()
    while chunk := await process.stdout.read(65536):
        # Keep reading past the cap so a chatty command never blocks on a full pipe.
        if len(kept) < BODY_LIMIT_BYTES:
            kept += chunk[: BODY_LIMIT_BYTES - len(kept)]
    return bytes(kept)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class CommandProbe:
    kind: ClassVar[str] = "command"

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.command
        assert spec is not None, "probe_for dispatches on the kind"
        started = monotonic()
        try:
            process = await _start(spec)
        except FileNotFoundError as exc:
            missing = exc.filename if exc.filename and exc.filename != spec.cwd else None
            error = (
                f"command not found: {_display(spec)}"
                if missing is not None or spec.cwd is None
                else f"working directory not found: {spec.cwd}"
            )
            return Observation(latency_ms=0.0, connected=False, error=error)
        except PermissionError:
            return Observation(
                latency_ms=0.0, connected=False, error=f"permission denied running {_display(spec)}"
            )
        except OSError as exc:
            error = f"cannot run {_display(spec)}: {exc.strerror or exc}"
            return Observation(latency_ms=0.0, connected=False, error=error)
        try:
            async with asyncio.timeout(check.spec.timeout.total_seconds()):
                output = await _read_capped(process)
                code = await process.wait()
        except TimeoutError:
            _kill_group(process)
            await process.wait()
            return Observation(
                latency_ms=(monotonic() - started) * 1000,
                connected=True,
                error=f"timed out after {seconds(check.spec.timeout)}; killed",
            )
        finally:
            if process.returncode is None:
                # Cancelled by the scheduler: leave no process behind.
                _kill_group(process)
        # POSIX shells exit 127 when the command is not found (POSIX.1-2017, 2.8.2).
        failure: str | None = None
        if isinstance(spec.run, str) and code == 127:
            failure = f"command not found: {spec.run}"
        return Observation(
            latency_ms=(monotonic() - started) * 1000,
            connected=True,
            error=failure,
            status=code,
            body=output.decode("utf-8", errors="replace"),
            values={"exit_code": code},
        )
