"""The REST API under ``/api/v1``: one router module per domain, calling that domain's service."""

from opsbook.web.api.checks import router as checks_router

__all__ = ["checks_router"]
