"""`opsbook check`: validate a config file and summarise what it defines.

Errors are not handled here: ``load`` raises ``ConfigError`` and the boundary in ``cli/app.py``
prints one line per problem and exits 2.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from opsbook.cli.context import get_context
from opsbook.config import CheckSpec, Config, format_duration, load
from opsbook.config.alerts import AlertRule
from opsbook.errors import ConfigError
from opsbook.runbooks import Registry, Risk
from opsbook.runbooks.registry import load_for_config


def check(
    ctx: typer.Context,
    file: Path = typer.Argument(Path("opsbook.yaml"), help="The config file to validate."),
) -> None:
    """Validate a config file and its runbooks, and show the checks, components, severities,
    alerts and runbooks they define."""
    cli = get_context(ctx)
    try:
        config = load(file, environ=cli.environ)
    except ConfigError as exc:
        # The runbooks are checked too, so one run reports every mistake in both.
        runbooks = load_for_config(file, None, environ=cli.environ)
        raise ConfigError([*exc.problems, *runbooks.problems]) from None
    runbooks = load_for_config(file, config, environ=cli.environ)
    if runbooks.problems:
        raise ConfigError(runbooks.problems)
    print_summary(cli.console, config)
    if runbooks.folder is not None:
        cli.console.print(Text(_runbook_counts(runbooks.registry), style="bold"))
    cli.console.print(Text(f"ok: {file} is valid", style="green"))


def _runbook_counts(registry: Registry) -> str:
    """``2 runbooks · 9 steps: 6 read, 2 write, 1 danger``."""
    steps = [s for r in registry.runbooks.values() for s in r.steps]
    by_risk = [f"{sum(s.risk is risk for s in steps)} {risk}" for risk in Risk]
    runbooks = _count(len(registry.runbooks), "runbook", "runbooks")
    return f"{runbooks} · {_count(len(steps), 'step', 'steps')}: {', '.join(by_risk)}"


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _slo(spec: CheckSpec) -> str:
    slo = spec.slo
    latencies = (("p50", slo.p50), ("p95", slo.p95), ("p99", slo.p99))
    parts = [f"{name} {format_duration(value)}" for name, value in latencies if value is not None]
    if slo.availability is not None:
        parts.append(f"{slo.availability:g}%")
    return ", ".join(parts) or "-"


def _when(rule: AlertRule) -> str:
    if rule.prometheus is not None:
        return f"prometheus: {rule.prometheus.expr}"
    return str(rule.when)


def _for(rule: AlertRule) -> str:
    if rule.for_.duration is not None:
        return format_duration(rule.for_.duration)
    return rule.for_.describe()


def print_summary(console: Console, config: Config) -> None:
    """Print the header line and one table each for checks, components, severities and
    alerts (tables with no rows are left out)."""
    counts = [
        _count(len(config.checks), "check", "checks"),
        _count(len(config.components), "component", "components"),
        _count(len(config.severities), "severity", "severities"),
    ]
    if config.alerts:
        counts.append(_count(len(config.alerts), "alert", "alerts"))
    console.print(
        Text(f"{config.service} · timezone {config.timezone} · {' · '.join(counts)}", style="bold")
    )
    checks = Table(title="Checks")
    checks.add_column("id", no_wrap=True)
    checks.add_column("kind")
    # A cut-off URL hides the part that tells checks apart, so long targets fold instead.
    checks.add_column("target", overflow="fold")
    checks.add_column("every")
    checks.add_column("timeout")
    checks.add_column("SLO")
    for check_id, spec in config.checks.items():
        checks.add_row(
            Text(check_id),
            spec.kind,
            Text(spec.target_display()),
            "-" if spec.kind == "heartbeat" else format_duration(spec.every),
            "-" if spec.kind == "heartbeat" else format_duration(spec.timeout),
            Text(_slo(spec)),
        )
    components = Table("id", "name", "group", "checks", title="Components")
    for component_id, component in config.components.items():
        components.add_row(
            Text(component_id),
            Text(component.name),
            Text(component.group or "-"),
            Text(", ".join(component.checks) or "-"),
        )
    severities = Table("severity", "respond within", "page", "status impact", title="Severities")
    for name, severity in config.severities.items():
        severities.add_row(
            name,
            format_duration(severity.respond_within),
            "yes" if severity.page else "no",
            severity.status_impact.replace("_", " "),
        )
    alerts = Table("name", "when", "for", "severity", title="Alerts")
    for name, rule in config.alerts.items():
        alerts.add_row(
            Text(name), Text(_when(rule), overflow="fold"), _for(rule), Text(rule.severity or "-")
        )
    for table in (checks, components, severities, alerts):
        if table.row_count:
            console.print(table)
