"""Accounts, tokens, sessions, throttling and signed links, on both stores (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.accounts import Role, links
from opsbook.accounts import service as accounts
from opsbook.accounts.tables import account, api_token, login_attempt, web_session
from opsbook.errors import Conflict, InputError, Throttled, Unauthenticated

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PEOPLE = ("ana", "ben")
PASSWORD = "correct horse battery"


def _add(engine: Engine, person: str = "ana", role: Role = Role.RESPONDER) -> None:
    with engine.begin() as conn:
        accounts.add_account(
            conn, person=person, role=role, people=PEOPLE, now=NOW, password=PASSWORD
        )


def test_an_account_belongs_to_a_configured_person_and_stores_no_password(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(InputError, match=r"oncall\.people") as bad:
        accounts.add_account(conn, person="eve", role=Role.ADMIN, people=PEOPLE, now=NOW)
    assert bad.value.field == "person"
    _add(engine)
    with engine.begin() as conn, pytest.raises(Conflict):
        accounts.add_account(conn, person="ana", role=Role.ADMIN, people=PEOPLE, now=NOW)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(account.c.password_hash)).scalar_one()
    assert PASSWORD not in stored and stored.startswith("$argon2id$")


def test_logging_in_checks_the_password_and_a_disabled_account_cannot(engine: Engine) -> None:
    _add(engine)
    with engine.begin() as conn:
        who = accounts.log_in(conn, person="ana", password=PASSWORD, address="10.0.0.1", now=NOW)
    assert (who.person, who.role, who.actor) == ("ana", Role.RESPONDER, "user:ana")
    for person, password in (("ana", "wrong password!"), ("nobody", PASSWORD)):
        with engine.begin() as conn:
            assert (
                accounts.log_in(conn, person=person, password=password, address="1.2.3.4", now=NOW)
                is None
            )
    with engine.begin() as conn:
        accounts.set_disabled(conn, person="ana", disabled=True, now=NOW)
    with engine.begin() as conn:
        assert (
            accounts.log_in(conn, person="ana", password=PASSWORD, address="1.2.3.4", now=NOW)
            is None
        )


def test_logins_are_throttled_per_account_and_per_address(engine: Engine) -> None:
    _add(engine)
    for _ in range(accounts.MAX_FAILURES_PER_ACCOUNT):
        # Each failed attempt commits with the caller's transaction, as the login page's does.
        with engine.begin() as conn:
            who = accounts.log_in(
                conn, person="ana", password="guess guess!", address="10.0.0.9", now=NOW
            )
        assert who is None
    # Even the right password is refused while throttled, so guessing stops.
    with engine.begin() as conn, pytest.raises(Throttled) as throttled:
        accounts.log_in(conn, person="ana", password=PASSWORD, address="10.0.0.2", now=NOW)
    assert 0 < throttled.value.retry_after_s <= accounts.THROTTLE_WINDOW.total_seconds() + 1
    later = NOW + accounts.THROTTLE_WINDOW + timedelta(seconds=1)
    with engine.begin() as conn:
        assert accounts.log_in(conn, person="ana", password=PASSWORD, address="10.0.0.2", now=later)
    # One address spraying many names is stopped too.
    with engine.begin() as conn:
        for i in range(accounts.MAX_FAILURES_PER_ADDRESS):
            conn.execute(
                login_attempt.insert().values(
                    at=later, person=f"p{i}", address="10.0.0.66", ok=False
                )
            )
    with engine.begin() as conn, pytest.raises(Throttled):
        accounts.log_in(conn, person="ben", password=PASSWORD, address="10.0.0.66", now=later)


def test_a_setup_link_sets_the_password_once_and_expires(engine: Engine) -> None:
    with engine.begin() as conn:
        setup = accounts.add_account(conn, person="ben", role=Role.VIEWER, people=PEOPLE, now=NOW)
    assert setup is not None
    with engine.begin() as conn:
        assert accounts.log_in(conn, person="ben", password=PASSWORD, address="a", now=NOW) is None
    with engine.begin() as conn, pytest.raises(InputError, match="at least"):
        accounts.complete_setup(conn, setup=setup, password="short", now=NOW)
    with engine.begin() as conn:
        assert accounts.complete_setup(conn, setup=setup, password=PASSWORD, now=NOW) == "ben"
    with engine.begin() as conn, pytest.raises(Unauthenticated):
        accounts.complete_setup(conn, setup=setup, password=PASSWORD, now=NOW)
    with engine.begin() as conn:
        assert accounts.log_in(conn, person="ben", password=PASSWORD, address="a", now=NOW)
        again = accounts.reset_setup(conn, person="ben", now=NOW)
    late = NOW + accounts.SETUP_LINK_TTL
    with engine.begin() as conn, pytest.raises(Unauthenticated):
        accounts.complete_setup(conn, setup=again, password=PASSWORD, now=late)


def test_a_token_is_shown_once_stored_hashed_and_can_be_revoked(engine: Engine) -> None:
    _add(engine)
    with engine.begin() as conn:
        info, secret = accounts.create_token(
            conn,
            name="laptop",
            role=Role.RESPONDER,
            person="ana",
            expires_at=NOW + timedelta(days=30),
            created_by="user:ana",
            now=NOW,
        )
    assert secret.startswith(accounts.TOKEN_PREFIX) and info.prefix == secret[:10]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_token.c.token_hash)).scalar_one()
    assert secret not in stored
    with engine.begin() as conn:
        who = accounts.resolve_token(conn, secret=secret, now=NOW)
    assert who is not None and (who.actor, who.role, who.via) == (
        "user:ana",
        Role.RESPONDER,
        "token",
    )
    with engine.connect() as conn:
        [listed] = accounts.list_tokens(conn)
    assert listed.last_used_at == NOW and listed.state(NOW) == "active"
    with engine.begin() as conn:
        assert accounts.resolve_token(conn, secret=secret + "x", now=NOW) is None
        assert accounts.resolve_token(conn, secret="opb_guess", now=NOW) is None
        expired_at = NOW + timedelta(days=30)
        assert accounts.resolve_token(conn, secret=secret, now=expired_at) is None
        assert accounts.revoke_token(conn, token_id=info.id, now=NOW).state(NOW) == "revoked"
        assert accounts.resolve_token(conn, secret=secret, now=NOW) is None


def test_a_persons_token_never_has_more_power_than_the_person(engine: Engine) -> None:
    _add(engine, role=Role.ADMIN)
    with engine.begin() as conn:
        _, secret = accounts.create_token(
            conn,
            name="ops",
            role=Role.ADMIN,
            person="ana",
            expires_at=None,
            created_by="x",
            now=NOW,
        )
        accounts.set_role(conn, person="ana", role=Role.VIEWER, now=NOW)
        who = accounts.resolve_token(conn, secret=secret, now=NOW)
        assert who is not None and who.role is Role.VIEWER
        with pytest.raises(InputError, match="more power"):
            accounts.create_token(
                conn,
                name="x",
                role=Role.ADMIN,
                person="ana",
                expires_at=None,
                created_by="x",
                now=NOW,
            )
        _, robot = accounts.create_token(
            conn, name="ci", role=Role.ADMIN, person=None, expires_at=None, created_by="x", now=NOW
        )
        bot = accounts.resolve_token(conn, secret=robot, now=NOW)
    assert bot is not None and (bot.actor, bot.role) == ("token:ci", Role.ADMIN)


def test_a_session_ends_when_idle_too_long_or_when_the_password_changes(engine: Engine) -> None:
    _add(engine)
    with engine.begin() as conn:
        cookie, csrf = accounts.open_session(conn, person="ana", address="10.0.0.1", now=NOW)
    with engine.begin() as conn:
        session = accounts.resolve_session(conn, cookie=cookie, now=NOW + timedelta(hours=1))
    assert session is not None and session.csrf == csrf and session.principal.person == "ana"
    with engine.begin() as conn:
        idle = NOW + timedelta(hours=1) + accounts.SESSION_IDLE
        assert accounts.resolve_session(conn, cookie=cookie, now=idle) is None
        cookie, _ = accounts.open_session(conn, person="ana", address="10.0.0.1", now=NOW)
        accounts.set_password(conn, person="ana", password="another good one", now=NOW)
        assert accounts.resolve_session(conn, cookie=cookie, now=NOW) is None
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(web_session)).scalar() == 0


def test_an_action_link_is_signed_expires_and_works_once(engine: Engine) -> None:
    with engine.begin() as conn:
        key = links.signing_key(conn, now=NOW)
    with engine.begin() as conn:
        assert links.signing_key(conn, now=NOW) == key  # one key per store
    token = links.sign(
        key, action="ack", incident_id=7, person="ana", expires_at=NOW + links.LINK_TTL
    )
    link = links.verify(key, token, now=NOW)
    assert (link.action, link.incident_id, link.person) == ("ack", 7, "ana")
    body, _, signature = token.partition(".")
    for forged in (body + "." + signature[::-1], "x" + token, token + "x", "", "a.b"):
        with pytest.raises(Unauthenticated):
            links.verify(key, forged, now=NOW)
    with pytest.raises(Unauthenticated):
        links.verify(b"another key", token, now=NOW)
    with pytest.raises(Unauthenticated):
        links.verify(key, token, now=NOW + links.LINK_TTL)
    with engine.begin() as conn:
        links.use(conn, link, now=NOW)
    with engine.begin() as conn, pytest.raises(Unauthenticated):
        links.use(conn, link, now=NOW)
