"""opsbook: turn an operations runbook into running software."""

__version__ = "0.1.0"
