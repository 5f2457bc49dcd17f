"""Probes per CPU-second: opsbook vs Prometheus blackbox_exporter, same target, same run.

    .venv/bin/python bench/probes.py [--checks 1500] [--seconds 30]
    OPSBOOK_BENCH_PYSPY=/tmp/probes .venv/bin/python bench/probes.py   # + /tmp/probes-probes.txt

Both probe one local nginx (``/health``, a JSON body) at the same rate: ``--checks`` probes a
second, 1,500 by default, which saturates both on one core of a shared 2-core machine (issue 15),
so the figure is the cost of a probe rather than of an idle loop. opsbook runs as
``opsbook serve`` with that many HTTP checks, each ``every: 1s`` with a status and a JSON body
condition, results stored in SQLite. blackbox_exporter is driven the way Prometheus drives it
(``GET /probe?target=...`` per probe, at most 256 at once) with a status and a body regexp; it
stores nothing. Each measured process is pinned to its own core (nginx to the other) and only
its own CPU time counts. Target: opsbook >= 1.5x blackbox_exporter.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import blackbox_exporter, cpu_seconds, free_port, nginx, wait_http
from _summary import record

WARMUP_S = 5.0
MEASURED_CORE = "1"
TARGET_CORE = "0"


@dataclass
class Measurement:
    name: str
    probes: int
    failures: int
    cpu_s: float

    @property
    def per_cpu_second(self) -> float:
        return self.probes / self.cpu_s if self.cpu_s else float("inf")


def _pin(pid: int, core: str) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", core, str(pid)], check=False, capture_output=True)


def pyspy(pid: int, *, seconds: float, name: str) -> subprocess.Popen[bytes] | None:
    """With ``OPSBOOK_BENCH_PYSPY=PREFIX`` (py-spy on PATH, or its path in
    ``OPSBOOK_BENCH_PYSPY_BIN``), the measured window is sampled into ``PREFIX-<name>.txt``
    (collapsed stacks, without pausing the server): where opsbook's CPU goes."""
    prefix = os.environ.get("OPSBOOK_BENCH_PYSPY")
    if not prefix:
        return None
    command = [os.environ.get("OPSBOOK_BENCH_PYSPY_BIN", "py-spy"), "record", "--pid", str(pid)]
    command += ["--duration", str(int(seconds)), "--rate", "200", "--format", "raw"]
    command += ["--output", f"{prefix}-{name}.txt", "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _opsbook_config(target: str, n: int) -> str:
    lines = ["service: bench", "checks:"]
    for i in range(n):
        lines += [
            f"  c{i:05d}:",
            f"    http: {{url: '{target}?c={i}'}}",
            "    every: 1s",
            "    timeout: 900ms",
            "    conditions: ['[STATUS] == 200', '[BODY].status == UP']",
        ]
    return "\n".join(lines) + "\n"


def measure_opsbook(workdir: Path, target: str, *, checks: int, seconds: float) -> Measurement:
    config = workdir / "opsbook.yaml"
    config.write_text(_opsbook_config(target, checks))
    db = workdir / "opsbook.db"
    port = free_port()
    env = {**os.environ, "OPSBOOK_DATABASE_URL": f"sqlite:///{db}"}
    command = [
        sys.executable,
        "-m",
        "opsbook",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        _pin(process.pid, MEASURED_CORE)
        wait_http(f"http://127.0.0.1:{port}/health")
        time.sleep(WARMUP_S)
        started = datetime.now(UTC)
        cpu0 = cpu_seconds(process.pid)
        spy = pyspy(process.pid, seconds=seconds, name="probes")
        time.sleep(seconds)
        cpu1 = cpu_seconds(process.pid)
        ended = datetime.now(UTC)
        if spy is not None:
            spy.wait(timeout=30)
        time.sleep(3)  # let the last batch flush
    finally:
        process.terminate()
        process.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM check_result WHERE started_at >= ? AND started_at < ?"
            " GROUP BY state",
            (
                started.replace(tzinfo=None).isoformat(sep=" "),
                ended.replace(tzinfo=None).isoformat(sep=" "),
            ),
        ).fetchall()
    counts = dict(rows)
    total = sum(counts.values())
    return Measurement("opsbook", total, total - counts.get("up", 0), cpu1 - cpu0)


async def _drive_blackbox(url: str, target: str, *, rate: int, seconds: float) -> tuple[int, int]:
    probe = f"{url}/probe?module=http_json&target={quote(target, safe='')}"
    ok = failed = 0
    # Bounded, as Prometheus' scrape pool is: past saturation probes queue here instead of
    # opening a socket each (1,500 a second ran out of file descriptors).
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            nonlocal ok, failed
            async with session.get(probe) as response:
                text = await response.text()
            if "\nprobe_success 1" in text:
                ok += 1
            else:
                failed += 1

        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return ok, failed


def measure_blackbox(workdir: Path, target: str, *, rate: int, seconds: float) -> Measurement:
    with blackbox_exporter(workdir) as peer:
        _pin(peer.pid, MEASURED_CORE)
        asyncio.run(_drive_blackbox(peer.url, target, rate=rate, seconds=WARMUP_S))
        cpu0 = cpu_seconds(peer.pid)
        ok, failed = asyncio.run(_drive_blackbox(peer.url, target, rate=rate, seconds=seconds))
        cpu1 = cpu_seconds(peer.pid)
    return Measurement("blackbox_exporter", ok + failed, failed, cpu1 - cpu0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checks", type=int, default=1500, help="probes per second for each tool")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per tool")
    args = parser.parse_args()
    # At 1,500 probes a second the driver holds more than the default 1,024 sockets open.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-") as tmp:
        workdir = Path(tmp)
        with nginx(workdir) as target:
            _pin(target.pid, TARGET_CORE)
            ours = measure_opsbook(workdir, target.url, checks=args.checks, seconds=args.seconds)
            theirs = measure_blackbox(workdir, target.url, rate=args.checks, seconds=args.seconds)
    print(f"probes at {args.checks}/s for {args.seconds:.0f}s each, target nginx, one core each")
    print(f"{'tool':<20}{'probes':>10}{'failed':>8}{'CPU s':>9}{'probes/CPU-s':>15}")
    for m in (ours, theirs):
        print(f"{m.name:<20}{m.probes:>10}{m.failures:>8}{m.cpu_s:>9.2f}{m.per_cpu_second:>15.0f}")
    ratio = ours.per_cpu_second / theirs.per_cpu_second
    print(f"ratio opsbook / blackbox_exporter: {ratio:.2f}x (target >= 1.50x)")
    record(
        f"HTTP probes per CPU-second, status + JSON body, {args.checks:,}/s offered",
        opsbook=f"{ours.per_cpu_second:,.0f}",
        peer=f"blackbox_exporter: {theirs.per_cpu_second:,.0f}",
        ratio=ratio,
        goal=">= 1.5x",
        met=ratio >= 1.5,
    )


if __name__ == "__main__":
    main()
