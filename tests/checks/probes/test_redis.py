"""The redis probe against the real Redis server, with keys under a per-test prefix."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from opsbook.checks.models import Check, Observation
from opsbook.checks.probes import probe_for
from opsbook.checks.probes.base import ProbeContext
from opsbook.checks.probes.redis import describe_error, info_values
from opsbook.config import CheckSpec, loads
from opsbook.errors import ConfigError

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "S3cretPw-9z"


async def _probe(url: str, **fields: Any) -> Observation:
    spec = CheckSpec.model_validate({"redis": {"url": url, **fields.pop("redis", {})}, **fields})
    return await probe_for("redis").run(Check("cache", spec), context=ProbeContext())


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = f"opsbook-test:{uuid.uuid4().hex}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


async def test_it_pings_and_reads_memory_clients_and_hit_rate() -> None:
    seen = await _probe(REDIS_URL)
    assert (seen.connected, seen.error) == (True, None)
    values = dict(seen.values)
    assert set(values) == {
        "connected",
        "used_memory_bytes",
        "maxmemory_bytes",
        "memory_pct",
        "hit_rate_pct",
        "connected_clients",
    }
    used = values["used_memory_bytes"]
    assert isinstance(used, int) and used > 0
    clients = values["connected_clients"]
    assert isinstance(clients, int) and clients >= 1
    assert seen.latency_ms > 0


async def test_queue_depth_is_read_by_the_keys_type(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.rpush(f"{prefix}rq:queue:default", "a", "b", "c")
    await client.zadd(f"{prefix}rq:registry:failed:default", {"j1": 1, "j2": 2})
    await client.xadd(f"{prefix}events", {"k": "v"})
    await client.sadd(f"{prefix}set", "x", "y", "z", "w")
    await client.set(f"{prefix}plain", "not a queue")
    await client.aclose()
    queues = {
        "default_depth": f"{prefix}rq:queue:default",
        "dlq_depth": f"{prefix}rq:registry:failed:default",
        "events_depth": f"{prefix}events",
        "set_size": f"{prefix}set",
        "missing_depth": f"{prefix}missing",
        "plain": f"{prefix}plain",
    }
    seen = await _probe(REDIS_URL, redis={"queues": queues})
    assert seen.error is None
    assert {name: seen.values[name] for name in queues} == {
        "default_depth": 3,
        "dlq_depth": 2,
        "events_depth": 1,
        "set_size": 4,
        "missing_depth": 0,
        "plain": None,
    }


async def test_a_refused_connection_says_so(closed_port: int) -> None:
    seen = await _probe(f"redis://:{SECRET}@127.0.0.1:{closed_port}/0")
    assert seen.error == f"connect to 127.0.0.1:{closed_port} refused"
    assert seen.connected is False
    assert SECRET not in repr(seen)


async def test_a_silent_server_times_out_with_the_configured_timeout(silent_port: int) -> None:
    seen = await _probe(f"redis://127.0.0.1:{silent_port}/0", timeout="1s", every="5s")
    assert seen.error == f"redis at 127.0.0.1:{silent_port} timed out after 1s"
    assert 900 <= seen.latency_ms < 3000


async def test_a_wrong_password_is_an_authentication_error_without_the_password() -> None:
    seen = await _probe(f"redis://bob:{SECRET}@127.0.0.1:6379/0")
    assert seen.error is not None
    assert seen.error.startswith("authentication to 127.0.0.1:6379 failed: ")
    assert SECRET not in repr(seen)


async def test_a_database_out_of_range_is_reported() -> None:
    seen = await _probe("redis://127.0.0.1:6379/999")
    assert seen.error == "redis at 127.0.0.1:6379 answered an error: DB index is out of range"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            redis_errors.ConnectionError(
                "Error 111 connecting to 10.0.0.9:6379. Connection refused."
            ),
            "connect to 10.0.0.9:6379 refused",
        ),
        (
            redis_errors.TimeoutError("Timeout reading from socket"),
            "redis at 10.0.0.9:6379 timed out after 5s",
        ),
        (
            redis_errors.AuthenticationError("invalid username-password pair or user is disabled."),
            "authentication to 10.0.0.9:6379 failed: "
            "invalid username-password pair or user is disabled.",
        ),
        (
            redis_errors.ResponseError("NOAUTH Authentication required."),
            "authentication to 10.0.0.9:6379 failed: a password is required",
        ),
        (
            redis_errors.ConnectionError(
                "Error -2 connecting to cache.invalid:6379. Name or service not known."
            ),
            "connect to 10.0.0.9:6379 failed: Error -2 connecting to cache.invalid:6379. "
            "Name or service not known.",
        ),
    ],
)
def test_driver_errors_are_worded_for_the_user(exc: Exception, expected: str) -> None:
    assert describe_error(exc, target="10.0.0.9:6379", timeout_text="5s") == expected


@pytest.mark.parametrize(
    ("info", "memory_pct", "hit_rate_pct"),
    [
        (
            {"used_memory": 50, "maxmemory": 200, "keyspace_hits": 3, "keyspace_misses": 1},
            25.0,
            75.0,
        ),
        ({"used_memory": 50, "maxmemory": 0, "keyspace_hits": 0, "keyspace_misses": 0}, None, None),
    ],
)
def test_percentages_are_none_where_they_mean_nothing(
    info: dict[str, int], memory_pct: float | None, hit_rate_pct: float | None
) -> None:
    values = info_values(info)
    assert (values["memory_pct"], values["hit_rate_pct"]) == (memory_pct, hit_rate_pct)


def test_a_list_of_queues_is_short_for_lists_named_after_them() -> None:
    spec = CheckSpec.model_validate({"redis": {"url": REDIS_URL, "queues": ["celery", "mail"]}})
    assert spec.redis is not None
    assert spec.redis.queues == {"celery": "celery", "mail": "mail"}


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        (
            "{Default: 'rq:queue:default'}",
            "3:51: checks.c.redis.queues.Default: 'Default' is not a value name "
            "(use lowercase letters, digits and '_', e.g. default_depth)",
        ),
        (
            "{memory_pct: 'q'}",
            "3:54: checks.c.redis.queues.memory_pct: 'memory_pct' is already a redis value; "
            "name the queue something else",
        ),
        (
            "{q: [1]}",
            "3:42: checks.c.redis.queues.q: expected a string, got a list",
        ),
    ],
)
def test_it_rejects_bad_queue_names_at_load(queues: str, message: str) -> None:
    text = f"service: s\nchecks:\n  c: {{redis: {{url: 'redis://x', queues: {queues}}}}}\n"
    with pytest.raises(ConfigError) as caught:
        loads(text, environ={})
    assert str(caught.value) == f"<string>:{message}"
