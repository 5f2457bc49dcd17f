"""The demo's login and API token, so the tour's commands work as printed (issue 12).

Before ``opsbook serve`` starts, ``ensure_access`` makes sure the demo's store has an admin
account for the person ``demo`` (one of the config's ``oncall.people``) and an API token for it.
The token is saved where the CLI looks for it (``tokens.json``, keyed by the demo's server URL;
cli/client.py) and in ``<data-dir>/token`` for ``curl``. A restart reuses the saved token while
the store still accepts it, so tokens do not pile up. The password is made once, returned to be
printed on the terminal of the person who ran the demo, and never written anywhere else.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Connection

from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.cli.client import save_token, saved_tokens
from opsbook.config import Config
from opsbook.errors import InputError, OpsbookError
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import record_audit

DEMO_PERSON = "demo"
TOKEN_NAME = "opsbook demo"
TOKEN_FILE = "token"
# A token that stops working by itself; the next start after that makes a new one.
TOKEN_LIFETIME = timedelta(days=90)


@dataclass(frozen=True)
class DemoAccess:
    """What the demo panel says about logging in. ``password`` is None when the account was
    made on an earlier start (its password is not known any more)."""

    person: str
    password: str | None
    token_file: Path
    tokens_file: Path
    token_is_new: bool


def ensure_access(
    loaded: Config,
    *,
    store_url: str,
    data_dir: Path,
    server: str,
    environ: Mapping[str, str],
    actor: str,
    now: datetime,
) -> DemoAccess:
    """Migrate the store at ``store_url`` and give it the demo's admin account and token.

    1. The account: made with a new random password if ``demo`` has none; left alone if it
       exists (an account that is not an enabled admin is an ``OpsbookError`` saying how to
       fix it).
    2. The token: the one in ``<data_dir>/token`` or saved for ``server`` in tokens.json, if
       the store accepts it as ``demo`` with the admin role; else a new one.
    3. Both files get the token (mode 0600). Every write commits with its audit event.

    Raises ``InputError`` naming ``--config`` when ``demo`` is not one of ``oncall.people``.
    """
    require_demo_person(loaded)
    token_file = data_dir / TOKEN_FILE
    engine = create_engine(store_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            password = _ensure_account(conn, loaded=loaded, actor=actor, now=now)
            kept = _accepted(conn, _saved(token_file, server=server, environ=environ), now=now)
            token = kept or _new_token(conn, actor=actor, now=now)
    finally:
        engine.dispose()
    _write_private(token_file, token + "\n")
    tokens_file = save_token(environ, server, token)
    return DemoAccess(
        person=DEMO_PERSON,
        password=password,
        token_file=token_file,
        tokens_file=tokens_file,
        token_is_new=kept is None,
    )


def require_demo_person(loaded: Config) -> None:
    """Raise ``InputError`` naming ``--config`` unless ``demo`` is one of ``oncall.people``
    (an account belongs to a person of the config)."""
    if DEMO_PERSON not in loaded.oncall.people:
        raise InputError(
            f"--config: the demo logs in as the person {DEMO_PERSON!r}, and oncall.people has "
            f"no such person; add `{DEMO_PERSON}: {{name: Demo admin}}` under oncall.people",
            field="--config",
        )


def _ensure_account(conn: Connection, *, loaded: Config, actor: str, now: datetime) -> str | None:
    found = {a.person: a for a in accounts.list_accounts(conn)}.get(DEMO_PERSON)
    if found is None:
        password = secrets.token_urlsafe(12)  # 96 random bits, 16 characters
        accounts.add_account(
            conn,
            person=DEMO_PERSON,
            role=Role.ADMIN,
            people=loaded.oncall.people,
            now=now,
            password=password,
        )
        record_audit(
            conn,
            actor=actor,
            action="account.add",
            subject=f"account:{DEMO_PERSON}",
            detail={"role": Role.ADMIN.value, "password_set": True},
            origin="cli",
            at=now,
        )
        return password
    if found.disabled_at is not None or found.role is not Role.ADMIN:
        fix = (
            f"`opsbook user enable {DEMO_PERSON}`"
            if found.disabled_at is not None
            else f"`opsbook user set {DEMO_PERSON} --role admin`"
        )
        raise OpsbookError(
            f"the demo's account {DEMO_PERSON!r} is "
            f"{'disabled' if found.disabled_at is not None else 'a ' + found.role.value}, and "
            f"the demo needs an enabled admin: run {fix} with the demo's --config"
        )
    return None


def _saved(token_file: Path, *, server: str, environ: Mapping[str, str]) -> list[str]:
    """The tokens saved by an earlier start; an unreadable tokens.json is an ``InputError``
    naming it (as for any command), not something to overwrite."""
    found = [saved_tokens(environ).get(server, "")]
    with contextlib.suppress(FileNotFoundError):
        found.insert(0, token_file.read_text().strip())
    return [token for token in found if token]


def _accepted(conn: Connection, tokens: list[str], *, now: datetime) -> str | None:
    """The first of ``tokens`` the store accepts as the demo person with the admin role."""
    for token in tokens:
        who = accounts.resolve_token(conn, secret=token, now=now)
        if who is not None and who.person == DEMO_PERSON and who.role is Role.ADMIN:
            return token
    return None


def _new_token(conn: Connection, *, actor: str, now: datetime) -> str:
    info, secret = accounts.create_token(
        conn,
        name=TOKEN_NAME,
        role=Role.ADMIN,
        person=DEMO_PERSON,
        expires_at=now + TOKEN_LIFETIME,
        created_by=actor,
        now=now,
    )
    record_audit(
        conn,
        actor=actor,
        action="token.create",
        subject=f"token:{info.id}",
        detail={
            "name": info.name,
            "person": info.person,
            "role": info.role.value,
            "prefix": info.prefix,
            "expires_at": (now + TOKEN_LIFETIME).isoformat(),
        },
        origin="cli",
        at=now,
    )
    return secret


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable only by its owner, even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    temporary.chmod(0o600)
    temporary.replace(path)
