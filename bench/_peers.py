"""Real peers for the benchmarks: nginx as the probe target, blackbox_exporter as the rival.

Each peer runs as its own process from Debian's packages (``make bench`` installs them) with a
config written to a temporary directory, on a free port, and is stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEALTH_BODY = '{"status":"UP","checks":{"db":"ok"}}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (and its waited-for children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_http(url: str, *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s") from None
            time.sleep(0.1)


def require(binary: str) -> str:
    found = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None
    )
    if not found:
        raise SystemExit(f"{binary} is not installed; run `make bench` (it installs the peers)")
    return found


@dataclass
class Peer:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def nginx(workdir: Path) -> Iterator[Peer]:
    """nginx answering ``GET /health`` with a small JSON body, one worker, no access log."""
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
  client_body_temp_path {workdir}/nginx;
  proxy_temp_path {workdir}/nginx;
  fastcgi_temp_path {workdir}/nginx;
  uwsgi_temp_path {workdir}/nginx;
  scgi_temp_path {workdir}/nginx;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location /health {{ default_type application/json; return 200 '{HEALTH_BODY}'; }}
  }}
}}
"""
    )
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(workdir / "nginx")])
    try:
        url = f"http://127.0.0.1:{port}/health"
        wait_http(url)
        yield Peer(process, url)
    finally:
        _stop(process)


@contextlib.contextmanager
def blackbox_exporter(workdir: Path) -> Iterator[Peer]:
    """blackbox_exporter with one module: HTTP 200 and a body check (its closest to our JSON
    condition is a regexp on the body)."""
    binary = require("prometheus-blackbox-exporter")
    port = free_port()
    conf = workdir / "blackbox.yml"
    conf.write_text(
        """
modules:
  http_json:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [200]
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ['"status":"UP"']
"""
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={conf}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/metrics")
        yield Peer(process, url)
    finally:
        _stop(process)
