"""RSS of ``opsbook serve`` around bursts of the largest bodies each ingest route accepts.

    .venv/bin/python bench/memory_burst.py [--settle 10] [--routes v2,am,pd,hook,ping]

Starts a real ``opsbook serve`` on a fresh SQLite store and, for each JSON ingest route, sends one
request with a body just under that route's limit, then four such requests at once. Every
request must be accepted (2xx); the alerts are new each time, so they are stored, not refreshed.
For each step it prints the RSS before (baseline), the peak while the requests ran and the RSS
``--settle`` seconds after the last answer. The peak is the kernel's high-water mark (VmHWM,
reset through ``/proc/PID/clear_refs`` before each step), so a spike between two samples is not
missed; where the reset is not allowed, RSS sampled every 10 ms.

Routes: ``v2`` POST /api/v2/alerts, ``am`` the Alertmanager webhook receiver, ``pd`` PagerDuty
POST /v2/enqueue, ``hook`` the generic webhook, ``ping`` a heartbeat ping with a 8 MB body
(only its first 10 KB are kept).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import Server, serve_env

MB = 1024 * 1024
TOKEN = "bench-memory-token-5c1e9a7f"
PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
HEARTBEAT = "8c6a1f0e-4a5e-4f4e-9d3b-2a1c5e7f9b10"
CONFIG = f"""\
service: bench
checks:
  cron: {{heartbeat: {{period: 5m, uuid: "{HEARTBEAT}"}}}}
integrations:
  prom: {{alertmanager: {{token: {TOKEN}}}}}
  pd: {{pagerduty: {{routing_key: {PD_KEY}}}}}
  hook: {{webhook: {{token: {TOKEN}}}}}
"""
# The limits in force before this bench (src/opsbook/web/api/ingest.py); a body is built to
# fill the route's limit, less a margin for the framing.
LIMITS = {"v2": 2 * MB, "am": 2 * MB, "pd": 512 * 1024, "hook": 1 * MB}
MAX_ALERTS = 1000
_RUN = itertools.count(1)


def _labels(tag: str, n: int) -> dict[str, str]:
    """``n`` short labels: many small strings are what costs the most memory per body byte."""
    return {f"l{k:02d}": f"{tag}-{k}" for k in range(n)}


def _fill(make: Callable[[int], object], limit: int, *, cap: int) -> list[object]:
    """As many ``make(i)`` items as fit in ``limit`` bytes of JSON (at most ``cap``)."""
    one = len(json.dumps(make(cap))) + 2  # the longest index: the size of the largest item
    return [make(i) for i in range(min(cap, (limit - 1024) // one))]


def v2_body(run: int, limit: int) -> bytes:
    def alert(i: int) -> dict[str, object]:
        tag = f"r{run}a{i}"
        labels = {"alertname": "Burst", **_labels(tag, 60)}
        return {"labels": labels, "annotations": _labels(tag, 30)}

    return json.dumps(_fill(alert, limit, cap=MAX_ALERTS)).encode()


def am_body(run: int, limit: int) -> bytes:
    def alert(i: int) -> dict[str, object]:
        tag = f"r{run}a{i}"
        return {
            "status": "firing",
            "labels": {"alertname": "Burst", **_labels(tag, 60)},
            "annotations": _labels(tag, 30),
            "startsAt": "2026-01-01T00:00:00Z",
        }

    alerts = _fill(alert, limit - 512, cap=MAX_ALERTS)
    message = {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "opsbook"}
    return json.dumps({**message, "alerts": alerts}).encode()


def pd_body(run: int, limit: int) -> bytes:
    # An entry is '"kNNNNN": "rR-NNNNN", ', 26 bytes at most while numbers stay under 6 digits.
    details = {f"k{k}": f"r{run}-{k}" for k in range((limit - 1024) // 26)}
    payload = {"summary": f"burst {run}", "source": "bench", "severity": "critical"}
    event = {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": f"burst-{run}",
        "payload": {**payload, "custom_details": details},
    }
    return json.dumps(event).encode()


def hook_body(run: int, limit: int) -> bytes:
    def alert(i: int) -> dict[str, object]:
        tag = f"r{run}a{i}"
        return {
            "summary": f"burst {tag}",
            "labels": _labels(tag, 60),
            "annotations": _labels(tag, 30),
        }

    return json.dumps(_fill(alert, limit, cap=MAX_ALERTS)).encode()


def ping_body(run: int, limit: int) -> bytes:
    return b"x" * limit


@dataclass(frozen=True)
class Route:
    path: str
    body: Callable[[int, int], bytes]
    limit: int


ROUTES = {
    "v2": Route("/api/v2/alerts", v2_body, LIMITS["v2"]),
    "am": Route("/api/v1/integrations/prom/alertmanager", am_body, LIMITS["am"]),
    "pd": Route("/v2/enqueue", pd_body, LIMITS["pd"]),
    "hook": Route("/api/v1/integrations/hook/webhook", hook_body, LIMITS["hook"]),
    "ping": Route(f"/ping/{HEARTBEAT}", ping_body, 8 * MB),
}


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Peak:
    """The peak RSS of ``pid`` from now until ``stop()``: VmHWM after a reset, or sampling."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # "5": reset the peak RSS
            self.hwm = True
        except OSError:
            self.hwm = False
        self.sampled = rss_kib(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.sampled = max(self.sampled, rss_kib(self.pid))

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return max(self.sampled, rss_kib(self.pid, "VmHWM") if self.hwm else 0)


def post(url: str, path: str, body: bytes) -> int:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@dataclass(frozen=True)
class Step:
    route: str
    requests: int
    body_bytes: int
    baseline_kib: int
    peak_kib: int
    after_kib: int


def burst(server: Server, name: str, *, requests: int, settle_s: float) -> Step:
    route = ROUTES[name]
    bodies = [route.body(next(_RUN), route.limit) for _ in range(requests)]
    assert all(len(b) <= route.limit for b in bodies), "a body is over the route's limit"
    time.sleep(0.5)
    baseline = rss_kib(server.pid)
    peak = Peak(server.pid)
    with ThreadPoolExecutor(requests) as pool:
        statuses = list(pool.map(lambda b: post(server.url, route.path, b), bodies))
    if any(not 200 <= s < 300 for s in statuses):
        peak.stop()
        raise SystemExit(f"{route.path}: answered {statuses}, not 2xx (see the server log)")
    # The peak window includes the settling time: the alert engine works on the new alerts
    # after the answers went out.
    time.sleep(settle_s)
    peak_kib = peak.stop()
    return Step(name, requests, len(bodies[0]), baseline, peak_kib, rss_kib(server.pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before 'after'")
    parser.add_argument(
        "--routes", default=",".join(ROUTES), help="comma-separated: " + ",".join(ROUTES)
    )
    args = parser.parse_args()
    names = [n for n in args.routes.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "opsbook.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        server = Server(config, env=serve_env(f"sqlite:///{tmp}/opsbook.db"))
        try:
            time.sleep(2.0)  # start-up work (migrations, first tasks) settles
            print(
                f"opsbook serve pid {server.pid}; RSS at start {rss_kib(server.pid) / 1024:.0f} MB"
            )
            print(f"{'route':<42} {'req':>3} {'body':>8} {'baseline':>9} {'peak':>9} {'after':>9}")
            for name in names:
                for requests in (1, 4):
                    s = burst(server, name, requests=requests, settle_s=args.settle)
                    print(
                        f"{ROUTES[name].path:<42} {s.requests:>3} {s.body_bytes / MB:>6.2f}MB "
                        f"{s.baseline_kib / 1024:>7.0f}MB {s.peak_kib / 1024:>7.0f}MB "
                        f"{s.after_kib / 1024:>7.0f}MB",
                        flush=True,
                    )
        finally:
            server.close()


if __name__ == "__main__":
    main()
