"""What `opsbook demo` prints once everything answers: where to look and what to break."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

DEFAULT_SERVICE_URL = "http://127.0.0.1:8081"
SERVICE_ENDPOINTS = ("/healthz", "/api/health", "/ready", "/ops/uptime", "/ops/queue_health")
INBOX_PATH = "/_inbox"
OPSBOOK_ENDPOINTS = ("/health", "/ready", "/metrics", "/docs")

# Each fault the seed runbooks describe, with the payload that stages it.
FAULTS: tuple[tuple[str, str], ...] = (
    ("site down (SEV1)", '{"down":true}'),
    ("slow responses", '{"latency_ms":3000}'),
    ("high error rate", '{"error_rate":0.2}'),
    ("health endpoints answer 503", '{"status":503}'),
    ("health endpoints answer a wrong body", '{"body":"Bad Gateway"}'),
    ("queue backed up", '{"queue_depth":5000,"dlq":12}'),
    ("database down", '{"database":"down"}'),
    ("memory pressure", '{"memory_pct":92}'),
    ("credential stuffing", '{"auth_failures_per_min":40}'),
    ("payments failing", '{"payment_failure_rate":0.05}'),
    ("clear every fault", "{}"),
)


def _links(base: str, paths: tuple[str, ...]) -> Table:
    table = Table.grid(padding=(0, 2))
    for path in paths:
        table.add_row(Text(f"{base}{path}", style="link"))
    return table


def fault_commands(service_url: str) -> Group:
    """One ``curl`` line per fault under a comment saying what it stages, runnable as printed."""
    # Without the scheme the lines fit an 80-column terminal, so they copy in one piece.
    base = service_url.removeprefix("http://").replace("127.0.0.1", "localhost")
    lines: list[Text] = []
    for what, payload in FAULTS:
        lines.append(Text(f"# {what}", style="dim"))
        lines.append(Text(f"curl -X POST {base}/_faults -d '{payload}'", overflow="fold"))
    lines.append(Text("# show the current faults", style="dim"))
    lines.append(Text(f"curl {base}/_faults", overflow="fold"))
    return Group(*lines)


def _check_command(service_url: str, config: Path) -> str:
    # The bundled config reads the service's address from DEMO_URL, defaulting to port 8081.
    prefix = "" if service_url == DEFAULT_SERVICE_URL else f"DEMO_URL={service_url} "
    return f"{prefix}opsbook check {config}"


def _heading(text: str) -> Text:
    return Text(f"\n{text}", style="bold")


def _status_command(service_url: str, config: Path, store: Path, command: str = "status") -> str:
    prefix = "" if service_url == DEFAULT_SERVICE_URL else f"DEMO_URL={service_url} "
    return f"{prefix}OPSBOOK_DATABASE_URL=sqlite:///{store} opsbook {command} --config {config}"


def demo_panel(*, service_url: str, opsbook_url: str, config: Path, log: Path) -> RenderableType:
    body = Group(
        Text("opsbook", style="bold"),
        _links(opsbook_url, OPSBOOK_ENDPOINTS),
        _heading("Demo service"),
        _links(service_url, (*SERVICE_ENDPOINTS, "/metrics")),
        _inbox_line(service_url),
        _heading("Try"),
        Text(_check_command(service_url, config), overflow="fold"),
        Text(_status_command(service_url, config, log.parent / "opsbook.db"), overflow="fold"),
        Text(
            _status_command(service_url, config, log.parent / "opsbook.db", "alerts --all"),
            overflow="fold",
        ),
        Text(f"curl {opsbook_url}/api/v1/checks", overflow="fold"),
        Text(f"curl {opsbook_url}/api/v1/alerts", overflow="fold"),
        _heading("Break the demo service"),
        fault_commands(service_url),
        Text(f"\nopsbook serve writes its log to {log}", style="dim"),
        Text("Ctrl-C to stop", style="bold"),
    )
    return Panel(body, title="opsbook demo is running", title_align="left", expand=False)


def _inbox_line(service_url: str) -> Text:
    # The bundled config's pager and incidents channels post to the demo service's inbox.
    line = Text("\nPages and incident updates: ", style="bold")
    line.append(f"{service_url}{INBOX_PATH}", style="link")
    return line


def service_panel(service_url: str) -> RenderableType:
    body = Group(
        _links(service_url, (*SERVICE_ENDPOINTS, "/health", "/metrics", "/_faults")),
        _inbox_line(service_url),
        _heading("Break it"),
        fault_commands(service_url),
        Text("\nCtrl-C to stop", style="bold"),
    )
    return Panel(body, title="demo service is running", title_align="left", expand=False)
