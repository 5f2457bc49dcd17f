"""A burst of the largest accepted Alertmanager bodies neither balloons ``opsbook serve`` nor
leaves it big: the peak is about one body's worth and the memory goes back to the system.

Before (bench/memory_burst.py): four 1.9 MB bodies at once took RSS ~200 MB above its baseline,
and it stayed there. The bounds here are generous; only the real process shows RSS.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from serving import Server, serve_env

TOKEN = "memory-burst-token-0123456789"
CONFIG = f"""\
service: t
integrations:
  prom: {{alertmanager: {{token: {TOKEN}}}}}
"""
MB = 1024 * 1024
BODY_LIMIT = 2 * MB  # ALERTMANAGER_BODY_LIMIT
PEAK_OVER_BASELINE = 300 * MB
AFTER_OVER_BASELINE = 100 * MB
SETTLE_S = 4.0


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def largest_body(batch: int) -> bytes:
    """1000 new alerts of 60 labels and 30 annotations, just under the 2 MB limit: many small
    strings, the costliest shape per byte."""
    alerts = [
        {
            "labels": {
                "alertname": "Burst",
                **{f"l{k:02d}": f"b{batch}a{i}-{k}" for k in range(60)},
            },
            "annotations": {f"n{k:02d}": f"b{batch}a{i}-{k}" for k in range(30)},
        }
        for i in range(1000)
    ]
    body = json.dumps(alerts, separators=(",", ":")).encode()
    assert BODY_LIMIT * 3 // 4 < len(body) <= BODY_LIMIT
    return body


def post_alerts(url: str, body: bytes) -> int:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        conn.request("POST", "/api/v2/alerts", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class PeakRss:
    """The largest RSS of ``pid`` seen (sampled every 10 ms) until ``stop()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


@pytest.mark.slow
def test_a_burst_of_the_largest_bodies_is_bounded_and_handed_back(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    bodies = [largest_body(n) for n in range(4)]
    server = Server(config, env=serve_env(sqlite_url))
    try:
        # Warm the route (imports, the writer thread, statement caches) with a small request,
        # so the baseline is the server at work, not the server before its first request.
        assert post_alerts(server.url, b'[{"labels": {"alertname": "Warm"}}]') == 200
        baseline = rss_bytes(server.pid)
        peak = PeakRss(server.pid)
        with ThreadPoolExecutor(len(bodies)) as pool:
            statuses = list(pool.map(lambda b: post_alerts(server.url, b), bodies))
        assert statuses == [200] * len(bodies)
        time.sleep(SETTLE_S)  # past the trim's delay (web/memory.py TRIM_DELAY_S)
        after = rss_bytes(server.pid)
        highest = peak.stop()
    finally:
        server.close()
    assert highest - baseline < PEAK_OVER_BASELINE, (
        f"peak {highest / MB:.0f} MB, base {baseline / MB:.0f} MB"
    )
    assert after - baseline < AFTER_OVER_BASELINE, (
        f"after {after / MB:.0f} MB, base {baseline / MB:.0f} MB"
    )
