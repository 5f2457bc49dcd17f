"""The public status page with 200 components under 50 concurrent clients, beside nginx
serving the same page exported as static files.

    .venv/bin/python bench/status_page.py [--components 200] [--clients 50] [--seconds 20]

Starts a real ``opsbook serve`` (pinned to one core) with ``--components`` public components,
each with an HTTP check every 30 s against a small aiohttp target in this process (one in 50
answers 500 and stays down), so results and state rows keep arriving as in use. Before it
starts the store gets 90 days of day rollups per check (the uptime bars are real, with some
down time), a state row per check, and six incidents with public updates: five resolved over
the last 90 days, one open.

Then ``--clients`` connections load one URL back to back for ``--seconds`` after a warm-up,
each sending the next request when the last answer is read: ``wrk -c 50`` (Debian's ``wrk``,
one thread on the other core; an aiohttp client there saturated its core near 2,000 requests a
second and measured its own queue, nginx's figures included). Then the same URL paced:
``--rate`` (``--page-rate``) requests a second in all from 50 aiohttp clients, each request's
latency counted from when it was due. ``GET /api/v2/summary.json``, then ``GET /status/``,
with ``Accept-Encoding: gzip, deflate`` as browsers and HTTP libraries send it (both servers
answer with the gzipped file the export wrote). Printed for each: p50/p90/p99/max latency,
requests per second, body size as sent, the server's CPU (% of one core; probing the checks
is part of it) and CPU per request. Target: p99 < 20 ms.

During the summary.json run, a responder posts an incident update through the API
(``POST /api/v1/incidents/{id}/updates``) every few seconds and another client polls
summary.json every 10 ms until the update's text appears: the delay from the POST's answer
to the first summary.json that shows it is printed (target < 1 s).

Peer: ``opsbook status-page export DIR`` writes the page into a folder and nginx (one worker,
pinned to the same core, no access log, ``gzip_static on``) serves it; the same clients load
the same two files from it (``/api/v2/summary.json``, ``/index.html``) and the ratios
opsbook/nginx of requests per second and p99 are printed. ``OPSBOOK_BENCH_PYSPY=FILE``
records the server during the summary.json run with py-spy (collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from opsbook.checks.rollups import bucket_index, bucket_start, to_json
from opsbook.checks.tables import check_rollup, check_state
from opsbook.incidents import IncidentStatus
from opsbook.incidents import service as incidents
from opsbook.store import create_engine, upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # serving.Server
from _peers import Peer, _stop, cpu_seconds, free_port, require, wait_http
from _summary import record
from _wrk import wrk
from probes import MEASURED_CORE, TARGET_CORE, _pin
from ui_overview import _profile, target

from serving import Server, api_token, pinned, serve_env

WARMUP_S = 5.0
TARGET_P99_MS = 20.0
UPDATE_EVERY_S = 3.0
POLL_S = 0.01
# What browsers and HTTP client libraries send (aiohttp, requests, curl --compressed).
ACCEPT = {"Accept-Encoding": "gzip, deflate"}


def _is_down(i: int) -> bool:
    return i % 50 == 0


def _config(target_url: str, n: int) -> str:
    lines = ["service: bench", "checks:"]
    for i in range(n):
        kind = "fail" if _is_down(i) else "ok"
        lines += [
            f"  c{i:04d}:",
            f"    http: {{url: '{target_url}/{kind}?c={i}'}}",
            "    every: 30s",
            "    timeout: 5s",
        ]
    lines.append("components:")
    for i in range(n):
        group = f", group: Region {i % 5}" if i % 4 == 0 else ""
        lines.append(f"  comp{i:04d}: {{name: Service {i:04d}, checks: [c{i:04d}]{group}}}")
    lines += ["status_page:", "  title: Bench status", "  base_url: https://status.bench.example"]
    return "\n".join(lines) + "\n"


def _day(check_id: str, start: datetime, k: int) -> dict[str, object]:
    n = 2880
    down = 40 if (int(check_id[1:]) + k) % 17 == 0 else 0
    index = bucket_index(20.0)
    return {
        "check_id": check_id,
        "resolution": "day",
        "bucket_start": start,
        "n_up": n - down,
        "n_degraded": 0,
        "n_down": down,
        "up_seconds": (n - down) * 30.0,
        "degraded_seconds": 0.0,
        "down_seconds": down * 30.0,
        "histogram": to_json({index: n}),
        "latency_sum_ms": n * 20.0,
        "latency_max_ms": 60.0,
    }


def prefill(database_url: str, *, components: int, now: datetime) -> int:
    """Migrate the store and write 90 days of history; returns the open incident's id."""
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        day0 = bucket_start(now, "day")
        with engine.begin() as conn:
            for i in range(components):
                check_id = f"c{i:04d}"
                conn.execute(
                    check_rollup.insert(),
                    [_day(check_id, day0 - k * timedelta(days=1), k) for k in range(90)],
                )
            conn.execute(
                check_state.insert(),
                [
                    {
                        "check_id": f"c{i:04d}",
                        "state": "down" if _is_down(i) else "up",
                        "changed_at": now - timedelta(minutes=5 + i),
                        "last_result_at": now,
                        "last_latency_ms": 20.0,
                        "last_error": "HTTP 500" if _is_down(i) else None,
                    }
                    for i in range(components)
                ],
            )
            for n, days_ago in enumerate((80, 61, 40, 22, 9)):
                at = now - timedelta(days=days_ago)
                found = incidents.declare(
                    conn,
                    title=f"Elevated errors on service {n:04d}",
                    severity="SEV2",
                    summary="Some requests fail with a 502.",
                    actor="user:bench",
                    now=at,
                    component=f"comp{n:04d}",
                )
                for status, minutes in (
                    (IncidentStatus.IDENTIFIED, 10),
                    (IncidentStatus.MONITORING, 30),
                    (IncidentStatus.RESOLVED, 50),
                ):
                    incidents.update(
                        conn,
                        found.id,
                        status=status,
                        message=f"{status.value}: a bad deploy, rolled back.",
                        actor="user:bench",
                        now=at + timedelta(minutes=minutes),
                    )
            opened = incidents.declare(
                conn,
                title="Slow checkout",
                severity="SEV2",
                summary="Checkout takes 10 s for some customers.",
                actor="user:bench",
                now=now - timedelta(minutes=20),
                component="comp0007",
            )
    finally:
        engine.dispose()
    return opened.id


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (nginx's worker is not waited for, so
    its time never reaches the master's)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(c)) for c in children)


@dataclass
class Run:
    requests: int
    elapsed: float
    cpu: float
    size: int
    p50: float
    p90: float
    p99: float
    max: float
    by: str  # the load generator

    @classmethod
    def of(cls, timings: list[float], elapsed: float, cpu: float, size: int) -> Run:
        cuts = statistics.quantiles(timings, n=100)
        return cls(
            len(timings), elapsed, cpu, size, cuts[49], cuts[89], cuts[98], max(timings), "aiohttp"
        )


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    *,
    until: float,
    timings: list[float],
    every: float | None,
) -> int:
    """Back to back, or with ``every`` one request per ``every`` seconds from a random
    phase, its latency counted from when it was due (a late start is latency too)."""
    size = 0
    due = time.perf_counter() + (random.random() * every if every else 0.0)
    while time.monotonic() < until:
        if every is not None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            start = due
            due += every
        else:
            start = time.perf_counter()
        async with session.get(url, allow_redirects=False) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url} answered {response.status}: {body[:200]!r}")
        timings.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return size


async def _load(
    url: str, *, clients: int, seconds: float, rate: float | None = None
) -> tuple[list[float], int]:
    every = clients / rate if rate else None
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), auto_decompress=False)
        for _ in range(clients)
    ]
    try:
        timings: list[float] = []
        until = time.monotonic() + seconds
        sizes = await asyncio.gather(
            *(_client(s, url, until=until, timings=timings, every=every) for s in sessions)
        )
    finally:
        for s in sessions:
            await s.close()
    return timings, max(sizes)


async def _changes(
    base: str, token: str, incident_id: int, *, seconds: float, delays: list[float]
) -> None:
    """Post an update every ``UPDATE_EVERY_S`` and time until summary.json shows it."""
    headers = {"Authorization": f"Bearer {token}"}
    # Back and forth: monitoring may go back to investigating (a regression).
    statuses = [IncidentStatus.INVESTIGATING, IncidentStatus.MONITORING]
    until = time.monotonic() + seconds - UPDATE_EVERY_S
    n = 0
    async with aiohttp.ClientSession() as session:
        await asyncio.sleep(1.0)
        while time.monotonic() < until:
            n += 1
            text = f"bench update {n} {time.time_ns()}"
            body = {"status": statuses[n % 2].value, "message": text}
            async with session.post(
                f"{base}/api/v1/incidents/{incident_id}/updates", json=body, headers=headers
            ) as response:
                if response.status != 200:
                    raise RuntimeError(
                        f"posting an update: {response.status} {await response.text()}"
                    )
            posted = time.perf_counter()
            while True:
                async with session.get(f"{base}/api/v2/summary.json") as response:
                    seen = text in await response.text()
                if seen:
                    delays.append((time.perf_counter() - posted) * 1000)
                    break
                if time.perf_counter() - posted > 10:
                    raise RuntimeError(f"summary.json did not show {text!r} within 10 s")
                await asyncio.sleep(POLL_S)
            await asyncio.sleep(UPDATE_EVERY_S)


async def _measured(
    url: str,
    pid: int,
    *,
    clients: int,
    seconds: float,
    rate: float | None,
    change: tuple[str, str, int] | None,
) -> tuple[Run, list[float]]:
    delays: list[float] = []
    cpu0, t0 = tree_cpu(pid), time.monotonic()
    jobs: list[Coroutine[Any, Any, Any]] = [_load(url, clients=clients, seconds=seconds, rate=rate)]
    if change is not None:
        base, token, incident_id = change
        jobs.append(_changes(base, token, incident_id, seconds=seconds, delays=delays))
    (timings, size), *_ = await asyncio.gather(*jobs)
    elapsed = time.monotonic() - t0
    return Run.of(timings, elapsed, (tree_cpu(pid) - cpu0) / elapsed, size), delays


def measure(
    url: str,
    pid: int,
    *,
    clients: int,
    seconds: float,
    rate: float | None = None,
    change: tuple[str, str, int] | None = None,
) -> tuple[Run, list[float]]:
    """A warm-up, then ``seconds`` of ``clients`` clients back to back (``rate`` None: wrk)
    or at ``rate`` requests per second in all (aiohttp)."""
    asyncio.run(_load(url, clients=clients, seconds=WARMUP_S, rate=rate))
    if rate is None and change is None:
        cpu0, t0 = tree_cpu(pid), time.monotonic()
        found = wrk(url, connections=clients, seconds=seconds, core=TARGET_CORE, headers=ACCEPT)
        elapsed = time.monotonic() - t0
        cpu = (tree_cpu(pid) - cpu0) / elapsed
        with urllib.request.urlopen(urllib.request.Request(url, headers=ACCEPT)) as answer:
            size = len(answer.read())  # as sent
        p50, p90, p99, top = found.p50_ms, found.p90_ms, found.p99_ms, found.max_ms
        return Run(found.requests, found.seconds, cpu, size, p50, p90, p99, top, "wrk"), []
    return asyncio.run(
        _measured(url, pid, clients=clients, seconds=seconds, rate=rate, change=change)
    )


@contextlib.contextmanager
def nginx_static(workdir: Path, root: Path) -> Iterator[Peer]:
    """nginx serving ``root`` as files, one worker on the measured core, no access log. Its
    worker runs as ``nobody``: the folders on the way to ``root`` are made readable."""
    binary = require("nginx")
    port = free_port()
    (workdir / "nginx").mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx" / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx/nginx.pid;
error_log {workdir}/nginx/error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  types {{ text/html html; application/json json; text/css css; image/svg+xml svg; }}
  client_body_temp_path {workdir}/nginx;
  proxy_temp_path {workdir}/nginx;
  fastcgi_temp_path {workdir}/nginx;
  uwsgi_temp_path {workdir}/nginx;
  scgi_temp_path {workdir}/nginx;
  keepalive_requests 1000000;
  sendfile on;
  gzip_static on;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    add_header Access-Control-Allow-Origin *;
  }}
}}
"""
    )
    workdir.chmod(0o755)  # a TemporaryDirectory is 0700
    process = subprocess.Popen(
        pinned([binary, "-c", str(conf), "-p", str(workdir / "nginx")], MEASURED_CORE),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/index.html")
        yield Peer(process, url)
    finally:
        _stop(process)


def report(name: str, run: Run) -> None:
    print(f"  {name}, {run.by}")
    print(f"    requests               {run.requests:10d}   ({rate(run):.1f} per second)")
    print(f"    body                   {run.size / 1024:10.0f} KiB")
    print(f"    latency p50            {run.p50:10.2f} ms")
    print(f"    latency p90            {run.p90:10.2f} ms")
    print(f"    latency p99            {run.p99:10.2f} ms")
    print(f"    latency max            {run.max:10.2f} ms")
    print(f"    server CPU, one core   {100 * run.cpu:10.1f} %")
    print(f"    CPU per request        {1000 * run.cpu * run.elapsed / run.requests:10.3f} ms")


def p99(run: Run) -> float:
    return run.p99


def rate(run: Run) -> float:
    return run.requests / run.elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--components", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--rate", type=float, default=200.0, help="summary.json requests per second, paced"
    )
    parser.add_argument(
        "--page-rate", type=float, default=50.0, help="page requests per second, paced"
    )
    args = parser.parse_args()
    print(
        f"status page with {args.components} components, {args.clients} concurrent clients,"
        f" {args.seconds:.0f} s per URL, opsbook and nginx each on one core"
        f" (load average {os.getloadavg()[0]:.2f}):"
    )
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-") as tmp, target() as target_url:
        workdir = Path(tmp)
        config = workdir / "opsbook.yaml"
        config.write_text(_config(target_url, args.components))
        database_url = f"sqlite:///{workdir / 'opsbook.db'}"
        began = time.monotonic()
        incident_id = prefill(database_url, components=args.components, now=datetime.now(UTC))
        token = api_token(database_url, person="bench")
        delays: list[float] = []
        print(f"  store filled in {time.monotonic() - began:.1f} s")
        _pin(os.getpid(), TARGET_CORE)
        urls = {"summary.json": "/api/v2/summary.json", "page": "/status/"}
        static = {"summary.json": "/api/v2/summary.json", "page": "/index.html"}
        rates = {"summary.json": args.rate, "page": args.page_rate}
        ours: dict[tuple[str, str], Run] = {}
        theirs: dict[tuple[str, str], Run] = {}
        server = Server(
            config, env=serve_env(database_url), cpus=MEASURED_CORE, log_path=workdir / "serve.log"
        )
        try:
            for name, path in urls.items():
                spy = _profile(server.pid, args.seconds) if name == "summary.json" else None
                ours[name, "closed"], _ = measure(
                    server.url + path, server.pid, clients=args.clients, seconds=args.seconds
                )
                if spy is not None:
                    spy.wait(timeout=60)
                ours[name, "paced"], found = measure(
                    server.url + path,
                    server.pid,
                    clients=args.clients,
                    seconds=args.seconds,
                    rate=rates[name],
                    change=(server.url, token, incident_id) if name == "summary.json" else None,
                )
                if name == "summary.json":
                    delays = found
            export = workdir / "export"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "opsbook",
                    "status-page",
                    "export",
                    str(export),
                    "--config",
                    str(config),
                ],
                env=serve_env(database_url),
                check=True,
                capture_output=True,
            )
        finally:
            server.close()
        with nginx_static(workdir, export) as peer:
            for name, path in static.items():
                theirs[name, "closed"], _ = measure(
                    peer.url + path, peer.pid, clients=args.clients, seconds=args.seconds
                )
                theirs[name, "paced"], _ = measure(
                    peer.url + path,
                    peer.pid,
                    clients=args.clients,
                    seconds=args.seconds,
                    rate=rates[name],
                )
    for name, path in urls.items():
        for mode in ("closed", "paced"):
            how = "back to back" if mode == "closed" else f"{rates[name]:.0f} req/s in all"
            report(f"opsbook GET {path} ({how})", ours[name, mode])
            report(f"nginx   GET {static[name]} (exported file, {how})", theirs[name, mode])
    print("  a change (an incident update posted through the API) shown in summary.json after")
    print(
        f"    {len(delays)} updates: median {statistics.median(delays):.0f} ms,"
        f" max {max(delays):.0f} ms (target < 1000 ms)"
    )
    print("  opsbook / nginx, back to back (throughput) and paced (latency at a given load)")
    for name in urls:
        closed, paced = (
            (ours[name, "closed"], theirs[name, "closed"]),
            (
                ours[name, "paced"],
                theirs[name, "paced"],
            ),
        )
        print(
            f"    {name:14s} req/s {rate(closed[0]) / rate(closed[1]):5.2f}x"
            f"   p99 back to back {p99(closed[0]) / p99(closed[1]):5.2f}x"
            f"   p99 paced {p99(paced[0]) / p99(paced[1]):5.2f}x"
        )
    for name in urls:
        closed, paced = ours[name, "closed"], ours[name, "paced"]
        peer_closed, peer_paced = theirs[name, "closed"], theirs[name, "paced"]
        record(
            f"status page {name}, {args.components} components, {args.clients} clients",
            opsbook=(
                f"p99 {closed.p99:.1f} ms back to back ({rate(closed):,.0f} req/s),"
                f" {paced.p99:.1f} ms at {rates[name]:.0f} req/s"
            ),
            peer=(
                f"nginx: p99 {peer_closed.p99:.1f} ms ({rate(peer_closed):,.0f} req/s),"
                f" {peer_paced.p99:.1f} ms"
            ),
            ratio=rate(closed) / rate(peer_closed),
            goal="p99 < 20 ms (ratio: req/s)",
            met=max(closed.p99, paced.p99) < TARGET_P99_MS,
        )
    record(
        "status page: a change shown in summary.json",
        opsbook=f"median {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms",
        goal="< 1 s",
        met=max(delays) < 1000,
    )
    worst = max(p99(run) for run in ours.values())
    verdict = "ok" if worst < TARGET_P99_MS and max(delays) < 1000 else "OVER TARGET"
    print(
        f"  verdict                  {verdict} (p99 < {TARGET_P99_MS:.0f} ms back to back and"
        " paced, a change within 1 s)"
    )


if __name__ == "__main__":
    main()
