"""Alerts accepted per CPU-second: opsbook's ``/api/v2/alerts`` vs a real Alertmanager, same load.

    .venv/bin/python bench/ingest.py [--seconds 20] [--rate 1000] [--services 500]
    .venv/bin/python bench/ingest.py --rate 0 --connections 32   # saturation, 32 connections
    .venv/bin/python bench/ingest.py --rate 0 --connections 32 --rounds 3   # make bench-ingest

Both servers get the same Alertmanager API v2 traffic, the way Prometheus sends it: firing alerts
for ``--services`` distinct services (``alertname=HighLatency, service=svc-NNN``), re-sent over and
over with a fresh ``endsAt``, in batches of 1 and of 100 alerts per request, at ``--rate`` alerts a
second for ``--seconds`` (after a warm-up). opsbook runs as ``opsbook serve`` with a SQLite store
and an ``alertmanager`` integration (Bearer token); Alertmanager 0.25 (Debian) routes everything to
a receiver that sends nothing. Each server is pinned to core 1 and only its own CPU time counts;
the load generator (aiohttp, this process) runs on core 0.

Every alert carries a ``seq`` annotation. After opsbook's run the server is killed with SIGKILL
(no graceful shutdown) and the store is read back: each service's alert must be there with the
``seq`` of the last request answered 2xx. Alertmanager keeps alerts in memory only; it is not
checked. Target: opsbook >= 1.0x Alertmanager at both batch sizes.

With ``--rounds N`` each batch size is measured N times, the two servers alternating, and the
verdict takes the median of the rounds' ratios: on this VM one server's figure moves by up to
30 % from one run to the next with nothing else running.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # serving, for peers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from _peers import cpu_seconds, rss_bytes
from _summary import record
from peers import ALERTMANAGER, Peer, alertmanager, missing, opsbook_serve, stored_alerts

SERVER_CORE = "1"
LOADGEN_CORE = 0
WARMUP_S = 3.0
TOKEN = "bench-ingest-token-5c1e9a7f"
BATCH_SIZES = (1, 100)
# One counter for the whole run, so a later request always carries a larger seq.
_SEQ = itertools.count(1)
ALERTMANAGER_CONFIG = """\
route:
  receiver: blackhole
  group_by: [alertname, service]
receivers:
  - name: blackhole
"""
OPSBOOK_CONFIG = f"""\
service: bench
integrations:
  prometheus:
    alertmanager: {{token: {TOKEN}}}
"""


@dataclass
class Load:
    """What the load generator saw: requests and alerts answered 2xx, and the last ``seq``
    acknowledged for each service."""

    requests: int = 0
    accepted: int = 0
    failed_requests: int = 0
    first_failure: str = ""
    last_seq: dict[str, int] = field(default_factory=dict)


@dataclass
class Measurement:
    tool: str
    batch: int
    seconds: float
    load: Load
    cpu_s: float
    rss_mb: float
    durable: str = "n/a (in memory)"
    round: int = 1

    @property
    def per_cpu_second(self) -> float:
        return self.load.accepted / self.cpu_s if self.cpu_s > 0 else float("inf")


def _alert(service: str, *, seq: int, starts_at: str, now: datetime) -> dict[str, object]:
    return {
        "labels": {
            "alertname": "HighLatency",
            "service": service,
            "severity": "SEV3",
            "job": "api",
            "instance": f"{service}.internal:8080",
        },
        "annotations": {
            "summary": f"{service} p95 above 2s",
            "runbook_url": f"https://runbooks.example.com/{service}",
            "seq": str(seq),
        },
        "startsAt": starts_at,
        # What Prometheus sends: valid for 4 resend intervals unless re-sent.
        "endsAt": (now + timedelta(minutes=4)).isoformat(),
        "generatorURL": f"http://prometheus.local/graph?g0.expr=latency%7Bservice%3D%22{service}%22%7D",
    }


async def _drive(
    url: str,
    *,
    token: str | None,
    services: int,
    batch: int,
    rate: float,
    seconds: float,
    connections: int | None = None,
) -> Load:
    """Post ``rate`` alerts a second for ``seconds``. Each worker owns a fixed slice of the
    services and waits for each answer before its next request, so the requests for one service
    are never in flight together and "last acknowledged seq" is well defined."""
    names = [f"svc-{i:03d}" for i in range(services)]
    workers = max(1, min(connections or 64, services // batch))
    slices = [names[w::workers] for w in range(workers)]
    # Seconds between one worker's requests; with no rate (0), each sends as soon as answered.
    interval = workers * batch / rate if rate > 0 else 0.0
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    starts_at = datetime.now(UTC).isoformat()
    load = Load()
    loop = asyncio.get_running_loop()
    start = loop.time()
    until = start + seconds

    async def worker(w: int, session: aiohttp.ClientSession) -> None:
        mine = slices[w]
        position = 0
        next_at = start + interval * w / workers  # spread the workers over one interval
        while True:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if loop.time() >= until:
                return
            chunk = [mine[(position + i) % len(mine)] for i in range(min(batch, len(mine)))]
            position = (position + len(chunk)) % len(mine)
            mine_seq = next(_SEQ)
            now = datetime.now(UTC)
            body = json.dumps(
                [_alert(s, seq=mine_seq, starts_at=starts_at, now=now) for s in chunk]
            )
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    text = await response.text()
                    ok = 200 <= response.status < 300
            except aiohttp.ClientError as exc:
                ok, text = False, f"{type(exc).__name__}: {exc}"
            load.requests += 1
            if ok:
                load.accepted += len(chunk)
                for s in chunk:
                    load.last_seq[s] = mine_seq
            else:
                load.failed_requests += 1
                load.first_failure = load.first_failure or text[:200]
            next_at += interval

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(w, session) for w in range(workers)))
    return load


def _profile(tool: str, batch: int, pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """With ``OPSBOOK_BENCH_PYSPY=PREFIX`` (and py-spy on PATH), opsbook's measured window is
    sampled into ``PREFIX-<batch>.txt`` (collapsed stacks): where the server's CPU goes, for the
    notes in docs/benchmarks.md. py-spy runs without pausing the server (``--nonblocking``)."""
    prefix = os.environ.get("OPSBOOK_BENCH_PYSPY")
    if not prefix or tool != "opsbook":
        return None
    command = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--rate", "200", "--format", "raw", "--output", f"{prefix}-{batch}.txt"]
    return subprocess.Popen([*command, "--nonblocking"], stdout=subprocess.DEVNULL)


def _measure(
    tool: str,
    start: Callable[[Path], AbstractContextManager[Peer]],
    path: str,
    *,
    token: str | None,
    batch: int,
    args: argparse.Namespace,
    after: Callable[[Peer, Load, Path], str] | None = None,
) -> Measurement:
    with (
        tempfile.TemporaryDirectory(prefix=f"opsbook-bench-ingest-{tool}-") as tmp,
        start(Path(tmp)) as peer,
    ):
        url = peer.url + path
        drive = {
            "token": token,
            "services": args.services,
            "batch": batch,
            "rate": args.rate,
            "connections": args.connections,
        }
        warm = asyncio.run(_drive(url, seconds=WARMUP_S, **drive))
        if warm.failed_requests:
            raise SystemExit(f"{tool} refused the warm-up load: {warm.first_failure}")
        spy = _profile(tool, batch, peer.pid, args.seconds)
        cpu0 = cpu_seconds(peer.pid)
        t0 = time.monotonic()
        load = asyncio.run(_drive(url, seconds=args.seconds, **drive))
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(peer.pid) - cpu0
        if spy is not None:
            spy.wait(timeout=30)
        rss = rss_bytes(peer.pid) / 1e6
        durable = after(peer, load, Path(tmp)) if after is not None else "n/a (in memory)"
    return Measurement(tool, batch, elapsed, load, cpu, rss, durable)


def _opsbook(workdir: Path) -> AbstractContextManager[Peer]:
    return opsbook_serve(
        workdir, config=OPSBOOK_CONFIG, database_url=_sqlite(workdir), cpus=SERVER_CORE
    )


def _alertmanager(workdir: Path) -> AbstractContextManager[Peer]:
    return alertmanager(workdir, config=ALERTMANAGER_CONFIG, cpus=SERVER_CORE)


def _check_durable(peer: Peer, load: Load, workdir: Path) -> str:
    """Kill opsbook with no goodbye, then read its store: whatever was answered 2xx must be
    there, each service's alert at the ``seq`` of its last acknowledged request."""
    peer.process.send_signal(signal.SIGKILL)
    peer.process.wait(timeout=10)
    rows = stored_alerts(_sqlite(workdir))
    if len(rows) != len(load.last_seq):
        raise SystemExit(
            f"opsbook stored {len(rows)} alerts for {len(load.last_seq)} acknowledged "
            "services (re-sent alerts must update their open alert, not add one)"
        )
    stored = {a.labels.get("service", ""): a.annotations.get("seq", "") for a in rows}
    wrong = {s: (q, stored.get(s)) for s, q in load.last_seq.items() if stored.get(s) != str(q)}
    if wrong:
        sample = dict(list(wrong.items())[:5])
        raise SystemExit(
            f"opsbook lost acknowledged alerts: {len(wrong)} of {len(load.last_seq)} services "
            f"are not at their last acknowledged seq (service: (acked, stored)): {sample}"
        )
    return f"yes ({len(load.last_seq)}/{len(load.last_seq)})"


def _sqlite(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'opsbook' / 'opsbook.db'}"


def _rows(measurements: list[Measurement]) -> Iterator[tuple[str, ...]]:
    for m in measurements:
        yield (
            str(m.batch),
            str(m.round),
            m.tool,
            f"{m.load.requests:,}",
            f"{m.load.accepted:,}",
            f"{m.load.failed_requests:,}",
            f"{m.load.accepted / m.seconds:,.0f}",
            f"{m.cpu_s:.2f}",
            f"{m.per_cpu_second:,.0f}",
            f"{m.rss_mb:.0f}",
            m.durable,
        )


# Issue 15's goals, opsbook / Alertmanager alerts per CPU-second, by batch size.
GOALS = {1: 0.5, 100: 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="alerts per second offered; 0: as fast as the server answers (saturation)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=None,
        help="concurrent requests at most (default: 64, fewer when services / batch is less)",
    )
    parser.add_argument("--services", type=int, default=500, help="distinct alerts (services)")
    parser.add_argument(
        "--batch", type=int, action="append", help="batch sizes (default: 1 and 100)"
    )
    parser.add_argument(
        "--server",
        choices=("opsbook", "alertmanager"),
        action="append",
        help="measure only this server (default: both)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs per batch size, the servers alternating; the verdict takes the median ratio",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if missing(ALERTMANAGER, "taskset"):
        raise SystemExit(
            f"missing {missing(ALERTMANAGER, 'taskset')}; run `make system bench-peers`"
        )
    os.sched_setaffinity(0, {LOADGEN_CORE})
    console = Console(width=132)
    measurements: list[Measurement] = []
    for batch, round_, tool in itertools.product(
        args.batch or BATCH_SIZES,
        range(1, args.rounds + 1),
        args.server or ("opsbook", "alertmanager"),
    ):
        console.print(f"[dim]batch {batch}, round {round_} of {args.rounds}: {tool} ...[/dim]")
        if tool == "opsbook":
            m = _measure(
                tool,
                _opsbook,
                "/api/v2/alerts",
                token=TOKEN,
                batch=batch,
                args=args,
                after=_check_durable,
            )
        else:
            m = _measure(tool, _alertmanager, "/api/v2/alerts", token=None, batch=batch, args=args)
        m.round = round_
        measurements.append(m)

    table = Table(
        title=(
            f"Alertmanager API v2 ingest: "
            f"{f'{args.rate:,.0f} alerts/s offered' if args.rate > 0 else 'saturation'} for "
            f"{args.seconds:g}s, {args.services} services, one core per server"
        )
    )
    for header in (
        "batch",
        "round",
        "server",
        "requests",
        "alerts acked",
        "failed req",
        "alerts/s",
        "CPU s",
        "alerts/CPU-s",
        "RSS MB",
        "durable after kill -9",
    ):
        table.add_column(
            header, justify="left" if header in {"server", "durable after kill -9"} else "right"
        )
    for row in _rows(measurements):
        table.add_row(*row)
    console.print(table)
    for batch in args.batch or BATCH_SIZES:
        ours = [m for m in measurements if m.tool == "opsbook" and m.batch == batch]
        theirs = [m for m in measurements if m.tool == "alertmanager" and m.batch == batch]
        if not ours or not theirs:
            continue
        # Each round's ratio is of the two servers measured one after the other.
        ratios = [o.per_cpu_second / t.per_cpu_second for o, t in zip(ours, theirs, strict=True)]
        ratio = statistics.median(ratios)
        goal = GOALS.get(batch, 1.0)
        verdict = "[green]meets[/green]" if ratio >= goal else "[red]misses[/red]"
        rounds = f" (median of {', '.join(f'{r:.2f}x' for r in ratios)})" if len(ratios) > 1 else ""
        console.print(
            f"batch {batch:>3}: opsbook / Alertmanager = {ratio:.2f}x alerts per CPU-second"
            f"{rounds} ({verdict} the {goal:.2f}x target)"
        )
        offered = f"{args.rate:,.0f}/s offered" if args.rate > 0 else "saturation"
        record(
            f"alerts accepted per CPU-second, {batch} a request, {offered}",
            opsbook=f"{statistics.median(o.per_cpu_second for o in ours):,.0f}",
            peer=f"Alertmanager: {statistics.median(t.per_cpu_second for t in theirs):,.0f}",
            ratio=ratio,
            goal=f">= {goal:.1f}x",
            met=ratio >= goal,
        )


if __name__ == "__main__":
    main()
