"""Schema migrations, run in code (no alembic.ini): upgrade, and where a store stands.

The scripts live in ``opsbook/store/migrations/versions`` and are named ``YYYY-MM-DD_slug.py``.
Each function connects, so each may raise ``StoreError`` when the store is unreachable.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from opsbook.errors import StoreError
from opsbook.store.engine import unreachable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def target_metadata() -> sa.MetaData:
    """The metadata with every table registered, for autogenerate and schema comparisons."""
    from opsbook.store import audit  # noqa: F401 - registers its tables on the shared metadata
    from opsbook.store.metadata import metadata

    return metadata


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    # ConfigParser interpolates "%"; escape it in case the install path contains one.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    # Reading the scripts imports each of them (~20 ms); they cannot change while we run.
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code expects the store to be at."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package always ships its first migration
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The store's revision, or None for a store that was never migrated."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise unreachable(engine, exc) from None


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def upgrade(engine: Engine) -> None:
    """Bring the store to the head revision in one transaction where the backend allows it.

    A no-op when already at head. Raises ``StoreError`` when the store is unreachable or is at a
    revision this code does not know (it was migrated by a newer opsbook).
    """
    known = {rev.revision for rev in _scripts().walk_revisions()}
    try:
        with engine.begin() as conn:
            at = MigrationContext.configure(conn).get_current_revision()
            if at is not None and at not in known:
                raise StoreError(
                    f"the store is at revision {at}, which this opsbook does not know "
                    f"(head is {head_revision()}); it was migrated by a newer version"
                )
            if at == head_revision():
                return  # alembic would read every script again to find nothing to run
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except DBAPIError as exc:
        raise unreachable(engine, exc) from None
