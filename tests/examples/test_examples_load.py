"""Every bundled example config loads as shipped, and holds its seed's alert table."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.config import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = sorted(EXAMPLES.glob("*/opsbook.yaml"))

# Each seed's alert table, row by row (examples/demo picks a few rows from several seeds).
SEED_RULES = {
    "lilove": {
        "health-check-failure",
        "error-rate",
        "response-time",
        "payment-failures",
        "database-connections",
        "memory-usage",
    },
    "in-midst-my-life": {
        "api-down",
        "database-connection-exhausted",
        "error-rate-spike",
        "disk-space-critical",
        "high-latency",
        "memory-pressure",
        "queue-backlog",
        "certificate-expiry",
    },
    "lift": {
        "error-rate",
        "database-latency",
        "memory-usage",
        "disk-space",
        "payment-failures",
        "auth-failures",
        "api-response-time",
    },
    "lovable-shop": {
        "site-down",
        "error-rate",
        "response-time",
        "uptime",
        "memory-usage",
        "database-connections",
    },
}


def test_there_is_an_example_per_seed_with_an_alert_table() -> None:
    assert {path.parent.name for path in CONFIGS} >= {"demo", *SEED_RULES}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.parent.name)
def test_it_loads_with_no_environment(path: Path) -> None:
    # Every ${VAR} has a default, so a fresh checkout runs against the demo service as is.
    config = load(path, environ={})
    assert config.checks
    assert config.alerts


@pytest.mark.parametrize("seed", sorted(SEED_RULES))
def test_each_row_of_the_seed_table_is_a_rule(seed: str) -> None:
    config = load(EXAMPLES / seed / "opsbook.yaml", environ={})
    assert set(config.alerts) == SEED_RULES[seed]
    for name, rule in config.alerts.items():
        assert rule.severity is not None, f"{seed}: {name} has no severity"


@pytest.mark.parametrize("seed", sorted(SEED_RULES))
def test_each_rule_quotes_its_seed_row(seed: str) -> None:
    lines = (EXAMPLES / seed / "opsbook.yaml").read_text().splitlines()
    for name in SEED_RULES[seed]:
        at = lines.index(f"  {name}:")
        assert lines[at - 1].lstrip().startswith("#"), f"{seed}: {name} has no comment above it"


def test_the_demo_points_at_the_demo_service() -> None:
    config = load(EXAMPLES / "demo" / "opsbook.yaml", environ={"DEMO_URL": "http://10.0.0.9:9"})
    spec = config.checks["healthz"].http
    assert spec is not None
    assert spec.url == "http://10.0.0.9:9/healthz"
