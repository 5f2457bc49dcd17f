"""``opsbook runbook list`` and ``show NAME``: the runbooks the server loaded, through
``GET /api/v1/runbooks`` and ``/api/v1/runbooks/{name}``, as every API client command does.

``opsbook runbook import FILE.md``: local only (no server). Turns a free-form operations runbook
into opsbook runbooks (``runbooks/importer.py``) in ``--out`` (default: the config's runbooks
folder, else ./runbooks), prints what it made and what it could not classify, then loads the
written files with the registry loader and prints any error. The result is a first draft.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from opsbook.cli.context import CliContext, get_context
from opsbook.cli.remote import DEFAULT_CONFIG, ConfigOption, connect
from opsbook.cli.runbook_runs import runs_app
from opsbook.config import Config, load
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.runbooks.importer import ImportResult, import_markdown, write_runbooks
from opsbook.runbooks.registry import load_folder

app = typer.Typer(help="Runbooks: list, show, import; run one and move its runs on.")
# run, runs, confirm, tick, request-approval, approve, cancel (cli/runbook_runs.py).
app.registered_commands.extend(runs_app.registered_commands)

DRAFT = "This is a first draft: review every runbook before running it."
RISK_STYLE = {"read": "green", "write": "yellow", "danger": "bold red"}


def _table(**options: Any) -> Table:
    return Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, **options
    )


def _print_errors(cli: CliContext, errors: list[str]) -> None:
    for line in errors:
        cli.err_console.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
    n = len(errors)
    cli.err_console.print(f"[red]{n} runbook error{'s' if n != 1 else ''}[/red]", highlight=False)


@app.command("list")
def list_command(ctx: typer.Context, config: ConfigOption = None) -> None:
    """The runbooks the server loaded: steps by risk, the alerts each answers, its schedule.

    Runbook files that did not load are listed after the table, with FILE:LINE:COL."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    found = remote.api.get("/api/v1/runbooks")
    if found["runbooks"]:
        table = _table()
        table.add_column("name", no_wrap=True)
        table.add_column("title", overflow="fold")
        table.add_column("read", justify="right")
        table.add_column("write", justify="right")
        table.add_column("danger", justify="right")
        table.add_column("alerts", overflow="fold")
        table.add_column("schedule", overflow="fold")
        for runbook in found["runbooks"]:
            counts = runbook["steps_by_risk"]
            table.add_row(
                runbook["name"],
                runbook["title"],
                str(counts["read"]),
                str(counts["write"]),
                str(counts["danger"]),
                ", ".join(runbook["alerts"]),
                runbook["schedule"] or "",
            )
        cli.console.print(table)
    else:
        cli.console.print("no runbooks loaded by the server", highlight=False)
    errors: list[str] = found["errors"]
    if errors:
        _print_errors(cli, errors)
        raise typer.Exit(1)


@app.command("show")
def show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The runbook (its file's stem).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's JSON instead of the text.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """One runbook: its parameters, and each section's steps with id, kind, risk and text."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    try:
        found = remote.api.get(f"/api/v1/runbooks/{urllib.parse.quote(name, safe='')}")
    except NotFound:
        raise NotFound(
            "NAME: no runbook with this name (see `opsbook runbook list`)", field="NAME"
        ) from None
    if as_json:
        cli.console.print_json(json.dumps(found))
        return
    out = cli.console
    out.print(Text(f"{found['title']} ({found['name']})", style="bold"))
    if found["description"]:
        out.print(found["description"], markup=False, highlight=False)
    facts = [("tags", ", ".join(found["tags"])), ("alerts", ", ".join(found["alerts"]))]
    if found["schedule"]:
        zone = f" ({found['timezone']})" if found["timezone"] else ""
        facts.append(("schedule", found["schedule"] + zone))
    for label, value in facts:
        if value:
            out.print(f"{label}: {value}", markup=False, highlight=False)
    if found["parameters"]:
        table = _table(title="parameters", title_justify="left")
        for column in ("name", "type", "default", "allowed", "description"):
            table.add_column(column, overflow="fold")
        for p in found["parameters"]:
            default = "(secret)" if p["secret"] else _shown(p["default"])
            allowed = ", ".join(_shown(a) for a in p["allowed"])
            table.add_row(p["name"], p["type"], default, allowed, p["description"])
        out.print(table)
    out.print()
    section = None
    for step in found["steps"]:
        if step["section"] != section:
            section = step["section"]
            out.rule(Text(section or "(no section)", style="bold"), align="left")
        head = Text()
        head.append(step["id"], style="bold")
        head.append(f"  {step['kind']}  ")
        head.append(f"[{step['risk']}]", style=RISK_STYLE.get(step["risk"], ""))
        if step["risk_reason"]:
            head.append(f" ({step['risk_reason']})", style="dim")
        if step["db"]:
            head.append(f"  db={step['db']}")
        out.print(head)
        out.print(Text(step["text"].rstrip("\n")), soft_wrap=True)
        out.print()
    if not found["steps"]:
        out.print("no steps", highlight=False)


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _local_config(cli: CliContext, config: Path | None) -> tuple[Config | None, Path | None]:
    path = config if config is not None or not DEFAULT_CONFIG.exists() else DEFAULT_CONFIG
    if path is None:
        return None, None
    return load(path, environ=cli.environ), path


def _read_source(file: Path) -> str:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise InputError(f"FILE: {file}: no such file", field="FILE") from None
    except IsADirectoryError:
        raise InputError(f"FILE: {file}: is a directory, not a file", field="FILE") from None
    except OSError as exc:
        raise InputError(f"FILE: {file}: cannot be read ({exc.strerror})", field="FILE") from None
    # The importer repairs what it can; bytes that are not UTF-8 become U+FFFD, not a crash.
    return raw.decode("utf-8", errors="replace")


def _made_table(result: ImportResult, out_dir: Path) -> Table:
    table = _table(title=f"{result.source} -> {out_dir}/", title_justify="left")
    table.add_column("runbook", overflow="fold")
    for column in ("shell", "sql", "http", "manual", "params"):
        table.add_column(column, justify="right")
    for runbook in result.runbooks:
        table.add_row(
            runbook.filename,
            str(runbook.count("shell")),
            str(runbook.count("sql")),
            str(runbook.count("http")),
            str(runbook.count("manual")),
            str(len(runbook.parameters)),
        )
    return table


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A markdown operations runbook.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where to write the runbooks (default: the config's runbooks folder, "
            "else ./runbooks).",
            file_okay=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace runbook files that already exist.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Turn a free-form markdown runbook into opsbook runbooks: a first draft to review.

    Local only: no server is needed. Refuses to replace existing files unless --force."""
    cli = get_context(ctx)
    text = _read_source(file)
    loaded, config_path = _local_config(cli, config) if out is None else (None, None)
    if out is None:
        out = (
            config_path.parent / loaded.runbooks.path
            if loaded is not None and config_path is not None
            else Path("runbooks")
        )
    result = import_markdown(text, source=file.name)
    if not result.runbooks:
        raise InputError(
            f"FILE: {file}: no runbook found (no section with a shell, SQL or HTTP block or "
            "a checklist)",
            field="FILE",
        )
    if not force:
        for filename, _ in result.files():
            if (out / filename).exists():
                raise Conflict(f"{out / filename}: already exists (use --force to replace it)")
    written = write_runbooks(result, out, overwrite=force)
    cli.console.print(_made_table(result, out))
    if result.repaired:
        cli.console.print(f"repaired {result.repaired} mis-decoded characters", highlight=False)
    if result.unclassified:
        cli.console.print(
            Text(f"not classified ({len(result.unclassified)}), kept as text or left out:")
        )
        for note in result.unclassified:
            cli.console.print(f"  {note}", markup=False, highlight=False, soft_wrap=True)
    cli.console.print(Text(DRAFT, style="bold"))
    _check_written(cli, out, written)


def _check_written(cli: CliContext, out_dir: Path, written: list[Path]) -> None:
    """Load the folder as the server would and report the problems of the files just written."""
    _, problems = load_folder(out_dir)
    mine = {str(p) for p in written}
    found = [str(p) for p in problems if p.file in mine]
    if found:
        _print_errors(cli, found)
        raise typer.Exit(1)
    n = len(written)
    cli.console.print(
        f"{n} runbook{'s' if n != 1 else ''} written to {out_dir}; they load "
        "(`opsbook check` checks them against the config)",
        markup=False,
        highlight=False,
    )
