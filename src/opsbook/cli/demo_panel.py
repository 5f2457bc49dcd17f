"""What `opsbook demo` prints once everything answers: where to look and what to break.

Every command is printed on a line of its own, outside any box and never wrapped by us, so it
copies in one piece at any terminal width and runs as printed from the folder the demo started
in (the caller prints with ``soft_wrap=True``; a terminal that folds a long line still pastes it
whole).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group, RenderableType
from rich.rule import Rule
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


@dataclass(frozen=True)
class Invocation:
    """How to run opsbook against the running demo, from the folder it started in."""

    prog: str = "opsbook"
    config: Path = Path("examples/demo/opsbook.yaml")
    # Set only when the commands need it: DEMO_URL for a service port other than 8081 (the
    # bundled config reads it), OPSBOOK_DATABASE_URL for a store other than the config's.
    env: tuple[tuple[str, str], ...] = ()

    def command(self, *args: str, reads_store: bool = True) -> str:
        needed = [(k, v) for k, v in self.env if reads_store or k != "OPSBOOK_DATABASE_URL"]
        prefix = "".join(f"{name}={shlex.quote(value)} " for name, value in needed)
        words = [self.prog, *args] + (["--config", str(self.config)] if reads_store else [])
        return prefix + " ".join(shlex.quote(word) for word in words)


def _links(base: str, paths: Sequence[str]) -> list[Text]:
    return [Text(f"  {base}{path}", style="link") for path in paths]


def _command(line: str) -> Text:
    return Text(line, no_wrap=True, overflow="ignore")


def fault_commands(service_url: str) -> list[Text]:
    """One ``curl`` line per fault under a comment saying what it stages, runnable as printed."""
    base = service_url.removeprefix("http://").replace("127.0.0.1", "localhost")
    lines: list[Text] = []
    for what, payload in FAULTS:
        lines.append(Text(f"# {what}", style="dim"))
        lines.append(_command(f"curl -X POST {base}/_faults -d '{payload}'"))
    lines.append(Text("# show the current faults", style="dim"))
    lines.append(_command(f"curl {base}/_faults"))
    return lines


def _heading(text: str) -> Text:
    return Text(f"\n{text}", style="bold")


def try_commands(run: Invocation, *, opsbook_url: str) -> list[str]:
    """The opsbook and curl commands the "Try" section prints, in order."""
    return [
        run.command("check", str(run.config), reads_store=False),
        run.command("status"),
        run.command("alerts", "--all"),
        run.command("incidents", "--all"),
        f"curl {opsbook_url}/api/v1/checks",
        f"curl {opsbook_url}/api/v1/alerts",
    ]


def demo_panel(
    *, service_url: str, opsbook_url: str, log: Path, run: Invocation | None = None
) -> RenderableType:
    run = run or Invocation()
    return Group(
        Rule("opsbook demo is running", align="left"),
        Text("opsbook", style="bold"),
        *_links(opsbook_url, OPSBOOK_ENDPOINTS),
        _heading("Demo service"),
        *_links(service_url, (*SERVICE_ENDPOINTS, "/metrics")),
        _inbox_line(service_url),
        _heading("Try (from this folder)"),
        *(_command(line) for line in try_commands(run, opsbook_url=opsbook_url)),
        _heading("Break the demo service"),
        *fault_commands(service_url),
        Text(f"\nopsbook serve writes its log to {log}", style="dim"),
        Text("Ctrl-C to stop", style="bold"),
    )


def _inbox_line(service_url: str) -> Text:
    # The bundled config's pager and incidents channels post to the demo service's inbox.
    line = Text("\nPages and incident updates: ", style="bold")
    line.append(f"{service_url}{INBOX_PATH}", style="link")
    return line


def service_panel(service_url: str) -> RenderableType:
    return Group(
        Rule("demo service is running", align="left"),
        *_links(service_url, (*SERVICE_ENDPOINTS, "/health", "/metrics", "/_faults")),
        _inbox_line(service_url),
        _heading("Break it"),
        *fault_commands(service_url),
        Text("\nCtrl-C to stop", style="bold"),
    )
