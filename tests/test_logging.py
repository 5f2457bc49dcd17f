from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import structlog

from opsbook import logging as opsbook_logging
from opsbook.config import Config
from opsbook.redaction import Secret, secret_values

SECRET = "S3cretPw-9z"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    opsbook_logging.configure(stream=out, secrets=[f"postgresql://app:{SECRET}@db/x", "tok-123456"])
    yield out
    for handler in [h for h in root.handlers if h.get_name() == "opsbook-json"]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_log_call_is_one_json_line_with_utc_timestamp_level_and_event(
    stream: io.StringIO,
) -> None:
    structlog.get_logger("opsbook.test").info("request", method="GET", status=200)
    [line] = _lines(stream)
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert isinstance(line["timestamp"], str) and line["timestamp"].endswith("Z")
    datetime.fromisoformat(line["timestamp"])


def test_library_loggers_come_out_as_json_too(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    [line] = _lines(stream)
    assert line == {
        "event": "Started server process [42]",
        "level": "info",
        "logger": "uvicorn.error",
        "timestamp": line["timestamp"],
    }


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (
            f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1/db",
            "postgresql+psycopg://postgres:***@127.0.0.1/db",
        ),
        (
            f"connect to postgresql://u:{SECRET}@h/db failed",
            "connect to postgresql://u:***@h/db failed",
        ),
        (f"host=h user=u password={SECRET} dbname=x", "host=h user=u password=*** dbname=x"),
        (Secret(SECRET), "***"),
        (f"a driver echoed {SECRET} on its own", "a driver echoed *** on its own"),
        ("token tok-123456 leaked", "token *** leaked"),
        ("sqlite:///var/lib/opsbook.db", "sqlite:///var/lib/opsbook.db"),
        ("https://example.com/ok?page=2", "https://example.com/ok?page=2"),
    ],
)
def test_secrets_are_masked_in_values(stream: io.StringIO, value: object, shown: str) -> None:
    structlog.get_logger().warning("event", value=value)
    [line] = _lines(stream)
    assert line["value"] == shown


def test_secrets_are_masked_in_nested_values_messages_and_tracebacks(stream: io.StringIO) -> None:
    log = structlog.get_logger()
    log.info(f"url postgresql://u:{SECRET}@h/db", nested={"dsn": [f"redis://:{SECRET}@h:6379"]})
    try:
        raise RuntimeError(f"cannot reach postgresql://u:{SECRET}@h/db")
    except RuntimeError:
        log.exception("failed")
    logging.getLogger("lib").error("dsn %s", f"postgresql://u:{SECRET}@h/db")
    assert SECRET not in stream.getvalue()
    first, second, third = _lines(stream)
    assert first["event"] == "url postgresql://u:***@h/db"
    assert first["nested"] == {"dsn": ["redis://***@h:6379"]}
    assert "RuntimeError: cannot reach postgresql://u:***@h/db" in str(second["exception"])
    assert third["event"] == "dsn postgresql://u:***@h/db"


def test_configuring_twice_does_not_double_lines(stream: io.StringIO) -> None:
    opsbook_logging.configure(stream=stream)
    structlog.get_logger().info("once")
    assert len(_lines(stream)) == 1


def test_secret_values_finds_every_secret_in_a_config() -> None:
    config = Config.model_validate(
        {"service": "t", "store": {"url": f"postgresql://u:{SECRET}@h/db"}}
    )
    assert secret_values(config) == [f"postgresql://u:{SECRET}@h/db"]
    assert sorted(secret_values({"a": [Secret("x"), (Secret("y"),)]})) == ["x", "y"]


def _batched(interval_s: float) -> tuple[opsbook_logging.BatchedStreamHandler, io.StringIO]:
    out = io.StringIO()
    handler = opsbook_logging.BatchedStreamHandler(out, interval_s=interval_s)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    return handler, out


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("opsbook.test", level, __file__, 1, message, None, None)


def test_batched_info_lines_wait_and_a_warning_writes_them_all_in_order() -> None:
    handler, out = _batched(interval_s=3600)  # the timer never fires during the test
    try:
        handler.handle(_record(logging.INFO, "one"))
        handler.handle(_record(logging.INFO, "two"))
        assert out.getvalue() == ""
        handler.handle(_record(logging.WARNING, "three"))
        assert out.getvalue() == "INFO one\nINFO two\nWARNING three\n"
    finally:
        handler.close()


def test_batched_lines_are_written_by_the_timer_and_by_close() -> None:
    handler, out = _batched(interval_s=0.02)
    handler.handle(_record(logging.INFO, "soon"))
    deadline = time.monotonic() + 5
    while out.getvalue() == "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert out.getvalue() == "INFO soon\n"
    closing, kept = _batched(interval_s=3600)
    closing.handle(_record(logging.INFO, "last"))
    closing.close()
    assert kept.getvalue() == "INFO last\n"


def test_configure_batches_only_when_asked(stream: io.StringIO) -> None:
    [plain] = [h for h in logging.getLogger().handlers if h.get_name() == "opsbook-json"]
    assert not isinstance(plain, opsbook_logging.BatchedStreamHandler)
    opsbook_logging.configure(stream=stream, batch_s=3600)
    [batched] = [h for h in logging.getLogger().handlers if h.get_name() == "opsbook-json"]
    assert isinstance(batched, opsbook_logging.BatchedStreamHandler)
    structlog.get_logger("opsbook.test").info("request")
    assert stream.getvalue() == ""
    opsbook_logging.flush()
    assert [line["event"] for line in _lines(stream)] == ["request"]
