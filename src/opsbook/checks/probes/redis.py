"""The ``redis`` kind: PING, memory, hit rate, clients, and the depth of named queues.

Queue depth is read by the key's type: list LLEN (RQ and Celery queues), zset ZCARD (RQ's
failed-job registry, i.e. the dead-letter queue), stream XLEN, set SCARD; a missing key is 0.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar, cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from opsbook.checks.models import Check, Observation, Value
from opsbook.checks.probes.base import ProbeContext
from opsbook.config.checks import RedisSpec
from opsbook.config.units import format_duration
from opsbook.redaction import mask_values, redact_text

_LENGTH_COMMAND = {"list": "LLEN", "zset": "ZCARD", "stream": "XLEN", "set": "SCARD"}


def target_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    except ValueError:
        return "redis"


def describe_error(exc: Exception, *, target: str, timeout_text: str) -> str:
    """A redis-py error in the user's terms: what failed and where; never the URL."""
    text = str(exc)
    if isinstance(exc, redis_errors.TimeoutError | TimeoutError):
        return f"redis at {target} timed out after {timeout_text}"
    if isinstance(exc, redis_errors.AuthenticationError):
        return f"authentication to {target} failed: {text}"
    if isinstance(exc, redis_errors.ConnectionError):
        if re.search(r"Connect call failed|Connection refused|Error 111", text):
            return f"connect to {target} refused"
        if "Authentication required" in text or text.startswith("NOAUTH"):
            return f"authentication to {target} failed: a password is required"
        return f"connect to {target} failed: {text}"
    if text.startswith("NOAUTH"):
        return f"authentication to {target} failed: a password is required"
    return f"redis at {target} answered an error: {text}"


def info_values(info: Mapping[str, Any]) -> dict[str, Value]:
    """The built-in values from merged ``INFO memory``, ``stats`` and ``clients`` fields."""
    used = int(info.get("used_memory", 0))
    maximum = int(info.get("maxmemory", 0))
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return {
        "used_memory_bytes": used,
        "maxmemory_bytes": maximum,
        # maxmemory 0 means "no limit", so a percentage of it means nothing.
        "memory_pct": round(100 * used / maximum, 2) if maximum else None,
        "hit_rate_pct": round(100 * hits / (hits + misses), 2) if hits + misses else None,
        "connected_clients": int(info.get("connected_clients", 0)),
    }


class RedisProbe:
    kind: ClassVar[str] = "redis"

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.redis
        if not isinstance(spec, RedisSpec):  # pragma: no cover - the scheduler routes by kind
            raise TypeError(f"check {check.id} is not a redis check")
        url = spec.url.reveal()
        target = target_of(url)
        timeout_s = check.spec.timeout.total_seconds()
        started = context.clock.monotonic()
        try:
            client = aioredis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
        except ValueError as exc:
            error = f"the redis URL is not valid: {exc}"
            return Observation(
                latency_ms=0.0,
                connected=False,
                error=mask_values(redact_text(error), [url, *_passwords(url)]),
            )
        connected = False
        try:
            async with asyncio.timeout(timeout_s):
                # redis-py types ping() for both its sync and async clients.
                await cast("Awaitable[bool]", client.ping())
                connected = True
                latency_ms = (context.clock.monotonic() - started) * 1000
                values = await _measure(client, spec.queues)
        except (redis_errors.RedisError, TimeoutError, OSError) as exc:
            error = describe_error(
                exc, target=target, timeout_text=format_duration(check.spec.timeout)
            )
            return Observation(
                latency_ms=(context.clock.monotonic() - started) * 1000,
                connected=connected,
                error=mask_values(redact_text(error), [url, *_passwords(url)]),
            )
        finally:
            await client.aclose()
        return Observation(latency_ms=latency_ms, connected=True, values=values)


async def _measure(client: aioredis.Redis, queues: Mapping[str, str]) -> dict[str, Value]:
    async with client.pipeline(transaction=False) as pipe:
        pipe.info("memory")
        pipe.info("stats")
        pipe.info("clients")
        for key in queues.values():
            pipe.type(key)
        replies = await pipe.execute()
    info: dict[str, Any] = {**replies[0], **replies[1], **replies[2]}
    values: dict[str, Value] = {"connected": True, **info_values(info)}
    types = [t.decode() if isinstance(t, bytes) else str(t) for t in replies[3:]]
    measured = [
        (name, key, _LENGTH_COMMAND.get(kind))
        for (name, key), kind in zip(queues.items(), types, strict=True)
    ]
    async with client.pipeline(transaction=False) as pipe:
        for _, key, command in measured:
            if command is not None:
                pipe.execute_command(command, key)
        lengths = iter(await pipe.execute())
    for (name, _, command), kind in zip(measured, types, strict=True):
        if command is not None:
            values[name] = int(next(lengths))
        else:
            # "none" is a key that does not exist: an empty queue. A string or hash is no queue.
            values[name] = 0 if kind == "none" else None
    return values


def _passwords(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password] if password else []
