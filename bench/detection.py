"""Detection latency: from "the service went down" to "the page arrived", against the policy.

    .venv/bin/python bench/detection.py [--trials 20] [--every 1s] [--failures 2] [--retry 500ms]

A demo service (this process) is watched by a real ``opsbook serve`` with one HTTP check every
``--every``, a rule ``down`` (``when: api down``, ``for: <failures> failures``, ``retry_every``)
that notifies a webhook channel pointing at a local sink (this process). Each trial waits a random
fraction of the interval (so the outage starts at a random point of the probe cycle), stages
``down`` at T0 (``POST /_faults {"down": true}``), records when the sink receives the firing
notification, clears the fault and waits for the resolved notification.

The policy bounds what any prober on that schedule can do. The outage is seen by the first probe
after T0 (0 .. interval later), then confirmed by ``failures - 1`` re-probes ``retry_every``
apart: best case ``(failures-1) x retry_every``, worst case ``interval + (failures-1) x
retry_every``. Target: p99 of (arrival - T0) <= worst case + 1 s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # serving, for peers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from peers import Peer, http_json, opsbook_serve, wait_until

from opsbook.config.units import format_duration, parse_duration
from opsbook.demo import DemoServer, DemoState, create_demo_app

RULE = "down"
NOTIFICATION_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the sink read the request
    status: str  # "firing" or "resolved" for the rule's alert


class Sink:
    """A webhook receiver on a free port, recording when each notification for ``RULE`` arrives."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.bodies: list[Any] = []
        self._changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                at = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                sink.record(at, json.loads(body))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, at: float, payload: Any) -> None:
        with self._changed:
            self.bodies.append(payload)
            for alert in payload.get("alerts", []):
                if alert.get("labels", {}).get("alertname") == RULE:
                    self.arrivals.append(Arrival(at, alert.get("status", "")))
            self._changed.notify_all()

    def first_after(self, t0: float, status: str, *, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for arrival in self.arrivals:
                    if arrival.at >= t0 and arrival.status == status:
                        return arrival.at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {status} notification within {timeout_s:g}s")
                self._changed.wait(left)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def opsbook_config(demo_url: str, sink_url: str, *, every: str, failures: int, retry: str) -> str:
    return f"""\
service: bench
checks:
  api:
    http: {{url: "{demo_url}/healthz"}}
    every: {every}
    timeout: 800ms
    conditions: ["[STATUS] == 200"]
alerts:
  {RULE}:
    when: api down
    for: {failures} failures
    retry_every: {retry}
    severity: SEV1
    notify: [sink]
    # 20 outages in a few minutes is a flapping check by the default policy (6 transitions an
    # hour), which holds the alert; here every trial is a real outage to be paged.
    flapping: {{transitions: 1000, window: 1m}}
alerting:
  # One notification per alert, sent at once; a new outage never waits for the previous group.
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
channels:
  sink:
    webhook: {{url: "{sink_url}"}}
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with 20 trials, p95 is the 19th and p99 the 20th."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def run_trials(
    demo: DemoServer, ops: Peer, sink: Sink, *, trials: int, every_s: float, console: Console
) -> tuple[list[float], list[float]]:
    fire: list[float] = []
    resolve: list[float] = []
    rng = random.Random(4)
    for trial in range(1, trials + 1):
        # A random point of the probe cycle; group_interval has long passed since the last send.
        time.sleep(1.0 + rng.uniform(0, every_s))
        t0 = time.monotonic()
        status, body = http_json("POST", f"{demo.url}/_faults", {"down": True})
        assert status == 200, body
        try:
            fired = sink.first_after(t0, "firing", timeout_s=NOTIFICATION_TIMEOUT_S)
        except TimeoutError as exc:
            raise SystemExit(f"trial {trial}: {exc}\n{ops.log_tail()}") from None
        t1 = time.monotonic()
        status, body = http_json("POST", f"{demo.url}/_faults", {"down": False})
        assert status == 200, body
        try:
            resolved = sink.first_after(t1, "resolved", timeout_s=NOTIFICATION_TIMEOUT_S)
        except TimeoutError as exc:
            raise SystemExit(f"trial {trial}: {exc}\n{ops.log_tail()}") from None
        fire.append(fired - t0)
        resolve.append(resolved - t1)
        console.print(
            f"[dim]trial {trial:>2}: firing after {fire[-1]:.3f}s, "
            f"resolved after {resolve[-1]:.3f}s[/dim]"
        )
    return fire, resolve


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--every", default="1s", help="the check's interval")
    parser.add_argument("--failures", type=int, default=2, help="the rule's `for: N failures`")
    parser.add_argument("--retry", default="500ms", help="the rule's retry_every")
    args = parser.parse_args()
    every: timedelta = parse_duration(args.every)
    retry: timedelta = parse_duration(args.retry)
    console = Console(width=120)

    demo = DemoServer(create_demo_app(DemoState()), port=0)
    demo.start()
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="opsbook-bench-detection-") as tmp:
            workdir = Path(tmp)
            config = opsbook_config(
                demo.url,
                sink.url,
                every=format_duration(every),
                failures=args.failures,
                retry=format_duration(retry),
            )
            database_url = f"sqlite:///{workdir / 'opsbook.db'}"
            with opsbook_serve(workdir, config=config, database_url=database_url) as ops:
                # Healthy first: a few good probes, no notification yet.
                wait_until(
                    lambda: _probed(ops), what="opsbook probed the demo service", timeout_s=30
                )
                fire, resolve = run_trials(
                    demo,
                    ops,
                    sink,
                    trials=args.trials,
                    every_s=every.total_seconds(),
                    console=console,
                )
    finally:
        sink.close()
        demo.stop()

    every_s, retry_s = every.total_seconds(), retry.total_seconds()
    best = (args.failures - 1) * retry_s
    worst = every_s + best
    table = Table(title=f"Detection latency over {args.trials} trials (T0 = fault staged)")
    for header in ("", "p50", "p95", "p99", "min", "max", "mean"):
        table.add_column(header, justify="right")
    for name, values in (("down -> firing page", fire), ("up -> resolved", resolve)):
        table.add_row(
            name,
            *(f"{percentile(values, q):.3f}s" for q in (50, 95, 99)),
            f"{min(values):.3f}s",
            f"{max(values):.3f}s",
            f"{statistics.fmean(values):.3f}s",
        )
    console.print(table)
    console.print(
        f"policy: check every {format_duration(every)}, for {args.failures} failures, "
        f"retry_every {format_duration(retry)}\n"
        f"  best case  = (failures-1) x retry_every            = "
        f"{args.failures - 1} x {retry_s:g}s = {best:.3f}s (outage starts just before a probe)\n"
        f"  worst case = interval + (failures-1) x retry_every = "
        f"{every_s:g}s + {best:g}s = {worst:.3f}s (just after a probe)"
    )
    p99 = percentile(fire, 99)
    ok = p99 <= worst + 1.0
    verdict = "[green]meets[/green]" if ok else "[red]misses[/red]"
    console.print(
        f"p99 {p99:.3f}s vs policy worst case + 1s = {worst + 1:.3f}s: {verdict} the target"
    )
    console.print(f"p99 overhead beyond the policy worst case: {p99 - worst:+.3f}s")


def _probed(ops: Peer) -> bool:
    status, body = http_json("GET", f"{ops.url}/api/v1/checks/api")
    return status == 200 and isinstance(body, dict) and body.get("state") == "up"


if __name__ == "__main__":
    main()
