"""The overview (``GET /``) with 1,000 checks under 20 concurrent clients.

    .venv/bin/python bench/ui_overview.py [--checks 1000] [--clients 20] [--seconds 30]

Starts a real ``opsbook serve`` (pinned to one core) with ``--checks`` HTTP checks every 30 s,
each with a p95 objective, against a small aiohttp target in this process (``200 {"status":
"UP"}``; one check in 50 gets a 500 and stays down), so results keep arriving at the rate they
would in use while the page is loaded. Before it starts, the store gets what a month of running
leaves for the overview to read: 48 hours of hour rollups (the sparkline, p95 and 24 h
availability), 30 days of day rollups (30 d availability) and a state row per check matching
what its probes will find. A viewer account and a session are made on the store; its cookie is
sent with every request.

Then ``--clients`` clients (one aiohttp session each, on the other core) load ``/`` back to back
for ``--seconds`` after a warm-up, each starting the next request when the last body is read
(what ``wrk -c 20`` does). They send ``Accept-Encoding: gzip, deflate`` as aiohttp and browsers
do (``--accept-encoding identity`` for the page uncompressed) and read the body as sent; each
decodes only its last one, checked to be the whole page (twenty browsers decode on twenty
machines). Printed: p50/p95/p99/max latency, requests per second, the page size decoded and as
sent, and the server's CPU (% of one core; probing 1,000 checks every 30 s is part of it). The
page is read and rendered again every 15 s while results arrive (``PAGE_TTL_S``) and the rollup
statistics are read again every 60 s (``STATS_TTL_S``): those renders are in the figures.
Then the same load again from wrk (Debian's ``wrk``, ``-c`` clients, one thread on the other
core; ``make bench-peers`` installs it), with the same cookie and headers, and its figures:
two load generators, so the verdict is not one client library's. Target: p99 < 50 ms in both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.checks.rollups import bucket_index, bucket_start, to_json
from opsbook.checks.tables import check_rollup, check_state
from opsbook.store import create_engine, upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # serving.Server
from _peers import cpu_seconds, free_port
from _summary import record
from _wrk import WrkRun, wrk
from probes import MEASURED_CORE, TARGET_CORE, _pin

from serving import Server, serve_env

PERSON = "bench"
WARMUP_S = 10.0


def _is_down(i: int) -> bool:
    return i % 50 == 0


def _config(target: str, n: int) -> str:
    lines = [
        "service: bench",
        "oncall:",
        f"  people: {{{PERSON}: {{name: Bench Viewer}}}}",
        f"  schedules: {{primary: {{layers: [{{rotation: weekly, people: [{PERSON}]}}]}}}}",
        "checks:",
    ]
    for i in range(n):
        lines += [
            f"  c{i:05d}:",
            f"    http: {{url: '{target}/{'fail' if _is_down(i) else 'ok'}?c={i}'}}",
            "    every: 30s",
            "    timeout: 5s",
            "    slo: {p95: 50ms}",
        ]
    return "\n".join(lines) + "\n"


def _rollup(check_id: str, resolution: str, start: datetime, n: int, latency_ms: float) -> dict:
    down = n // 40 if _is_down(int(check_id[1:])) else 0
    index = bucket_index(latency_ms)
    return {
        "check_id": check_id,
        "resolution": resolution,
        "bucket_start": start,
        "n_up": n - down,
        "n_degraded": 0,
        "n_down": down,
        "up_seconds": (n - down) * 30.0,
        "degraded_seconds": 0.0,
        "down_seconds": down * 30.0,
        "histogram": to_json({index: n - n // 20, index + 8: n // 20}),
        "latency_sum_ms": n * latency_ms,
        "latency_max_ms": latency_ms * 3,
    }


def prefill(database_url: str, *, checks: int, now: datetime) -> str:
    """Migrate the store, write the history the overview reads, and open a viewer's session;
    returns the session cookie."""
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        hour0 = bucket_start(now, "hour")
        day0 = bucket_start(now, "day")
        with engine.begin() as conn:
            for i in range(checks):
                check_id = f"c{i:05d}"
                rows = [
                    _rollup(
                        check_id, "hour", hour0 - k * timedelta(hours=1), 120, 10 + (i + k) % 30
                    )
                    for k in range(48)
                ]
                rows += [
                    _rollup(check_id, "day", day0 - k * timedelta(days=1), 2880, 10 + (i + k) % 30)
                    for k in range(30)
                ]
                conn.execute(check_rollup.insert(), rows)
            conn.execute(
                check_state.insert(),
                [
                    {
                        "check_id": f"c{i:05d}",
                        "state": "down" if _is_down(i) else "up",
                        "changed_at": now - timedelta(minutes=5 + i % 600),
                        "last_result_at": now,
                        "last_latency_ms": 10.0 + i % 30,
                        "last_error": "no ping for 2h (period 1h, grace 1h)"
                        if i % 50 == 0
                        else None,
                    }
                    for i in range(checks)
                ],
            )
            accounts.add_account(conn, person=PERSON, role=Role.VIEWER, people={PERSON}, now=now)
            cookie, _ = accounts.open_session(conn, person=PERSON, address="bench", now=now)
    finally:
        engine.dispose()
    return cookie


@contextlib.contextmanager
def target() -> Iterator[str]:
    """An HTTP target on its own thread and event loop: ``/ok`` answers 200 with a health
    body, ``/fail`` 500. Yields its base URL."""
    ready = threading.Event()
    found: dict[str, object] = {}

    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    async def fail(_: web.Request) -> web.Response:
        return web.json_response({"status": "DOWN"}, status=500)

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/ok", ok)
        app.router.add_get("/fail", fail)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop = asyncio.Event()
        found["url"] = f"http://127.0.0.1:{port}"
        found["stop"] = (asyncio.get_running_loop(), stop)
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="target", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield str(found["url"])
    finally:
        loop, stop = found["stop"]  # type: ignore[misc]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


async def _client(
    session: aiohttp.ClientSession, url: str, *, until: float, timings: list[float]
) -> tuple[int, int]:
    body, encoding = b"", None
    while time.monotonic() < until:
        start = time.perf_counter()
        async with session.get(url, allow_redirects=False) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET / answered {response.status}: {body[:200]!r}")
            encoding = response.headers.get("Content-Encoding")
        timings.append((time.perf_counter() - start) * 1000)
    page = _decode(body, encoding)
    if not page.rstrip().endswith(b"</html>"):
        raise RuntimeError(f"GET / sent a page that does not end in </html>: {page[-200:]!r}")
    return len(page), len(body)


def _decode(body: bytes, encoding: str | None) -> bytes:
    """The page a browser would read. Each client decodes only its last body: twenty browsers
    decode on twenty machines, and inflating a megabyte per request on the load generator's
    one core would measure the load generator."""
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding in (None, "identity"):
        return body
    raise RuntimeError(f"GET / sent Content-Encoding: {encoding}, which the bench cannot read")


async def load(
    url: str, cookie: str, *, clients: int, seconds: float, encoding: str
) -> tuple[list[float], tuple[int, int]]:
    """``clients`` clients loading ``url`` back to back for ``seconds``; returns the latencies
    in ms and the page's size in bytes, decoded and as sent."""
    headers = {
        "Cookie": f"opsbook_session={cookie}",
        "Accept": "text/html",
        "Accept-Encoding": encoding,
    }
    sessions = [
        aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(limit=1), auto_decompress=False
        )
        for _ in range(clients)
    ]
    try:
        timings: list[float] = []
        until = time.monotonic() + seconds
        sizes = await asyncio.gather(
            *(_client(s, url, until=until, timings=timings) for s in sessions)
        )
    finally:
        for s in sessions:
            await s.close()
    return timings, max(sizes)


def _profile(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """With ``OPSBOOK_BENCH_PYSPY=FILE`` (and py-spy on PATH), the measured window's collapsed
    stacks go to FILE: where the server's CPU goes, for the notes in docs/benchmarks.md."""
    out = os.environ.get("OPSBOOK_BENCH_PYSPY")
    if not out:
        return None
    command = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--rate", "200", "--format", "raw", "--output", out, "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def measure(
    workdir: Path, url: str, *, checks: int, clients: int, seconds: float, encoding: str
) -> None:
    config = workdir / "opsbook.yaml"
    config.write_text(_config(url, checks))
    database_url = f"sqlite:///{workdir / 'opsbook.db'}"
    began = time.monotonic()
    cookie = prefill(database_url, checks=checks, now=datetime.now(UTC))
    print(f"  store filled in {time.monotonic() - began:.1f} s")
    server = Server(
        config,
        env=serve_env(database_url),
        cpus=MEASURED_CORE,
        log_path=workdir / "serve.log",
    )
    try:
        _pin(os.getpid(), TARGET_CORE)
        asyncio.run(
            load(server.url + "/", cookie, clients=clients, seconds=WARMUP_S, encoding=encoding)
        )
        spy = _profile(server.pid, seconds)
        cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        client0 = time.process_time()
        timings, (size, sent) = asyncio.run(
            load(server.url + "/", cookie, clients=clients, seconds=seconds, encoding=encoding)
        )
        elapsed = time.monotonic() - t0
        cpu = (cpu_seconds(server.pid) - cpu0) / elapsed
        client_cpu = (time.process_time() - client0) / elapsed
        if spy is not None:
            spy.wait(timeout=30)
        # The same load from wrk (C): a second load generator, so the figure is not one
        # client library's.
        cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        by_wrk = wrk(
            server.url + "/",
            connections=clients,
            seconds=seconds,
            core=TARGET_CORE,
            headers={
                "Cookie": f"opsbook_session={cookie}",
                "Accept": "text/html",
                "Accept-Encoding": encoding,
            },
        )
        wrk_cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        server.close()
    cuts = statistics.quantiles(timings, n=100)
    p99 = cuts[98]
    print(
        f"  requests                 {len(timings):10d}   ({len(timings) / elapsed:.1f} per second)"
    )
    print(f"  page size                {size / 1024:10.0f} KiB ({sent / 1024:.0f} KiB sent)")
    print(f"  latency p50              {statistics.median(timings):10.1f} ms")
    print(f"  latency p95              {cuts[94]:10.1f} ms")
    print(f"  latency p99              {p99:10.1f} ms (target < 50 ms)")
    print(f"  latency max              {max(timings):10.1f} ms")
    print(f"  server CPU, one core     {100 * cpu:10.1f} %")
    # CPU per request moves less than latency on a shared machine: compare this between runs.
    print(f"  server CPU per request   {1000 * cpu * elapsed / len(timings):10.2f} ms")
    print(f"  load generator CPU       {100 * client_cpu:10.1f} %")
    _report_wrk(by_wrk, wrk_cpu)
    worst = max(p99, by_wrk.p99_ms)
    print(f"  verdict                  {'ok' if worst < 50 else 'OVER TARGET'} (p99 < 50 ms)")
    record(
        f"overview GET /, {checks:,} checks, {clients} clients back to back",
        opsbook=(
            f"p99 {p99:.0f} ms (aiohttp), {by_wrk.p99_ms:.0f} ms (wrk); {by_wrk.rate:,.0f} req/s"
        ),
        goal="p99 < 50 ms",
        met=worst < 50,
    )


def _report_wrk(run: WrkRun, cpu: float) -> None:
    print(f"  the same with wrk -c N (C, one thread, {run.seconds:.0f} s):")
    print(f"    requests               {run.requests:10d}   ({run.rate:.1f} per second)")
    print(f"    latency p50            {run.p50_ms:10.1f} ms")
    print(f"    latency p90            {run.p90_ms:10.1f} ms")
    print(f"    latency p99            {run.p99_ms:10.1f} ms (target < 50 ms)")
    print(f"    latency max            {run.max_ms:10.1f} ms")
    print(f"    server CPU, one core   {100 * cpu:10.1f} %")
    print(f"    server CPU per request {1000 * cpu / run.rate:10.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--accept-encoding",
        default="gzip, deflate",
        help="the clients' Accept-Encoding (what aiohttp sends; 'identity' for the page as is)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-") as tmp:
        print(
            f"GET / with {args.checks} checks, {args.clients} concurrent clients,"
            f" {args.seconds:.0f} s, Accept-Encoding: {args.accept_encoding}, opsbook on one core:"
        )
        with target() as url:
            measure(
                Path(tmp),
                url,
                checks=args.checks,
                clients=args.clients,
                seconds=args.seconds,
                encoding=args.accept_encoding,
            )


if __name__ == "__main__":
    main()
