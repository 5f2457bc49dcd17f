from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import opsbook.accounts.tables
import opsbook.alerts.tables
import opsbook.checks.pings
import opsbook.checks.tables
import opsbook.incidents.tables
import opsbook.notify.tables
import opsbook.runbooks.tables
import opsbook.statuspage.subscriber_tables
from opsbook.errors import StoreError
from opsbook.store import create_engine, current_revision, head_revision, is_current, upgrade
from opsbook.store.migrate import MIGRATIONS_DIR, target_metadata

# These tests watch migrations run on a store nothing has touched.
pytestmark = pytest.mark.empty_store


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def test_an_empty_store_has_no_revision(engine: Engine) -> None:
    assert current_revision(engine) is None
    assert not is_current(engine)


def test_upgrade_brings_an_empty_store_to_head(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert is_current(engine)
    assert "audit_event" in sa.inspect(engine).get_table_names()


def test_upgrading_twice_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        before = sorted(sa.inspect(conn).get_table_names())
    upgrade(engine)
    with engine.connect() as conn:
        assert sorted(sa.inspect(conn).get_table_names()) == before
    assert current_revision(engine) == head_revision()


def test_the_migrated_schema_matches_the_table_definitions(engine: Engine) -> None:
    # Every domain's tables are registered, so a table missing from the migrations shows up.
    assert opsbook.alerts.tables.alert.name in target_metadata().tables
    assert opsbook.notify.tables.notification.name in target_metadata().tables
    assert opsbook.checks.tables.check_result.name in target_metadata().tables
    assert opsbook.checks.pings.ping.name in target_metadata().tables
    assert opsbook.incidents.tables.incident.name in target_metadata().tables
    assert opsbook.accounts.tables.api_token.name in target_metadata().tables
    assert opsbook.runbooks.tables.runbook_run.name in target_metadata().tables
    assert opsbook.statuspage.subscriber_tables.status_subscriber.name in target_metadata().tables
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), target_metadata())
    assert diff == []


def test_constraint_names_follow_the_naming_convention(engine: Engine) -> None:
    upgrade(engine)
    inspector = sa.inspect(engine)
    assert inspector.get_pk_constraint("audit_event")["name"] in {"pk_audit_event", None}
    assert [ix["name"] for ix in inspector.get_indexes("audit_event")] == ["ix_audit_event_at"]


def test_it_refuses_a_store_migrated_by_a_newer_opsbook(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    with pytest.raises(StoreError, match="revision ffffffffffff, which this opsbook does not know"):
        upgrade(engine)


def test_migration_files_are_named_by_date_and_slug() -> None:
    names = [p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")]
    assert names
    for name in names:
        date, _, slug = name.removesuffix(".py").partition("_")
        assert len(date) == 10 and date[4] == date[7] == "-", name
        assert slug and slug == slug.lower(), name
