"""Heartbeat pings per second on one core, each durable before its answer.

    .venv/bin/python bench/pings.py [--seconds 20] [--connections 32] [--checks 200]

Starts a real ``opsbook serve`` with a SQLite store, pinned to core 1, with ``--checks``
heartbeat checks (``period: 1m``, ``grace: 1h``) in a config this script writes. A load
generator (aiohttp, this process, core 0) keeps ``--connections`` requests in flight, each
sending its next ping as soon as the last one is answered, for ``--seconds`` after a warm-up.
The pings are what cron wrappers send, mixed: ``GET /ping/<uuid>`` (success), ``GET
/ping/<uuid>/start``, ``POST /ping/<uuid>/0`` and ``POST /ping/<uuid>/fail`` with a short body
(job output), each to a random check. Every ping carries its sequence number in its
``User-Agent``.

Printed: pings/s answered 200, p50/p99 latency, the server's CPU (% of one core) and CPU per
ping. After the run the server is killed with SIGKILL (no graceful shutdown) and the ``ping``
table is read back: every ping answered 200 must be there. healthchecks.io's own figure
(~250 pings/s, their blog) is quoted as the peer line. Target: >= 2,000 pings/s.
``OPSBOOK_BENCH_PYSPY=FILE`` (py-spy on PATH) samples the server during the measured window
into FILE (collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # serving, for peers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from _peers import cpu_seconds, rss_bytes
from _summary import record
from peers import missing, opsbook_serve

SERVER_CORE = "1"
LOADGEN_CORE = 0
WARMUP_S = 3.0
HEALTHCHECKS_PINGS_PER_S = 250
"""healthchecks.io's figure for its own ping handling ("~250 pings/s"), quoted, not measured."""
GOAL = 2000
# (method, action, body): what cron wrappers send, in these proportions.
MIX = (
    ("GET", "", None),
    ("GET", "", None),
    ("GET", "/start", None),
    ("POST", "/0", b"backup done: 1423 files, 2.1 GB\n"),
    ("POST", "/fail", b"pg_dump: error: connection refused\n"),
)


@dataclass
class Load:
    answered: int = 0
    failed: int = 0
    first_failure: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)


def _config(uuids: list[str]) -> str:
    lines = ["service: bench", "checks:"]
    for i, u in enumerate(uuids):
        lines += [
            f"  job-{i:04d}:",
            "    heartbeat:",
            "      period: 1m",
            "      grace: 1h",
            f"      uuid: {u}",
        ]
    return "\n".join(lines) + "\n"


async def _drive(
    base: str, uuids: list[str], *, connections: int, seconds: float, seq_from: int
) -> Load:
    load = Load()
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    seq = iter(range(seq_from, sys.maxsize))
    rng = random.Random(seq_from)

    async def worker(session: aiohttp.ClientSession) -> None:
        while loop.time() < until:
            n = next(seq)
            method, action, body = rng.choice(MIX)
            url = f"{base}/ping/{rng.choice(uuids)}{action}"
            t0 = time.perf_counter()
            try:
                async with session.request(
                    method, url, data=body, headers={"User-Agent": f"bench/{n}"}
                ) as response:
                    text = await response.text()
                    ok = response.status == 200
            except aiohttp.ClientError as exc:
                ok, text = False, f"{type(exc).__name__}: {exc}"
            if ok:
                load.answered += 1
                load.latencies_ms.append((time.perf_counter() - t0) * 1000)
                load.acked.add(n)
            else:
                load.failed += 1
                load.first_failure = load.first_failure or text[:200]

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return load


def _profile(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """With ``OPSBOOK_BENCH_PYSPY=FILE``, py-spy samples the server (without pausing it) for
    the measured window into FILE: where the CPU goes, for the notes in docs/benchmarks.md."""
    out = os.environ.get("OPSBOOK_BENCH_PYSPY")
    if not out:
        return None
    command = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--rate", "200", "--format", "raw", "--output", out, "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stored_seqs(db: Path) -> set[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT user_agent FROM ping WHERE user_agent LIKE 'bench/%'")
        return {int(ua.removeprefix("bench/")) for (ua,) in rows}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--connections", type=int, default=32, help="requests in flight")
    parser.add_argument("--checks", type=int, default=200, help="heartbeat checks")
    args = parser.parse_args()
    if missing("taskset"):
        raise SystemExit("taskset is missing (util-linux)")
    os.sched_setaffinity(0, {LOADGEN_CORE})
    console = Console(width=132)
    uuids = [
        str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)) for i in range(args.checks)
    ]
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-pings-") as tmp:
        workdir = Path(tmp)
        db = workdir / "opsbook" / "opsbook.db"
        with opsbook_serve(
            workdir, config=_config(uuids), database_url=f"sqlite:///{db}", cpus=SERVER_CORE
        ) as peer:
            drive = {"connections": args.connections}
            warm = asyncio.run(_drive(peer.url, uuids, seconds=WARMUP_S, seq_from=0, **drive))
            if warm.failed:
                raise SystemExit(f"opsbook refused the warm-up pings: {warm.first_failure}")
            cpu0 = cpu_seconds(peer.pid)
            t0 = time.monotonic()
            spy = _profile(peer.pid, args.seconds)
            load = asyncio.run(
                _drive(peer.url, uuids, seconds=args.seconds, seq_from=10**9, **drive)
            )
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(peer.pid) - cpu0
            rss = rss_bytes(peer.pid) / 1e6
            loadavg = os.getloadavg()
            if spy is not None:
                spy.wait(timeout=60)
            peer.process.send_signal(signal.SIGKILL)
            peer.process.wait(timeout=10)
        stored = _stored_seqs(db)
    acked = load.acked | warm.acked
    lost = acked - stored
    if lost:
        raise SystemExit(
            f"opsbook lost {len(lost)} of {len(acked)} pings answered 200 "
            f"(e.g. seq {sorted(lost)[:5]})"
        )
    rate = load.answered / elapsed
    lat = sorted(load.latencies_ms)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    table = Table(
        title=(
            f"Heartbeat pings: {args.connections} connections for {args.seconds:g}s, "
            f"{args.checks} checks, server on one core (SQLite)"
        )
    )
    for header in (
        "pings/s",
        "answered 200",
        "failed",
        "p50 ms",
        "p99 ms",
        "server CPU %",
        "CPU us/ping",
        "RSS MB",
        "durable after kill -9",
    ):
        table.add_column(header, justify="left" if header.startswith("durable") else "right")
    table.add_row(
        f"{rate:,.0f}",
        f"{load.answered:,}",
        f"{load.failed:,}",
        f"{statistics.median(lat) if lat else float('nan'):.1f}",
        f"{p99:.1f}",
        f"{cpu / elapsed * 100:.0f}",
        f"{cpu / max(load.answered, 1) * 1e6:,.0f}",
        f"{rss:.0f}",
        f"yes ({len(acked):,}/{len(acked):,})",
    )
    console.print(table)
    console.print(
        f"load average during the run: {loadavg[0]:.2f} {loadavg[1]:.2f} {loadavg[2]:.2f}"
    )
    ratio = rate / HEALTHCHECKS_PINGS_PER_S
    verdict = "[green]meets[/green]" if rate >= GOAL else "[red]misses[/red]"
    console.print(
        f"healthchecks.io: ~{HEALTHCHECKS_PINGS_PER_S}/s (their figure, not measured here); "
        f"opsbook / healthchecks.io = {ratio:.1f}x; {verdict} the {GOAL:,}/s goal"
    )
    per_ping_us = cpu / max(load.answered, 1) * 1e6
    record(
        "heartbeat pings on one core, each durable before its 200",
        opsbook=(
            f"{rate:,.0f}/s at {cpu / elapsed * 100:.0f} % of the core"
            f" ({per_ping_us:,.0f} us CPU a ping: {1e6 / per_ping_us:,.0f}/s at a full core)"
        ),
        peer=f"healthchecks.io ~{HEALTHCHECKS_PINGS_PER_S}/s (their figure)",
        ratio=ratio,
        goal=f">= {GOAL:,}/s",
        met=rate >= GOAL,
    )


if __name__ == "__main__":
    main()
