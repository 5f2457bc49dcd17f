"""``opsbook status-page export DIR``: the public status page as static files, the bytes
``opsbook serve`` answers at ``/status/`` and ``/api/v2/``, read from the store directly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from opsbook.cli.context import get_context, open_store
from opsbook.errors import InputError
from opsbook.statuspage.build import build_snapshot
from opsbook.statuspage.compress import SUFFIX, exported, precompress
from opsbook.statuspage.publish import anchored, write_site
from opsbook.statuspage.site import render_site

KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "page": ("/status/, /status/history/", ("index.html", "history/index.html")),
    "stylesheet and logo": ("/status/", ("status.css", "logo.")),
    "feeds": ("/status/feed.rss, /status/feed.atom", ("feed.",)),
    "badges": ("/status/badge/<component>/", ("badge/",)),
    "Statuspage JSON": ("/api/v2/", ("api/v2/",)),
    "gzipped copies (<file>.gz)": ("the same paths, Content-Encoding: gzip", ()),
}
"""How the summary groups the files: where the server serves them, and their path prefixes."""


def _kind(name: str) -> str:
    if name.endswith(SUFFIX):
        return "gzipped copies (<file>.gz)"
    for kind, (_, prefixes) in KINDS.items():
        if name.startswith(prefixes):
            return kind
    return "stylesheet and logo"


app = typer.Typer(help="The public status page.", no_args_is_help=True)


@app.command("export")
def export(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to write the page into.")],
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False)
    ] = Path("opsbook.yaml"),
) -> None:
    """Write the status page (HTML, CSS, feeds, badges, api/v2 JSON) into DIR for any static
    host; files already up to date are left alone, files an earlier export made and this one
    does not are removed."""
    cli = get_context(ctx)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"DIR: {folder} exists and is not a folder", field="DIR")
    with Progress(console=cli.err_console, transient=True) as progress:
        step = progress.add_task("Reading the store", total=3)
        with open_store(cli, config) as (loaded, engine):
            loaded = anchored(loaded, folder=config.parent)
            snapshot = build_snapshot(engine, loaded, cli.clock)
        progress.update(step, advance=1, description="Rendering")
        files = render_site(snapshot, loaded)
        # Beside each text file its gzipped form, the bytes the server sends for gzip.
        files = exported(files, precompress(files))
        progress.update(step, advance=1, description=f"Writing {len(files)} files")
        try:
            written = write_site(folder, files)
        except OSError as exc:
            raise InputError(
                f"DIR: cannot write into {folder}: {exc.strerror or exc}", field="DIR"
            ) from None
        progress.update(step, advance=1)
    table = Table(title=f"Status page exported to {escape(str(folder))}", title_justify="left")
    table.add_column("files")
    table.add_column("count", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("served at")
    kinds: dict[str, list[str]] = {}
    for name in files:
        kinds.setdefault(_kind(name), []).append(name)
    for kind, (where, _) in KINDS.items():
        names = kinds.get(kind, [])
        if names:
            size = sum(len(files[n]) for n in names)
            table.add_row(kind, str(len(names)), str(size), where)
    cli.console.print(table)
    cli.console.print(
        f"{len(files)} files: {written.changed} written, {written.unchanged} unchanged, "
        f"{written.removed} removed. Status: {escape(snapshot.status.description)}.",
        highlight=False,
    )
