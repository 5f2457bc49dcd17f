"""Runbooks that run: markdown files whose fenced shell, SQL and HTTP blocks and checklist lines
are steps (``models``), loaded into a fixed registry (``parse``, ``registry``) and run by the
executors with timeouts, masking and the risk policy."""

from opsbook.runbooks.models import (
    Parameter,
    ParamType,
    Position,
    Registry,
    Risk,
    Runbook,
    Step,
    StepKind,
)

__all__ = ["ParamType", "Parameter", "Position", "Registry", "Risk", "Runbook", "Step", "StepKind"]
