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
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text

if TYPE_CHECKING:
    from opsbook.cli.demo_access import DemoAccess

DEFAULT_SERVICE_URL = "http://127.0.0.1:8081"
SERVICE_ENDPOINTS = ("/healthz", "/api/health", "/ready", "/ops/uptime", "/ops/queue_health")
INBOX_PATH = "/_inbox"
OPSBOOK_ENDPOINTS = ("/", "/status/", "/health", "/ready", "/metrics", "/docs")

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


_REACHING_THE_DEMO = ("OPSBOOK_DATABASE_URL", "OPSBOOK_SERVER")


@dataclass(frozen=True)
class Invocation:
    """How to run opsbook against the running demo, from the folder it started in."""

    prog: str = "opsbook"
    config: Path = Path("examples/demo/opsbook.yaml")
    # Set only when the commands need it: DEMO_URL for a service port other than 8081 (the
    # bundled config reads it), OPSBOOK_DATABASE_URL for a store other than the config's,
    # OPSBOOK_SERVER for a server other than the one the config names.
    env: tuple[tuple[str, str], ...] = ()

    def command(self, *args: str, reads_store: bool = True) -> str:
        """``args`` as one shell line; ``reads_store=False`` for a command that reaches neither
        the demo's server nor its store (``check``), which needs no ``--config`` either."""
        needed = [(k, v) for k, v in self.env if reads_store or k not in _REACHING_THE_DEMO]
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


def curl_api(opsbook_url: str, path: str, *, token_file: Path | None) -> str:
    """``curl`` of one API route, with the demo's token when there is one (every /api/v1
    route needs one)."""
    if token_file is None:
        return f"curl {opsbook_url}{path}"
    # Inside $(...) the shell quotes afresh, so a quoted path is safe within the double quotes.
    auth = f'"Authorization: Bearer $(cat {shlex.quote(str(token_file))})"'
    return f"curl -H {auth} {opsbook_url}{path}"


def try_commands(run: Invocation, *, opsbook_url: str, token_file: Path | None = None) -> list[str]:
    """The opsbook and curl commands the "Try" section prints, in order."""
    return [
        run.command("check", str(run.config), reads_store=False),
        run.command("status"),
        run.command("alerts", "--all"),
        run.command("incidents", "--all"),
        curl_api(opsbook_url, "/api/v1/checks", token_file=token_file),
        curl_api(opsbook_url, "/api/v1/alerts", token_file=token_file),
    ]


def login_lines(access: DemoAccess, *, opsbook_url: str, run: Invocation) -> list[Text]:
    """Who to log in as and with what, and where the CLI's and curl's token are."""
    line = Text("Log in at ")
    line.append(f"{opsbook_url}/", style="link")
    line.append(" as ")
    line.append(access.person, style="bold")
    if access.password is not None:
        line.append(", password ")
        line.append(access.password, style="bold")
        lines = [line, Text("  (shown only now: opsbook keeps only its hash)", style="dim")]
    else:
        line.append(" with the password printed when the demo first ran; forgot it? This ")
        line.append("prints a link to choose a new one:")
        lines = [line, _command(run.command("user", "reset", access.person))]
    token = "a new API token" if access.token_is_new else "its API token"
    lines.append(
        Text(
            f"The CLI sends {token} for {opsbook_url}, saved in {access.tokens_file}; "
            f"curl reads it from {access.token_file}",
            style="dim",
        )
    )
    return lines


def demo_panel(
    *,
    service_url: str,
    opsbook_url: str,
    log: Path,
    run: Invocation | None = None,
    access: DemoAccess | None = None,
) -> RenderableType:
    run = run or Invocation()
    token_file = access.token_file if access is not None else None
    login = login_lines(access, opsbook_url=opsbook_url, run=run) if access is not None else []
    return Group(
        Rule("opsbook demo is running", align="left"),
        Text("opsbook", style="bold"),
        *_links(opsbook_url, OPSBOOK_ENDPOINTS),
        *([Text(""), *login] if login else []),
        _heading("Demo service"),
        *_links(service_url, (*SERVICE_ENDPOINTS, "/metrics")),
        _inbox_line(service_url),
        _heading("Try (from this folder)"),
        *(
            _command(line)
            for line in try_commands(run, opsbook_url=opsbook_url, token_file=token_file)
        ),
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
