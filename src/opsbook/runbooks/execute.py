"""Run one step by its kind: the one entry point the CLI, API and auto-diagnostics call.

``STEP_RUNNERS`` names the module of each kind, imported when first used (STYLE.md R2), so a
process that only runs shell steps never imports psycopg or aiohttp. Policy (who may run a
``write`` or ``danger`` step) is decided before this is called; this only runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from opsbook.runbooks.models import Step, StepKind
from opsbook.runbooks.outcome import Status, StepContext, StepOutcome, Stopwatch

Runner = Callable[[Step, StepContext], Awaitable[StepOutcome]]

STEP_RUNNERS: dict[StepKind, str] = {
    StepKind.SHELL: "opsbook.runbooks.shell:run_shell",
    StepKind.SQL: "opsbook.runbooks.sql:run_sql",
    StepKind.HTTP: "opsbook.runbooks.http:run_http",
}


async def run_step(step: Step, ctx: StepContext) -> StepOutcome:
    """Run ``step`` with ``ctx`` and return its outcome (every text in it masked).

    A manual step is ``refused``: a person ticks it off, nothing runs it. Raises
    ``InputError`` when a placeholder has no value in ``ctx.values`` (check them first with
    ``values.check_values``). Cancelling the calling task stops the step (process group
    killed, query cancelled on the server) and re-raises; set ``ctx.cancel`` instead to get
    a ``cancelled`` outcome back.
    """
    target = STEP_RUNNERS.get(step.kind)
    if target is None:
        return Stopwatch(step, ctx).outcome(
            Status.REFUSED, error=f"a {step.kind} step is done by a person, not run"
        )
    module, _, name = target.partition(":")
    runner: Runner = getattr(importlib.import_module(module), name)
    return await runner(step, ctx)
