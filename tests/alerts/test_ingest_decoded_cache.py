"""The refresh path's JSON cache keeps only label sets of ordinary size: a large one is decoded
each time, so a burst of big alerts leaves nothing behind in it (bench/memory_trace.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from opsbook.alerts import ingest, ingest_writes
from opsbook.alerts.ingest_models import parse_postable_alerts
from opsbook.alerts.service import list_alerts
from opsbook.config import Config

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
CONFIG = Config.model_validate(
    {"service": "t", "integrations": {"prom": {"alertmanager": {"token": "t" * 20}}}}
)


def post(engine: Engine, labels: dict[str, str], annotations: dict[str, str], at: datetime) -> None:
    with engine.begin() as conn:
        ingest.ingest_alertmanager_alerts(
            conn,
            config=CONFIG,
            integration="prom",
            alerts=parse_postable_alerts([{"labels": labels, "annotations": annotations}]),
            now=at,
        )


def test_large_labels_are_compared_without_the_cache(engine: Engine) -> None:
    labels = {"alertname": "Big", **{f"l{k:02d}": "x" * 40 for k in range(60)}}
    ingest_writes._decoded.cache_clear()
    post(engine, labels, {"summary": "one"}, T0)
    post(engine, labels, {"summary": "two"}, T0 + timedelta(seconds=30))
    with engine.connect() as conn:
        [found] = list_alerts(conn)
    assert found.annotations == {"summary": "two"}
    # Only the small details text ("{}") on SQLite; PostgreSQL decodes JSON itself.
    assert ingest_writes._decoded.cache_info().currsize == (engine.dialect.name == "sqlite")


def test_small_labels_still_go_through_the_cache_on_sqlite(engine: Engine) -> None:
    ingest_writes._decoded.cache_clear()
    post(engine, {"alertname": "Small"}, {}, T0)
    post(engine, {"alertname": "Small"}, {}, T0 + timedelta(seconds=30))
    cached = ingest_writes._decoded.cache_info().currsize
    # SQLite hands JSON back as text and compares labels and details through the cache;
    # PostgreSQL decodes them itself.
    assert cached == (2 if engine.dialect.name == "sqlite" else 0)
