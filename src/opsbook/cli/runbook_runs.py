"""``opsbook runbook run NAME`` and the commands that move a run on (``confirm``, ``tick``,
``approve``, ``request-approval``, ``cancel``) or list runs (``runs``): API clients of
``/api/v1/runbooks/{name}/runs``, ``/api/v1/runs`` and ``/api/v1/approvals``.

``run`` starts the run on the server, then follows it (``GET /api/v1/runs/{id}`` every
``POLL_S``), printing each step as it finishes, and ends with a summary table. Exit codes: 0
succeeded, 1 failed, cancelled or interrupted, 3 waiting (what for, and the command to go on, is
printed). ``confirm``, ``tick`` and ``approve`` follow the run they resumed the same way.
"""

from __future__ import annotations

import time
import urllib.parse
from datetime import datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from opsbook.cli.context import CliContext, get_context
from opsbook.cli.remote import ConfigOption, connect
from opsbook.errors import InputError, NotFound

runs_app = typer.Typer()

POLL_S = 0.5
RESUME_WAIT_S = 10.0
EXIT_WAITING = 3
STATE_STYLE = {
    "ok": "green",
    "done": "green",
    "succeeded": "green",
    "failed": "bold red",
    "timeout": "bold red",
    "refused": "red",
    "cancelled": "yellow",
    "interrupted": "yellow",
    "skipped": "dim",
    "waiting": "cyan",
    "waiting_confirmation": "cyan",
    "waiting_approval": "cyan",
}
FINISHED = {"ok", "failed", "timeout", "cancelled", "refused", "done", "interrupted"}
RunArg = Annotated[int, typer.Argument(metavar="RUN", help="The run's id.", min=1)]
StepArg = Annotated[str, typer.Argument(metavar="STEP", help="The step's id.")]


def _table(**options: Any) -> Table:
    return Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, **options
    )


def _params(given: list[str]) -> dict[str, str]:
    params = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError("--param: give NAME=VALUE", field="--param")
        params[name.strip()] = value
    return params


def _duration(step: dict[str, Any]) -> str:
    if not step["started_at"] or not step["ended_at"]:
        return ""
    spent = datetime.fromisoformat(step["ended_at"]) - datetime.fromisoformat(step["started_at"])
    return f"{spent.total_seconds():.1f}s"


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _print_step(cli: CliContext, step: dict[str, Any]) -> None:
    head = Text()
    head.append(step["step_id"], style="bold")
    head.append("  ")
    head.append_text(_state(step["state"]))
    if step["exit_code"] is not None:
        head.append(f"  exit {step['exit_code']}")
    if step["http_status"] is not None:
        head.append(f"  HTTP {step['http_status']}")
    if step["done_by"]:
        head.append(f"  by {step['done_by']}")
    cli.console.print(head)
    for text in (step["output"], step["error"], step["note"] or ""):
        if text.strip():
            cli.console.print(Text(text.rstrip("\n")), soft_wrap=True)
    if step["truncated"]:
        cli.console.print("(output truncated)", style="dim", highlight=False)


def _blocked(run: dict[str, Any]) -> bool:
    """Whether a waiting run waits for someone. Right after a confirmation, tick or approval
    it is still ``waiting`` until the server resumes it: then nothing blocks it."""
    for step in run["steps"]:
        state = step["state"]
        if state in ("ok", "done", "skipped"):
            continue
        if state == "waiting_confirmation":
            return step["confirmed_by"] is None
        if state == "waiting_approval":
            return not any(
                a["step_id"] == step["step_id"] and a["decision"] == "approve"
                for a in run["approvals"]
            )
        return bool(state == "pending" and step["kind"] == "manual")
    return False


def _follow(cli: CliContext, api: Any, run: dict[str, Any]) -> None:
    """Print each step as it finishes until the run stops; exit with the run's code."""
    printed: set[str] = set()
    resuming = time.monotonic() + RESUME_WAIT_S
    while True:
        for step in run["steps"]:
            if step["state"] in FINISHED and step["step_id"] not in printed:
                printed.add(step["step_id"])
                _print_step(cli, step)
        if run["state"] not in ("pending", "running", "waiting"):
            break
        if run["state"] == "waiting" and (_blocked(run) or time.monotonic() > resuming):
            break
        time.sleep(POLL_S)
        run = api.get(f"/api/v1/runs/{run['id']}")
    _summary(cli, run)
    if run["state"] == "succeeded":
        return
    if run["state"] == "waiting":
        _print_waiting(cli, run)
        raise typer.Exit(EXIT_WAITING)
    raise typer.Exit(1)


def _summary(cli: CliContext, run: dict[str, Any]) -> None:
    table = _table(title=f"run {run['id']} of {run['runbook']}", title_justify="left")
    for column in ("step", "kind", "risk", "state", "duration"):
        table.add_column(column, no_wrap=column != "step", overflow="fold")
    for step in run["steps"]:
        table.add_row(
            step["step_id"], step["kind"], step["risk"], _state(step["state"]), _duration(step)
        )
    cli.console.print()
    cli.console.print(table)
    line = Text(f"run {run['id']}: ")
    line.append_text(_state(run["state"]))
    cli.console.print(line)


def _print_waiting(cli: CliContext, run: dict[str, Any]) -> None:
    prog, run_id = cli.prog, run["id"]
    for step in run["steps"]:
        step_id, state = step["step_id"], step["state"]
        if state == "waiting_confirmation":
            cli.console.print(
                f"step {step_id} ({step['risk']}) waits for a confirmation: "
                f"{prog} runbook confirm {run_id} {step_id}",
                highlight=False,
                markup=False,
            )
        elif state == "waiting_approval":
            open_ = [
                a for a in run["approvals"] if a["step_id"] == step_id and a["decision"] is None
            ]
            if open_:
                hint = f"another person runs: {prog} runbook approve {open_[-1]['id']}"
            else:
                hint = f"ask for it: {prog} runbook request-approval {run_id} {step_id}"
            cli.console.print(
                f"step {step_id} ({step['risk']}) waits for another person's approval; {hint}",
                highlight=False,
                markup=False,
            )
        elif state == "pending" and step["kind"] == "manual":
            cli.console.print(
                f"step {step_id} is done by a person; when done: "
                f"{prog} runbook tick {run_id} {step_id} --note '...'",
                highlight=False,
                markup=False,
            )


def _run_path(run_id: int, step: str | None = None, action: str = "") -> str:
    path = f"/api/v1/runs/{run_id}"
    if step is not None:
        path += f"/steps/{urllib.parse.quote(step, safe='')}"
    return path + (f"/{action}" if action else "")


@runs_app.command("run")
def run_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The runbook (its file's stem).")],
    step: Annotated[
        list[str] | None, typer.Option("--step", metavar="ID", help="Run only this step (again).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="NAME=VALUE", help="A parameter's value (again)."),
    ] = None,
    incident: Annotated[
        int | None, typer.Option("--incident", metavar="N", min=1, help="The incident it is for.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what each step would run; record nothing.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Start a run on the server and follow it until it ends or waits for someone."""
    cli = get_context(ctx)
    body: dict[str, Any] = {"params": _params(param or []), "dry_run": dry_run}
    if step:
        body["steps"] = step
    if incident is not None:
        body["incident_id"] = incident
    remote = connect(cli, config)
    try:
        answer = remote.api.post(f"/api/v1/runbooks/{urllib.parse.quote(name, safe='')}/runs", body)
    except NotFound:
        raise NotFound(
            "NAME: no runbook with this name (see `opsbook runbook list`)", field="NAME"
        ) from None
    if dry_run:
        for preview in answer["steps"]:
            head = Text()
            head.append(preview["step_id"], style="bold")
            head.append(f"  {preview['kind']}  [{preview['risk']}]  needs: {preview['gate']}")
            cli.console.print(head)
            for text in (preview["rendered"], preview["output"], preview["error"]):
                if text.strip():
                    cli.console.print(Text(text.rstrip("\n")), soft_wrap=True)
        cli.console.print("dry run: nothing was run or recorded", highlight=False)
        return
    cli.console.print(f"run {answer['id']} of {answer['runbook']} started", highlight=False)
    _follow(cli, remote.api, answer)


@runs_app.command("runs")
def runs_command(
    ctx: typer.Context,
    runbook: Annotated[str | None, typer.Option("--runbook", metavar="NAME")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    config: ConfigOption = None,
) -> None:
    """The newest runs, newest first."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    found = remote.api.get("/api/v1/runs", runbook=runbook, limit=limit)["runs"]
    if not found:
        cli.console.print("no runs", highlight=False)
        return
    table = _table()
    for column in ("id", "runbook", "state", "by", "created"):
        table.add_column(column, overflow="fold")
    for run in found:
        table.add_row(
            str(run["id"]),
            run["runbook"],
            _state(run["state"]),
            run["created_by"],
            run["created_at"],
        )
    cli.console.print(table)


@runs_app.command("confirm")
def confirm_command(
    ctx: typer.Context, run: RunArg, step: StepArg, config: ConfigOption = None
) -> None:
    """Confirm a write step of a waiting run, then follow the run."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    _follow(cli, remote.api, remote.api.post(_run_path(run, step, "confirm")))


@runs_app.command("tick")
def tick_command(
    ctx: typer.Context,
    run: RunArg,
    step: StepArg,
    note: Annotated[str, typer.Option("--note", help="What was done.")] = "",
    config: ConfigOption = None,
) -> None:
    """Tick off a manual step, then follow the run."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    _follow(cli, remote.api, remote.api.post(_run_path(run, step, "tick"), {"note": note}))


@runs_app.command("request-approval")
def request_approval_command(
    ctx: typer.Context, run: RunArg, step: StepArg, config: ConfigOption = None
) -> None:
    """Ask another person to approve a step; prints the approval's id."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    answer = remote.api.post(_run_path(run, step, "approval"))
    approval = [a for a in answer["approvals"] if a["step_id"] == step][-1]
    cli.console.print(
        f"approval {approval['id']} requested; another person runs: "
        f"{cli.prog} runbook approve {approval['id']}",
        highlight=False,
        markup=False,
    )


@runs_app.command("approve")
def approve_command(
    ctx: typer.Context,
    approval: Annotated[int, typer.Argument(metavar="APPROVAL_ID", min=1)],
    deny: Annotated[bool, typer.Option("--deny", help="Deny it instead.")] = False,
    config: ConfigOption = None,
) -> None:
    """Approve (a person other than the requester) or deny; an approval resumes the run."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    run = remote.api.post(f"/api/v1/approvals/{approval}", {"approve": not deny})
    if deny:
        cli.console.print(f"approval {approval} denied", highlight=False)
        return
    _follow(cli, remote.api, run)


@runs_app.command("cancel")
def cancel_command(ctx: typer.Context, run: RunArg, config: ConfigOption = None) -> None:
    """Cancel a run: a running step is stopped, open steps are skipped."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    answer = remote.api.post(_run_path(run, action="cancel"))
    cli.console.print(f"run {run}: {answer['state']}", highlight=False)
