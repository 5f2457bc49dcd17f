"""A sample service that answers like the seed runbooks' systems and breaks on request.

Used by ``opsbook demo`` and the end-to-end tests to stage every incident the seeds describe. It
owns its aiohttp app, fault model and metrics, and must not import fastapi, typer, opsbook.web or
opsbook.cli.
"""

from __future__ import annotations

from opsbook.demo.faults import ErrorSampler, Faults, apply_faults, set_faults
from opsbook.demo.inbox import Inbox, InboxMessage
from opsbook.demo.runner import DemoServer
from opsbook.demo.service import create_demo_app
from opsbook.demo.state import DemoState
from opsbook.demo.workload import DEMO_TRAFFIC_RPS

__all__ = [
    "DEMO_TRAFFIC_RPS",
    "DemoServer",
    "DemoState",
    "ErrorSampler",
    "Faults",
    "Inbox",
    "InboxMessage",
    "apply_faults",
    "create_demo_app",
    "set_faults",
]
