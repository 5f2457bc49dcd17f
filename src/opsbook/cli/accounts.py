"""``opsbook user ...`` and ``opsbook token ...``: logins and API tokens (issue 12).

These open the store directly, not through the server's API: the first admin has to be made
before any server or admin exists (as ``grafana cli admin reset-admin-password`` does), and an
admin locked out of the API gets back in from the server's host. A write migrates the store first
(creating a SQLite file that does not exist yet), as ``opsbook serve`` and ``opsbook db upgrade``
do; a listing never creates or migrates one. Every write commits with its audit event (actor
``user:$USER``, origin ``cli``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from sqlalchemy.engine import Connection, Engine

from opsbook.accounts import service as accounts
from opsbook.accounts.service import SETUP_LINK_TTL, parse_role
from opsbook.cli.context import CliContext, get_context, open_store
from opsbook.cli.stores import make_sqlite_folder, store_target
from opsbook.config import Config, load, parse_duration
from opsbook.errors import InputError
from opsbook.store import create_engine, upgrade
from opsbook.store.audit import record_audit
from opsbook.types import JSONValue
from opsbook.web.api.accounts import setup_link

DIRECT = (
    "Works on the store directly, with or without a running server (so the first admin can be "
    "made before one starts)."
)
user_app = typer.Typer(help=f"Add and manage logins (accounts). {DIRECT}", no_args_is_help=True)
token_app = typer.Typer(help=f"Create, list and revoke API tokens. {DIRECT}", no_args_is_help=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False),
]
PersonArg = Annotated[str, typer.Argument(metavar="PERSON", help="A person of oncall.people.")]
RoleOption = Annotated[
    str, typer.Option("--role", help="viewer, responder or admin.", show_default=False)
]
WHEN = "%Y-%m-%d %H:%MZ"  # UTC, as the store keeps it
DEFAULT_EXPIRY = "90d"


@contextmanager
def writing_store(cli: CliContext, config: Path) -> Iterator[tuple[Config, Engine]]:
    """Load ``config`` and open its store migrated to head, creating it if need be (like
    ``opsbook serve``, which uses the same store for the same config); disposed after."""
    loaded = load(config, environ=cli.environ)
    target = store_target(loaded, config=config, environ=cli.environ)
    make_sqlite_folder(target)
    engine = create_engine(target.url)
    try:
        upgrade(engine)
        yield loaded, engine
    finally:
        engine.dispose()


def _audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, JSONValue],
    now: datetime,
) -> None:
    record_audit(
        conn, actor=actor, action=action, subject=subject, detail=detail, origin="cli", at=now
    )


def _say(cli: CliContext, text: str) -> None:
    cli.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _when(at: datetime | None) -> str:
    return at.strftime(WHEN) if at is not None else "-"


def _print_setup(cli: CliContext, loaded: Config, *, person: str, secret: str) -> None:
    hours = int(SETUP_LINK_TTL.total_seconds() // 3600)
    _say(cli, f"setup link for {person} (works once, for {hours} h; it is not shown again):")
    _say(cli, setup_link(loaded, secret))


def _read_password() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise InputError(
            "--password-stdin: no password on standard input", field="--password-stdin"
        )
    return accounts.check_password(password, field="--password-stdin")


# --- user -------------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    person: PersonArg,
    role: RoleOption,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of standard input instead of "
            "printing a setup link.",
        ),
    ] = False,
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """Give PERSON a login with a role; prints a one-time setup link (valid 24 h) unless
    --password-stdin. Works on the store directly, with or without a running server."""
    cli = get_context(ctx)
    actor, now = f"user:{cli.author()}", cli.clock.now()
    role_in = parse_role(role, field="--role")
    password = _read_password() if password_stdin else None
    with writing_store(cli, config) as (loaded, engine), engine.begin() as conn:
        secret = accounts.add_account(
            conn,
            person=person,
            role=role_in,
            people=loaded.oncall.people,
            now=now,
            password=password,
        )
        detail: dict[str, JSONValue] = {"role": role_in.value, "password_set": password is not None}
        _audit(
            conn,
            actor=actor,
            action="account.add",
            subject=f"account:{person}",
            detail=detail,
            now=now,
        )
    _say(cli, f"added {person} as {role_in.value}")
    if secret is not None:
        _print_setup(cli, loaded, person=person, secret=secret)


@user_app.command("list")
def user_list(ctx: typer.Context, config: ConfigOption = Path("opsbook.yaml")) -> None:
    """Every login: person, role, whether a password is set, whether it is disabled. Reads
    the store directly and never creates one."""
    cli = get_context(ctx)
    with open_store(cli, config) as (_, engine), engine.begin() as conn:
        found = accounts.list_accounts(conn)
    if not found:
        _say(cli, f"no accounts; add one with `{cli.prog} user add NAME --role admin`")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for column in ("person", "role", "password", "disabled"):
        table.add_column(column, no_wrap=True)
    for item in found:
        table.add_row(
            item.person,
            item.role.value,
            "set" if item.has_password else "not set",
            _when(item.disabled_at) if item.disabled_at else "no",
        )
    cli.console.print(table)


@user_app.command("set")
def user_set(
    ctx: typer.Context,
    person: PersonArg,
    role: RoleOption,
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """Change PERSON's role (their tokens are capped by it at once)."""
    cli = get_context(ctx)
    actor, now = f"user:{cli.author()}", cli.clock.now()
    role_in = parse_role(role, field="--role")
    with writing_store(cli, config) as (_, engine), engine.begin() as conn:
        accounts.set_role(conn, person=person, role=role_in, now=now)
        _audit(
            conn,
            actor=actor,
            action="account.role",
            subject=f"account:{person}",
            detail={"role": role_in.value},
            now=now,
        )
    _say(cli, f"{person} is now {role_in.value}")


def _set_disabled(ctx: typer.Context, person: str, config: Path, *, disabled: bool) -> None:
    cli = get_context(ctx)
    actor, now = f"user:{cli.author()}", cli.clock.now()
    with writing_store(cli, config) as (_, engine), engine.begin() as conn:
        accounts.set_disabled(conn, person=person, disabled=disabled, now=now)
        action = "account.disable" if disabled else "account.enable"
        _audit(conn, actor=actor, action=action, subject=f"account:{person}", detail={}, now=now)
    _say(cli, f"{person} is {'disabled' if disabled else 'enabled'}")


@user_app.command("disable")
def user_disable(
    ctx: typer.Context, person: PersonArg, config: ConfigOption = Path("opsbook.yaml")
) -> None:
    """Stop PERSON logging in; their sessions end and their tokens stop working at once."""
    _set_disabled(ctx, person, config, disabled=True)


@user_app.command("enable")
def user_enable(
    ctx: typer.Context, person: PersonArg, config: ConfigOption = Path("opsbook.yaml")
) -> None:
    """Let a disabled PERSON log in again."""
    _set_disabled(ctx, person, config, disabled=False)


@user_app.command("reset")
def user_reset(
    ctx: typer.Context, person: PersonArg, config: ConfigOption = Path("opsbook.yaml")
) -> None:
    """Print a new one-time setup link for PERSON (a forgotten password); valid 24 h."""
    cli = get_context(ctx)
    actor, now = f"user:{cli.author()}", cli.clock.now()
    with writing_store(cli, config) as (loaded, engine), engine.begin() as conn:
        secret = accounts.reset_setup(conn, person=person, now=now)
        _audit(
            conn,
            actor=actor,
            action="account.reset",
            subject=f"account:{person}",
            detail={},
            now=now,
        )
    _print_setup(cli, loaded, person=person, secret=secret)


# --- token ------------------------------------------------------------------------------------


def _expiry(text: str, now: datetime) -> datetime | None:
    if text.strip() == "never":
        return None
    try:
        span = parse_duration(text)
    except ValueError:
        raise InputError(
            "--expires: not a duration (use e.g. 90d, 12h, or never)", field="--expires"
        ) from None
    if span.total_seconds() <= 0:
        raise InputError("--expires: must be longer than 0s (or never)", field="--expires")
    return now + span


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="What the token is for (ci, grafana).")
    ],
    role: RoleOption,
    person: Annotated[
        str | None,
        typer.Option(
            "--person", help="Act as this person (capped by their role); default: an automation."
        ),
    ] = None,
    expires: Annotated[
        str, typer.Option("--expires", help="How long it works: a duration (90d, 12h) or never.")
    ] = DEFAULT_EXPIRY,
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """Create an API token and print its secret once. Works on the store directly."""
    cli = get_context(ctx)
    actor, now = f"user:{cli.author()}", cli.clock.now()
    role_in = parse_role(role, field="--role")
    expires_at = _expiry(expires, now)
    with writing_store(cli, config) as (_, engine), engine.begin() as conn:
        info, secret = accounts.create_token(
            conn,
            name=name,
            role=role_in,
            person=person,
            expires_at=expires_at,
            created_by=actor,
            now=now,
        )
        detail: dict[str, JSONValue] = {
            "name": info.name,
            "person": info.person,
            "role": info.role.value,
            "prefix": info.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        }
        _audit(
            conn,
            actor=actor,
            action="token.create",
            subject=f"token:{info.id}",
            detail=detail,
            now=now,
        )
    until = _when(expires_at) if expires_at else "never"
    _say(cli, f"token {info.id} ({info.name}, {info.role.value}, expires {until})")
    _say(cli, secret)
    _say(cli, "copy it now: it is stored only as a digest and will not be shown again")


@token_app.command("list")
def token_list(ctx: typer.Context, config: ConfigOption = Path("opsbook.yaml")) -> None:
    """Every token (never its secret): id, name, person, role, prefix, created, expires, last
    used, state. Reads the store directly and never creates one."""
    cli = get_context(ctx)
    now = cli.clock.now()
    with open_store(cli, config) as (_, engine), engine.begin() as conn:
        found = accounts.list_tokens(conn)
    if not found:
        _say(cli, f"no tokens; create one with `{cli.prog} token create NAME --role viewer`")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    columns = ("id", "name", "person", "role", "prefix", "created", "expires", "last used", "state")
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(
            str(item.id),
            item.name,
            item.person or "-",
            item.role.value,
            item.prefix,
            _when(item.created_at),
            _when(item.expires_at) if item.expires_at else "never",
            _when(item.last_used_at),
            item.state(now),
        )
    cli.console.print(table)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[
        int,
        typer.Argument(metavar="ID", min=1, max=2**63 - 1, help="The token's id (`token list`)."),
    ],
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """Revoke a token now: the next request with it is refused."""
    cli = get_context(ctx)
    actor, now = f"user:{cli.author()}", cli.clock.now()
    with writing_store(cli, config) as (_, engine), engine.begin() as conn:
        info = accounts.revoke_token(conn, token_id=token_id, now=now)
        _audit(
            conn,
            actor=actor,
            action="token.revoke",
            subject=f"token:{info.id}",
            detail={"name": info.name},
            now=now,
        )
    _say(cli, f"token {info.id} ({info.name}) is revoked")
