"""Detection latency: from "the service went down" to "the page arrived", against the policy.

    .venv/bin/python bench/detection.py [--trials 20] [--every 1s] [--failures 2] [--retry 500ms]

A target (this process) answers ``GET /healthz`` with 200, or 500 during an outage. A real
``opsbook serve`` checks it every ``--every`` with a rule ``down`` (``when: api down``,
``for: <failures> failures``, ``retry_every``, severity SEV1) and the default
``alerting.evaluate_every``. Two paths end at a webhook sink (this process):

- the alert path: the rule notifies the ``sink`` channel (``group_wait: 0s``);
- the incident path: SEV1 pages (``page: true``), so the alert declares an incident whose
  escalation pages Ana, the one person of the ``primary`` schedule, through the ``pager``
  webhook channel. This is what wakes someone up; it is the figure the target applies to.

Each trial waits a random time, up to the longer of the interval and ``evaluate_every`` (so the
outage starts at a random point of the probe cycle and of every periodic task), makes the target
answer 500 at T0, records when the firing notification and the page reach the sink, makes it
answer 200 again and waits for the resolved notification.

The policy bounds what any prober on that schedule can do. The outage is seen by the first probe
after T0 (0 .. interval later), then confirmed by ``failures - 1`` re-probes ``retry_every``
apart: best case ``(failures-1) x retry_every``, worst case ``interval + (failures-1) x
retry_every``. Target: p99 of (page arrival - T0) <= worst case + 1 s.
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

RULE = "down"
NOTIFICATION_TIMEOUT_S = 30.0
EVALUATE_EVERY_S = 5.0  # alerting.evaluate_every's default, which the config keeps
FIRING, RESOLVED, PAGE = "firing", "resolved", "page"


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the sink read the request
    kind: str  # FIRING or RESOLVED (the rule's alert notification), or PAGE (an incident page)


class Target:
    """The watched service on a free port: ``GET /healthz`` answers 200, or 500 while
    ``failing`` (what the outage in issue 10 was: a target that starts answering 500)."""

    def __init__(self) -> None:
        self.failing = False
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(500 if target.failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Sink:
    """A webhook receiver on a free port, recording when each notification for ``RULE`` and
    each incident page arrives."""

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
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, at: float, payload: Any) -> None:
        with self._changed:
            self.bodies.append(payload)
            if payload.get("type") == PAGE:
                self.arrivals.append(Arrival(at, PAGE))
            for alert in payload.get("alerts", []):
                if alert.get("labels", {}).get("alertname") == RULE:
                    self.arrivals.append(Arrival(at, alert.get("status", "")))
            self._changed.notify_all()

    def first_after(self, t0: float, kind: str, *, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for arrival in self.arrivals:
                    if arrival.at >= t0 and arrival.kind == kind:
                        return arrival.at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind} notification within {timeout_s:g}s")
                self._changed.wait(left)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def opsbook_config(target_url: str, sink_url: str, *, every: str, failures: int, retry: str) -> str:
    return f"""\
service: bench
severities:
  # SEV1 pages: its alerts declare incidents, and the escalation pages the on-call person.
  SEV1: {{respond_within: 15m, page: true, escalation: default}}
  SEV2: {{respond_within: 1h}}
checks:
  api:
    http: {{url: "{target_url}/healthz"}}
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
  # evaluate_every stays at its default: the page must not wait for it.
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
oncall:
  people:
    ana: {{name: Ana, notify: [pager]}}
  schedules:
    primary: {{rotation: weekly, people: [ana]}}
  escalation:
    # One level and no wait: one page per incident, so a trial's page is its own.
    default:
      - {{notify: [schedule:primary]}}
channels:
  sink:
    webhook: {{url: "{sink_url}/alerts"}}
  pager:
    webhook: {{url: "{sink_url}/pager"}}
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with 20 trials, p95 is the 19th and p99 the 20th."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class Figures:
    fire: list[float]
    page: list[float]
    resolve: list[float]


def run_trials(
    target: Target, ops: Peer, sink: Sink, *, trials: int, every_s: float, console: Console
) -> Figures:
    figures = Figures([], [], [])
    rng = random.Random(4)
    for trial in range(1, trials + 1):
        # A random point of the probe cycle and of every periodic task (the alert engine's and
        # the incidents task's evaluate_every): trials a fixed time apart would phase-lock with
        # a period and hide its wait. group_interval has long passed since the last send.
        time.sleep(1.0 + rng.uniform(0, max(every_s, EVALUATE_EVERY_S)))
        t0 = time.monotonic()
        target.failing = True
        try:
            fired = sink.first_after(t0, FIRING, timeout_s=NOTIFICATION_TIMEOUT_S)
            paged = sink.first_after(t0, PAGE, timeout_s=NOTIFICATION_TIMEOUT_S)
        except TimeoutError as exc:
            raise SystemExit(f"trial {trial}: {exc}\n{ops.log_tail()}") from None
        t1 = time.monotonic()
        target.failing = False
        try:
            resolved = sink.first_after(t1, RESOLVED, timeout_s=NOTIFICATION_TIMEOUT_S)
        except TimeoutError as exc:
            raise SystemExit(f"trial {trial}: {exc}\n{ops.log_tail()}") from None
        figures.fire.append(fired - t0)
        figures.page.append(paged - t0)
        figures.resolve.append(resolved - t1)
        console.print(
            f"[dim]trial {trial:>2}: firing after {figures.fire[-1]:.3f}s, "
            f"paged after {figures.page[-1]:.3f}s, "
            f"resolved after {figures.resolve[-1]:.3f}s[/dim]"
        )
    return figures


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

    target = Target()
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="opsbook-bench-detection-") as tmp:
            workdir = Path(tmp)
            config = opsbook_config(
                target.url,
                sink.url,
                every=format_duration(every),
                failures=args.failures,
                retry=format_duration(retry),
            )
            database_url = f"sqlite:///{workdir / 'opsbook.db'}"
            with opsbook_serve(workdir, config=config, database_url=database_url) as ops:
                # Healthy first: a few good probes, no notification yet.
                wait_until(lambda: _probed(ops), what="opsbook probed the target", timeout_s=30)
                figures = run_trials(
                    target,
                    ops,
                    sink,
                    trials=args.trials,
                    every_s=every.total_seconds(),
                    console=console,
                )
    finally:
        sink.close()
        target.close()

    every_s, retry_s = every.total_seconds(), retry.total_seconds()
    best = (args.failures - 1) * retry_s
    worst = every_s + best
    table = Table(title=f"Detection latency over {args.trials} trials (T0 = target answers 500)")
    for header in ("", "p50", "p95", "p99", "min", "max", "mean"):
        table.add_column(header, justify="right")
    rows = (
        ("down -> page (incident path)", figures.page),
        ("down -> firing notification", figures.fire),
        ("up -> resolved notification", figures.resolve),
    )
    for name, values in rows:
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
    p50, p99 = percentile(figures.page, 50), percentile(figures.page, 99)
    ok = p99 <= worst + 1.0
    verdict = "[green]meets[/green]" if ok else "[red]misses[/red]"
    console.print(
        f"page: p50 {p50:.3f}s, p99 {p99:.3f}s vs policy worst case {worst:.3f}s + 1s = "
        f"{worst + 1:.3f}s: {verdict} the target"
    )
    console.print(f"p99 overhead beyond the policy worst case: {p99 - worst:+.3f}s")
    if not ok:
        sys.exit(1)


def _probed(ops: Peer) -> bool:
    status, body = http_json("GET", f"{ops.url}/api/v1/checks/api", token=ops.token)
    return status == 200 and isinstance(body, dict) and body.get("state") == "up"


if __name__ == "__main__":
    main()
