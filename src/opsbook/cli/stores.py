"""Which store a command talks to, and the checks that keep a command from creating one.

The server and the CLI must agree on the store for one config, or the CLI reads an empty store
and reports all clear while alerts fire. ``store_target`` is that one rule (``opsbook serve``,
``db`` and every command that reads the store use it), and it says where the URL came from, so
an error can name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError

from opsbook.config import Config
from opsbook.errors import StoreError
from opsbook.redaction import Secret
from opsbook.store import current_revision, display_url, head_revision, resolve_url
from opsbook.store.engine import ENV_VAR


@dataclass(frozen=True)
class StoreTarget:
    """The store a command talks to, and where that choice came from (said in every error)."""

    url: Secret
    origin: str

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, or None for PostgreSQL and in-memory SQLite."""
        return sqlite_file(self.url)


def sqlite_file(url: Secret) -> Path | None:
    try:
        parsed = sa.make_url(url.reveal())
    except ArgumentError:
        return None  # create_engine says what is wrong with it
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):  # a URI filename; SQLite reads it, we do not
        return None
    return Path(parsed.database)


def store_target(loaded: Config, *, config: Path, environ: Mapping[str, str]) -> StoreTarget:
    """``OPSBOOK_DATABASE_URL``, else ``store.url`` from ``config``, else the default SQLite file.

    A relative SQLite path in ``store.url`` is relative to the config file's folder, so every
    command given the same config (``opsbook serve`` included) finds the same store wherever
    it runs from; one from ``OPSBOOK_DATABASE_URL`` or the default is relative to the working
    directory, like any path typed in a shell.
    """
    if environ.get(ENV_VAR, "").strip():
        return StoreTarget(resolve_url(None, environ=environ), f"from {ENV_VAR}")
    if loaded.store.url:
        url = _anchored(loaded.store.url, folder=config.parent)
        return StoreTarget(url, f"from store.url in {config}")
    default = resolve_url(None, environ={})
    return StoreTarget(default, f"the default: {config} has no store.url and {ENV_VAR} is unset")


def _anchored(url: Secret, *, folder: Path) -> Secret:
    path = sqlite_file(url)
    if path is None or path.is_absolute():
        return url
    parsed = sa.make_url(url.reveal()).set(database=str((folder / path).resolve()))
    return Secret(parsed.render_as_string(hide_password=False))


def _point_at(config: Path) -> str:
    return f"point at the store `opsbook serve` uses with store.url in {config} or with {ENV_VAR}"


def require_store(target: StoreTarget, *, config: Path) -> None:
    """Raise ``StoreError`` unless ``target`` is an existing SQLite file or not SQLite at all.

    Connecting to a SQLite path creates the file; a command that reads (or writes through the
    domain) must never do that: an empty new store answers "no alerts firing" to a reader.
    """
    path = target.sqlite_file
    if path is not None and not path.exists():
        raise StoreError(
            f"no store at {path.absolute()} ({target.origin}); nothing was created. "
            f"{_point_at(config)}"
        )


def check_revision(engine: Engine, target: StoreTarget, *, config: Path) -> None:
    """Raise ``StoreError`` naming the store and what to do when it is not at this schema."""
    at, head = current_revision(engine), head_revision()
    if at == head:
        return
    shown = f"store {display_url(target.url)} ({target.origin})"
    if at is None:
        # `opsbook serve` migrates its store as it starts, so a running server never left this
        # one empty: it is the wrong store. `db upgrade` here would only hide that.
        raise StoreError(
            f"{shown} holds no opsbook data (it was never migrated), so no opsbook server uses "
            f"it; {_point_at(config)}"
        )
    raise StoreError(
        f"{shown} is at schema revision {at}, and this opsbook expects {head}: the store was "
        f"last migrated by another opsbook version; use the opsbook the server runs, or "
        f"upgrade the server (`opsbook serve` migrates as it starts; "
        f"`opsbook db upgrade --config {config}` does it by hand)"
    )


def make_sqlite_folder(target: StoreTarget) -> None:
    """Create the folder of a SQLite store about to be created (``serve``, ``db upgrade``):
    SQLite creates the file but not its folder (the demo's ``.opsbook-demo/``)."""
    path = target.sqlite_file
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder of the store {path.absolute()} ({target.origin}): "
            f"{exc.strerror}"
        ) from None
