"""The store: engine setup, the shared metadata, migrations, and the audit trail.

SQLAlchemy Core on SQLite (default, WAL) or PostgreSQL. This package imports only ``config`` and
the root helpers; never ``fastapi``, ``typer``, ``opsbook.web`` or ``opsbook.cli``.
"""

from opsbook.store.audit import AuditEvent, audit_event, list_audit, record_audit
from opsbook.store.engine import create_engine, display_url, ping, resolve_url
from opsbook.store.metadata import UTCDateTime, metadata
from opsbook.store.migrate import current_revision, head_revision, is_current, upgrade

__all__ = [
    "AuditEvent",
    "UTCDateTime",
    "audit_event",
    "create_engine",
    "current_revision",
    "display_url",
    "head_revision",
    "is_current",
    "list_audit",
    "metadata",
    "ping",
    "record_audit",
    "resolve_url",
    "upgrade",
]
