"""Probe kinds, one module each, listed in one table and imported lazily (STYLE.md R2)."""

from __future__ import annotations

import importlib
from functools import cache

from opsbook.checks.probes.base import Probe, ProbeContext

PROBE_KINDS: dict[str, str] = {
    "http": "opsbook.checks.probes.http:HttpProbe",
    "tcp": "opsbook.checks.probes.tcp:TcpProbe",
    "dns": "opsbook.checks.probes.dns:DnsProbe",
    "tls": "opsbook.checks.probes.tls:TlsProbe",
    "postgres": "opsbook.checks.probes.postgres:PostgresProbe",
    "redis": "opsbook.checks.probes.redis:RedisProbe",
    "metric": "opsbook.checks.probes.metric:MetricProbe",
    "command": "opsbook.checks.probes.command:CommandProbe",
}
"""Polled kinds. ``heartbeat`` is absent on purpose: it is pushed to us (checks/heartbeats.py)."""


@cache
def probe_for(kind: str) -> Probe:
    """The probe instance for ``kind``. Raises ``KeyError`` for a kind that is not polled."""
    module_name, _, class_name = PROBE_KINDS[kind].partition(":")
    probe: Probe = getattr(importlib.import_module(module_name), class_name)()
    return probe


__all__ = ["PROBE_KINDS", "Probe", "ProbeContext", "probe_for"]
