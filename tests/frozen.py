"""The fixed "now" of tests that run CLI commands (``run_cli`` hands it to the command's clock).

A test that seeds a store and then asks the CLI about it seeds around ``CLI_NOW``: then what
the command shows ("in 9m", "p95 over the last hour") is the same whatever day the test runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

CLI_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
