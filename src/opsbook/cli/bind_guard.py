"""``opsbook serve`` on a non-loopback address needs an admin account first (issue 12).

A server reachable from the network with no admin would have nobody able to manage who may use
it, and the first person to reach a setup page would not be the operator. Loopback (127.0.0.0/8,
::1, ``localhost``) stays open so that ``make demo`` and a first look need no setup.
"""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from opsbook.accounts import service as accounts
from opsbook.accounts.tables import account
from opsbook.errors import InputError, StoreError
from opsbook.redaction import Secret
from opsbook.store import create_engine
from opsbook.store.engine import unreachable

log = structlog.get_logger("opsbook.serve")


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (``[::1]`` too); a name that resolves
    elsewhere, ``0.0.0.0`` and ``::`` are not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, url: Secret, prog: str = "opsbook") -> None:
    """Raise ``InputError`` naming ``--host`` when ``host`` is not loopback and the store at
    ``url`` has no enabled admin account. A store that cannot be read now is not a refusal (the
    server rides out outages): a warning is logged instead."""
    if is_loopback(host):
        return
    engine = create_engine(url)
    try:
        found = has_admin(engine)
    except StoreError as exc:
        log.warning("bind_guard_skipped", host=host, error=str(exc))
        return
    finally:
        engine.dispose()
    if not found:
        raise InputError(
            f"--host: refusing to listen on {host}, which is not a loopback address, while the "
            f"store has no enabled admin account; create one first with "
            f"`{prog} user add NAME --role admin` (NAME from oncall.people), or bind 127.0.0.1",
            field="--host",
        )


def has_admin(engine: Engine) -> bool:
    """``accounts.has_admin``; False for a store not migrated to accounts yet (a new one, or
    one an older opsbook migrated: ``serve`` migrates it as it starts, with no account in
    it). Raises ``StoreError`` when the store cannot be reached."""
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table(account.name):
                return False
            return accounts.has_admin(conn)
    except DBAPIError as exc:
        raise unreachable(engine, exc) from None
