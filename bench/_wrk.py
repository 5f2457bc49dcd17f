"""wrk (Debian's ``wrk``, C, one thread) as the load generator for back-to-back HTTP runs.

A Python client on the load generator's core tops out near 2,000 requests a second reading
large bodies: past that, its own queue is what a latency figure measures, for nginx as much as
for opsbook. wrk keeps ``connections`` requests in flight, each sent when the last answer is
read, for a small share of a core, so the figures are the server's.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from _peers import require

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m)"


@dataclass(frozen=True)
class WrkRun:
    requests: int
    seconds: float
    rate: float  # requests per second
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse(out: str) -> WrkRun:
    """wrk's ``--latency`` report; refuses a run with errors or non-2xx answers, which would
    make the latencies those of failures."""
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"wrk saw {bad.group(1)} answers that were not 2xx or 3xx:\n{out}")
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        raise RuntimeError(f"wrk saw socket errors ({errors.group(1)}):\n{out}")
    cuts = {int(p): _ms(v, u) for p, v, u in re.findall(rf"(\d+)%\s+{_DURATION}", out)}
    latency = re.search(rf"Latency\s+{_DURATION}\s+{_DURATION}\s+{_DURATION}", out)
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if latency is None or done is None or not {50, 90, 99} <= cuts.keys():
        raise RuntimeError(f"could not read wrk's report:\n{out}")
    seconds = _ms(done.group(2), done.group(3)) / 1000
    requests = int(done.group(1))
    return WrkRun(
        requests=requests,
        seconds=seconds,
        rate=requests / seconds,
        p50_ms=cuts[50],
        p90_ms=cuts[90],
        p99_ms=cuts[99],
        max_ms=_ms(latency.group(5), latency.group(6)),
    )


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    core: str,
    headers: Mapping[str, str] | None = None,
) -> WrkRun:
    """``connections`` connections loading ``url`` back to back for ``seconds``, wrk's one
    thread pinned to ``core``."""
    command = ["taskset", "-c", core, require("wrk"), "-t1", f"-c{connections}"]
    command += [f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)
