"""Where the memory a burst leaves behind lives: tracemalloc in a real ``opsbook serve``.

    .venv/bin/python bench/memory_trace.py [--routes v2,pd] [--requests 4] [--top 25]

Starts ``opsbook serve`` on a fresh SQLite store through this script (``--child``), which starts
tracemalloc before the CLI and, when asked through a file in a control folder, runs
``gc.collect()`` and writes a snapshot. For each route (the bodies of bench/memory_burst.py) it
snapshots the idle server, sends ``--requests`` bodies at once, waits ``--settle`` seconds and
snapshots again, then prints the largest differences grouped by traceback: what is still alive
after the burst, and which line allocated it. tracemalloc makes the server slower and its RSS
larger; compare the differences, not the RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_burst import CONFIG, ROUTES, post, rss_kib

MB = 1024 * 1024
FRAMES = 12


def child(control: Path, argv: list[str]) -> None:
    """Run the CLI with ``argv`` under tracemalloc; ``control/NAME.req`` asks for a snapshot
    written to ``control/NAME.snap`` (then ``NAME.done``)."""
    tracemalloc.start(FRAMES)

    def serve_requests() -> None:
        while True:
            for request in control.glob("*.req"):
                gc.collect()
                snapshot = tracemalloc.take_snapshot()
                snapshot.dump(str(request.with_suffix(".snap")))
                request.unlink()
                request.with_suffix(".done").touch()
            time.sleep(0.1)

    threading.Thread(target=serve_requests, daemon=True).start()
    sys.argv = ["opsbook", *argv]
    from opsbook.cli.app import run

    run()


def snapshot(control: Path, name: str) -> tracemalloc.Snapshot:
    (control / f"{name}.req").touch()
    while not (control / f"{name}.done").exists():
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(control / f"{name}.snap"))


def start(config: Path, control: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, __file__, "--child", str(control), "--"]
    command += ["serve", "--config", str(config), "--port", "0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None
    for line in process.stderr:
        if '"listening"' in line:
            url = str(json.loads(line)["url"])
            # Keep reading, so a chatty server never blocks on a full pipe.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, url
    raise SystemExit("opsbook serve did not start")


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int) -> None:
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    stats = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"  retained: {total / MB:+.1f} MB in {sum(s.count_diff for s in stats):+d} blocks")
    for stat in stats[:top]:
        if abs(stat.size_diff) < 256 * 1024:
            break
        print(f"  {stat.size_diff / MB:+7.1f} MB {stat.count_diff:+8d} blocks")
        frames = [f for f in stat.traceback if "/opsbook/" in f.filename] or list(stat.traceback)
        for frame in frames[-6:]:
            print(f"      {frame.filename.split('/src/')[-1]}:{frame.lineno}")
    by_file = after.compare_to(before, "filename")
    print("  by file:")
    for stat in by_file[:8]:
        print(f"    {stat.size_diff / MB:+7.1f} MB  {stat.traceback[0].filename.split('/')[-1]}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", default="v2,pd", help="comma-separated: " + ",".join(ROUTES))
    parser.add_argument("--requests", type=int, default=1, help="bodies sent at once")
    parser.add_argument("--rounds", type=int, default=2, help="bursts per route")
    parser.add_argument("--settle", type=float, default=6.0, help="seconds before 'after'")
    parser.add_argument("--top", type=int, default=25, help="differences printed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config, control = Path(tmp) / "opsbook.yaml", Path(tmp) / "control"
        config.write_text(CONFIG, encoding="utf-8")
        control.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
        env["OPSBOOK_DATABASE_URL"] = f"sqlite:///{tmp}/opsbook.db"
        process, url = start(config, control, env)
        try:
            time.sleep(2.0)
            run = 1000
            for name in [n for n in args.routes.split(",") if n]:
                route = ROUTES[name]
                path = route.path
                for round_ in range(args.rounds):
                    bodies = []
                    for _ in range(args.requests):
                        run += 1
                        bodies.append(route.body(run, route.limit))
                    before = snapshot(control, f"{name}-{round_}-before")
                    rss = rss_kib(process.pid)
                    with ThreadPoolExecutor(len(bodies)) as pool:
                        statuses = list(
                            pool.map(post, [url] * len(bodies), [path] * len(bodies), bodies)
                        )
                    del bodies
                    time.sleep(args.settle)
                    after = snapshot(control, f"{name}-{round_}-after")
                    grown = (rss_kib(process.pid) - rss) / 1024
                    print(f"{route.path} round {round_ + 1}: {statuses}, RSS {grown:+.0f} MB")
                    report(before, after, args.top)
        finally:
            process.terminate()
            process.wait(60)


if __name__ == "__main__":
    main()
