"""10,000 checks every 30 s on one core, and a p95-over-90-days query.

    .venv/bin/python bench/scale.py [--checks 10000] [--seconds 60]
    .venv/bin/python bench/scale.py --history [--checks 1000 --every 3s] [--seconds 120]

Part 1 runs ``opsbook serve`` pinned to one core with ``--checks`` HTTP checks (``every: 30s``, a
status and a JSON body condition) against a local nginx pinned to the other core, waits one full
cycle, then measures over ``--seconds``: CPU (% of one core), RSS, p99 schedule lateness (from
opsbook's own ``opsbook_scheduler_lateness_seconds`` histogram), results per second, and storage
growth in bytes per check per day (SQLite pages after a WAL checkpoint).
Targets (issue 15): p99 lateness < 100 ms, CPU < 35 %; RSS < 150 MB at 1,000 checks.

With ``--history``, part 1 runs twice on the same checks: on an empty store (the start of an
install's life) and on a store pre-filled with what 14 days of running leaves (``_prefill``):
14 days of minute, hour and day rollups and 48 h of raw results (one every 30 s) for every
check, and a state row each. It prints both and the ratio end / start of CPU and p99 lateness.
Target: within 10 % (issue 10: a row-value IN over ``check_rollup`` made each probe cost 12.65x
more after two days of history). ``--every`` sets the checks' interval: 1,000 checks every 3 s
are the probe rate of 10,000 every 30 s with a tenth of the history to generate.

Part 2 fills a store with 90 days of rollups for one check (day and hour buckets, plus 14 days
of minute buckets, as retention keeps them) and times ``GET /api/v1/checks/{id}?windows=90d``
on a running server, 50 times. Target: < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from opsbook.checks import rollups
from opsbook.config.units import parse_duration
from opsbook.store.engine import create_engine
from opsbook.store.migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # serving.api_token
from _peers import cpu_seconds, free_port, nginx, rss_bytes, wait_http
from _summary import record
from probes import MEASURED_CORE, TARGET_CORE, _pin, pyspy

from serving import api_token

LATENESS = "opsbook_scheduler_lateness_seconds"


def _config(target: str, n: int, *, every: str, flush_every: str = "250ms") -> str:
    lines = ["service: bench", f"scheduler: {{flush_every: {flush_every}}}", "checks:"]
    # 5 s, or less than the interval (the config refuses a timeout as long as it).
    timeout_ms = min(5000, int(parse_duration(every).total_seconds() * 500))
    for i in range(n):
        lines += [
            f"  c{i:05d}:",
            f"    http: {{url: '{target}?c={i}'}}",
            f"    every: {every}",
            f"    timeout: {timeout_ms}ms",
            "    conditions: ['[STATUS] == 200', '[BODY].status == UP']",
        ]
    return "\n".join(lines) + "\n"


def _buckets(url: str) -> dict[float, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != LATENESS:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                out[float(sample.labels["le"])] = sample.value
    return out


def _quantile(q: float, before: Mapping[float, float], after: Mapping[float, float]) -> float:
    """PromQL histogram_quantile over the bucket increases between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def _db_bytes(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def _results(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM check_result").fetchone()[0])


def _serve(config: Path, db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "OPSBOOK_DATABASE_URL": f"sqlite:///{db}"}
    command = [sys.executable, "-m", "opsbook", "serve", "--config", str(config)]
    log = (db.parent / f"{db.stem}.serve.log").open("ab")
    process = subprocess.Popen([*command, "--port", str(port)], env=env, stderr=log)
    return process, f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Figures:
    rate: float
    p99_ms: float
    cpu_pct: float
    rss_mb: float
    per_day: float


def scale(
    workdir: Path, target: str, *, checks: int, seconds: float, flush_every: str, every: str = "30s"
) -> Figures:
    config = workdir / "scale.yaml"
    config.write_text(_config(target, checks, every=every, flush_every=flush_every))
    return measure(config, workdir / "scale.db", checks=checks, seconds=seconds, every=every)


def measure(config: Path, db: Path, *, checks: int, seconds: float, every: str) -> Figures:
    """Serve ``config`` on ``db`` (pinned to one core), wait one full cycle, then measure."""
    period = parse_duration(every).total_seconds()
    process, url = _serve(config, db)
    try:
        _pin(process.pid, MEASURED_CORE)
        try:
            wait_http(f"{url}/ready", timeout_s=120)
        except RuntimeError:
            print((db.parent / f"{db.stem}.serve.log").read_text()[-2000:], file=sys.stderr)
            raise
        print(f"  warming up: a full 30 s of {checks} checks every {every} ...", flush=True)
        time.sleep(max(35.0, period + 5))
        lateness0, bytes0, results0 = _buckets(f"{url}/metrics"), _db_bytes(db), _results(db)
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        spy = pyspy(process.pid, seconds=seconds, name=f"scale-{checks}")
        time.sleep(seconds)
        cpu1, t1 = cpu_seconds(process.pid), time.monotonic()
        lateness1, rss = _buckets(f"{url}/metrics"), rss_bytes(process.pid)
        if spy is not None:
            spy.wait(timeout=30)
        time.sleep(2)  # last flush
        bytes1, results1 = _db_bytes(db), _results(db)
    finally:
        process.terminate()
        process.wait(timeout=60)
    elapsed = t1 - t0
    figures = Figures(
        rate=(results1 - results0) / (elapsed + 2),
        p99_ms=1000 * _quantile(0.99, lateness0, lateness1),
        cpu_pct=100 * (cpu1 - cpu0) / elapsed,
        rss_mb=rss / 2**20,
        per_day=(bytes1 - bytes0) / checks / elapsed * 86400,
    )
    print(f"  results per second       {figures.rate:10.0f}   (expected {checks / period:.0f})")
    print(f"  p99 schedule lateness    {figures.p99_ms:10.1f} ms (target < 100 ms)")
    print(f"  CPU, one core            {figures.cpu_pct:10.1f} %  (target < 35 %)")
    print(f"  RSS                      {figures.rss_mb:10.0f} MB (target < 150 MB at 1,000 checks)")
    print(f"  storage growth           {figures.per_day:10.0f} bytes per check per day")
    if checks >= 10_000:
        record(
            f"{checks:,} checks every {every} on one core",
            opsbook=f"p99 lateness {figures.p99_ms:.1f} ms, CPU {figures.cpu_pct:.1f} %",
            peer="Uptime Kuma: ~500 monitors practical",
            goal="p99 < 100 ms, CPU < 35 %",
            met=figures.p99_ms < 100 and figures.cpu_pct < 35,
        )
    elif checks == 1000:
        record(
            f"RSS at {checks:,} checks every {every}",
            opsbook=f"{figures.rss_mb:.0f} MB",
            goal="< 150 MB",
            met=figures.rss_mb < 150,
        )
    return figures


def history(
    workdir: Path, target: str, *, checks: int, seconds: float, flush_every: str, every: str
) -> None:
    """The same load on an empty store and on one holding 14 days of history."""
    print("  start: an empty store")
    start = scale(
        workdir, target, checks=checks, seconds=seconds, flush_every=flush_every, every=every
    )
    config = workdir / "scale.yaml"
    db = workdir / "history.db"
    began = time.monotonic()
    counts = _prefill(db, checks=checks, now=datetime.now(UTC))
    print(
        f"  end: a store with 14 days of history ({counts['rollups']:,} rollup rows,"
        f" {counts['results']:,} results, {_db_bytes(db) / 2**30:.1f} GiB;"
        f" filled in {time.monotonic() - began:.0f} s)"
    )
    end = measure(config, db, checks=checks, seconds=seconds, every=every)
    print("  end / start (target: within 10 %)")
    for name, a, b in (
        ("CPU, one core", start.cpu_pct, end.cpu_pct),
        ("p99 schedule lateness", start.p99_ms, end.p99_ms),
    ):
        ratio = b / a if a else float("nan")
        verdict = "ok" if abs(ratio - 1) <= 0.10 else "OUT OF BOUNDS"
        print(f"  {name:24s} {a:8.1f} -> {b:8.1f}   x{ratio:.3f}  {verdict}")


def _prefill(db: Path, *, checks: int, now: datetime) -> dict[str, int]:
    """What 14 days of ``checks`` probed every 30 s leave in a store (default retention):
    minute, hour and day rollups for 14 days, raw results for 48 h, a state row per check.

    Generated in SQL (recursive CTEs) and written in primary-key order with the secondary
    indexes dropped and rebuilt after, which is minutes faster than inserting through opsbook.
    Timestamps are written as SQLAlchemy writes them on SQLite (naive UTC, microseconds), or
    an upsert would not find the rows it meets.
    """
    engine = create_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    end = now.replace(second=0, microsecond=0)
    # k intervals before :end (k >= 1), as SQLAlchemy writes timestamps on SQLite.
    fmt = "strftime('%Y-%m-%d %H:%M:%S', :end, '-' || (k * :step) || ' seconds') || '.000000'"
    bucket = (
        "INSERT INTO check_rollup SELECT printf('c%05d', i), :resolution, " + fmt + ","
        " :n, 0, 0, :n * 30.0, 0, 0, :histogram, :n * 12.0, 20.0"
        " FROM c CROSS JOIN k"
    )
    results = (
        "INSERT INTO check_result (check_id, started_at, state, latency_ms, status, error,"
        ' failed_conditions, "values", timings, is_change)'
        " SELECT printf('c%05d', i), " + fmt + ", 'up', 12.0, 200, NULL, '[]', '{}', '{}', 0"
        " FROM c CROSS JOIN k"
    )
    # Checks outside (CROSS JOIN keeps that order), oldest bucket first: primary-key order.
    ranges = (
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < :checks - 1),"
        " k(k) AS (SELECT :count UNION ALL SELECT k - 1 FROM k WHERE k > 1) "
    )
    conn = sqlite3.connect(db, timeout=60)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        tables = ("check_rollup", "check_result")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN {tables}"
        ).fetchall()
        with conn:
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {name}")
            common = {"checks": checks, "end": _text(end)}
            histogram = json.dumps({"260": 1, "270": 1})
            for resolution, step, count, n in (
                ("minute", 60, 14 * 24 * 60, 2),
                ("hour", 3600, 14 * 24, 120),
                ("day", 86400, 14, 2880),
            ):
                conn.execute(
                    ranges + bucket,
                    {
                        **common,
                        "end": _text(rollups.bucket_start(end, resolution)),
                        "resolution": resolution,
                        "step": step,
                        "count": count,
                        "n": n,
                        "histogram": histogram,
                    },
                )
            conn.execute(ranges + results, {**common, "step": 30, "count": 48 * 120})
            conn.execute(
                "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ? - 1)"
                " INSERT INTO check_state SELECT printf('c%05d', i), 'up', ?, ?, 12.0, NULL FROM c",
                (checks, f"{common['end']}.000000", f"{common['end']}.000000"),
            )
            for _, sql in indexes:
                conn.execute(sql)
        counts = {
            "rollups": conn.execute("SELECT count(*) FROM check_rollup").fetchone()[0],
            "results": conn.execute("SELECT count(*) FROM check_result").fetchone()[0],
        }
    finally:
        conn.close()
    return counts


def _text(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat(sep=" ")


def _seed_rollups(db: Path, check_id: str, now: datetime) -> None:
    """Rollups as 90 days of probes every 30 s leave them: day and hour rows for 90 days,
    minute rows for the last 14 (the default retention)."""
    rows = []
    day = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=90)
    while day < now:
        rows.append((check_id, "day", day, 2880))
        day += timedelta(days=1)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=90)
    while hour < now:
        rows.append((check_id, "hour", hour, 120))
        hour += timedelta(hours=1)
    minute = now.replace(second=0, microsecond=0) - timedelta(days=14)
    while minute < now:
        rows.append((check_id, "minute", minute, 2))
        minute += timedelta(minutes=1)
    histogram = json.dumps({"150": 40, "160": 50, "170": 25, "200": 5})
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO check_rollup (check_id, resolution, bucket_start, n_up, n_degraded,"
            " n_down, up_seconds, degraded_seconds, down_seconds, histogram, latency_sum_ms,"
            " latency_max_ms) VALUES (?, ?, ?, ?, 0, 0, ?, 0, 0, ?, ?, 500)",
            [
                (
                    cid,
                    res,
                    start.replace(tzinfo=None).isoformat(sep=" "),
                    n,
                    n * 30,
                    histogram,
                    n * 20.0,
                )
                for cid, res, start, n in rows
            ],
        )


def query_90d(workdir: Path, target: str) -> None:
    config = workdir / "query.yaml"
    config.write_text(_config(target, 1, every="1h").replace("timeout: 5s", "timeout: 5s"))
    db = workdir / "query.db"
    process, url = _serve(config, db)
    try:
        wait_http(f"{url}/ready", timeout_s=60)
        _seed_rollups(db, "c00000", datetime.now(UTC))
        # Every /api/v1 route wants a role; the token is resolved on each request, as in use.
        token = api_token(f"sqlite:///{db}", name="bench")
        api = urllib.request.Request(
            f"{url}/api/v1/checks/c00000?windows=90d",
            headers={"Authorization": f"Bearer {token}"},
        )
        timings = []
        for _ in range(50):
            start = time.perf_counter()
            with urllib.request.urlopen(api, timeout=10) as response:
                body = json.loads(response.read())
            timings.append((time.perf_counter() - start) * 1000)
    finally:
        process.terminate()
        process.wait(timeout=30)
    p95 = statistics.quantiles(timings, n=20)[-1]
    window = body.get("windows", {}).get("90d", body)
    print(
        f"  90-day window over HTTP  p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms,"
        f" max {max(timings):.1f} ms (target < 50 ms)"
    )
    print(f"  answer: {json.dumps(window)[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--flush-every", default="250ms", help="scheduler.flush_every for opsbook")
    parser.add_argument("--every", default="30s", help="every: of each check")
    parser.add_argument(
        "--history",
        action="store_true",
        help="measure on an empty store, then on one with 14 days of history, and compare",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-") as tmp:
        workdir = Path(tmp)
        with nginx(workdir) as target:
            _pin(target.pid, TARGET_CORE)
            print(f"{args.checks} checks every {args.every}, opsbook on one core:")
            if args.history:
                history(
                    workdir,
                    target.url,
                    checks=args.checks,
                    seconds=args.seconds,
                    flush_every=args.flush_every,
                    every=args.every,
                )
                return
            scale(
                workdir,
                target.url,
                checks=args.checks,
                seconds=args.seconds,
                flush_every=args.flush_every,
                every=args.every,
            )
            print("p95 over 90 days for one check:")
            query_90d(workdir, target.url)


if __name__ == "__main__":
    main()
