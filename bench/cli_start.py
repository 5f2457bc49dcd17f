"""How long an ``opsbook`` command takes from start to answer, next to ``amtool``'s.

    .venv/bin/python bench/cli_start.py [--runs 20]

Starts a real ``opsbook serve`` (SQLite store in a temporary folder, a config with one on-call
schedule and one heartbeat check) and a real Alertmanager (Debian's
``prometheus-alertmanager``), both pinned to core 1, each on a free port. Then runs, on core 0,
``--runs`` times each and interleaved (run i of every command, then run i+1), after two
warm-up runs each: ``opsbook --version``, ``opsbook --help``, ``opsbook oncall who`` and
``opsbook alerts`` (the server from ``$OPSBOOK_SERVER``, the token from ``$OPSBOOK_TOKEN``, the
config read for its timezone as a user's would be), and ``amtool --version`` and ``amtool alert
query --alertmanager.url=...``. Every run must exit 0.

Printed: per command the median and max wall time from start to exit (seconds) and the median
CPU time (user + system), then the ratios opsbook / amtool and the verdict against the goal:
every opsbook command under 0.3 s (issue 15). Wall time on a shared machine is noisy; the CPU
column is the steadier figure, and the load average is printed with it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # serving, for peers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from _summary import record
from peers import ALERTMANAGER, alertmanager, missing, opsbook_serve

SERVER_CORE = "1"
CLI_CORE = 0
WARMUP_RUNS = 2
GOAL_S = 0.3
CONFIG = """\
service: bench
timezone: Europe/Berlin
oncall:
  people:
    alice: {name: Alice}
    bob: {name: Bob}
  schedules:
    primary: {rotation: weekly, handoff: "mon 09:00", people: [alice, bob]}
checks:
  api:
    heartbeat: {period: 1h, grace: 1h}
"""
ALERTMANAGER_CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


@dataclass
class Row:
    tool: str
    label: str
    command: list[str]
    env: Mapping[str, str]
    expect: str = ""
    walls_s: list[float] = field(default_factory=list)
    cpus_s: list[float] = field(default_factory=list)


def _opsbook() -> list[str]:
    script = Path(sys.executable).parent / "opsbook"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "opsbook"]


def _run(row: Row) -> tuple[float, float]:
    """One run of ``row``: its wall time and its CPU time (user + system), in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        row.command, env=dict(row.env), capture_output=True, text=True, timeout=60, check=False
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or row.expect not in done.stdout:
        raise SystemExit(
            f"{row.label} failed (exit {done.returncode}):\n{done.stdout[-2000:]}"
            f"{done.stderr[-2000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _measure(rows: Sequence[Row], runs: int) -> None:
    for _ in range(WARMUP_RUNS):
        for row in rows:
            _run(row)
    for _ in range(runs):
        for row in rows:
            wall, cpu = _run(row)
            row.walls_s.append(wall)
            row.cpus_s.append(cpu)


def _median(row: Row) -> float:
    return statistics.median(row.walls_s)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="measured runs of each command")
    args = parser.parse_args()
    absent = missing("taskset", ALERTMANAGER, "amtool")
    if absent:
        raise SystemExit(f"missing: {', '.join(absent)} (`make bench` installs the peers)")
    os.sched_setaffinity(0, {CLI_CORE})
    console = Console(width=132)
    amtool = shutil.which("amtool") or "amtool"
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-cli-") as tmp:
        workdir = Path(tmp)
        db = workdir / "opsbook" / "opsbook.db"
        with (
            opsbook_serve(
                workdir, config=CONFIG, database_url=f"sqlite:///{db}", cpus=SERVER_CORE
            ) as server,
            alertmanager(workdir, config=ALERTMANAGER_CONFIG, cpus=SERVER_CORE) as am,
        ):
            config = str(workdir / "opsbook" / "opsbook.yaml")
            env = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
            client = env | {"OPSBOOK_SERVER": server.url, "OPSBOOK_TOKEN": server.token or ""}
            client |= {"COLUMNS": "120", "NO_COLOR": "1"}
            ops = _opsbook()
            rows = [
                Row("opsbook", "opsbook --version", [*ops, "--version"], client, "opsbook "),
                Row("opsbook", "opsbook --help", [*ops, "--help"], client, "oncall"),
                Row(
                    "opsbook",
                    "opsbook oncall who",
                    [*ops, "oncall", "who", "--config", config],
                    client,
                    "primary",
                ),
                Row("opsbook", "opsbook alerts", [*ops, "alerts", "--config", config], client),
                Row("amtool", "amtool --version", [amtool, "--version"], env),
                Row(
                    "amtool",
                    "amtool alert query",
                    [amtool, "alert", "query", f"--alertmanager.url={am.url}"],
                    env,
                ),
            ]
            _measure(rows, args.runs)
            loadavg = os.getloadavg()
    table = Table(
        title=(
            f"CLI start to answer: {args.runs} runs each, interleaved, on core {CLI_CORE}; "
            f"servers on core {SERVER_CORE}"
        )
    )
    for header in ("command", "median s", "max s", "CPU median s", f"< {GOAL_S} s"):
        table.add_column(header, justify="left" if header == "command" else "right")
    for row in rows:
        median = _median(row)
        ok = "" if row.tool != "opsbook" else ("yes" if median < GOAL_S else "[red]no[/red]")
        table.add_row(
            row.label,
            f"{median:.3f}",
            f"{max(row.walls_s):.3f}",
            f"{statistics.median(row.cpus_s):.3f}",
            ok,
        )
    console.print(table)
    console.print(
        f"load average during the run: {loadavg[0]:.2f} {loadavg[1]:.2f} {loadavg[2]:.2f}"
    )
    by = {row.label: row for row in rows}
    for ours, theirs in (
        ("opsbook --version", "amtool --version"),
        ("opsbook alerts", "amtool alert query"),
        ("opsbook oncall who", "amtool alert query"),
    ):
        ratio = _median(by[ours]) / _median(by[theirs])
        console.print(f"{ours} / {theirs} = {ratio:.1f}x (median wall)", highlight=False)
    slowest = max((r for r in rows if r.tool == "opsbook"), key=_median)
    verdict = "[green]meets[/green]" if _median(slowest) < GOAL_S else "[red]misses[/red]"
    console.print(
        f"slowest opsbook command: {slowest.label} at {_median(slowest):.3f} s median; "
        f"{verdict} the {GOAL_S} s goal (amtool: "
        f"{_median(by['amtool alert query']):.3f} s for a query)"
    )
    for ours, theirs in (
        ("opsbook --version", "amtool --version"),
        ("opsbook oncall who", "amtool alert query"),
    ):
        record(
            f"CLI start to answer: {ours}",
            opsbook=f"{_median(by[ours]):.3f} s ({statistics.median(by[ours].cpus_s):.3f} s CPU)",
            peer=f"{theirs}: {_median(by[theirs]):.3f} s",
            ratio=_median(by[ours]) / _median(by[theirs]),
            goal=f"< {GOAL_S} s",
            met=_median(by[ours]) < GOAL_S,
        )


if __name__ == "__main__":
    main()
