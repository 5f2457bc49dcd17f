"""The web adapter: FastAPI app factory, routes, error handlers, request logging and metrics.

Routes call store and domain functions; no domain imports this package (R1).
"""

from opsbook.web.app import create_app

__all__ = ["create_app"]
