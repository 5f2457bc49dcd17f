"""/login, /logout and /setup/{secret}: the browser's way in and out (issue 12), both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from ui_helpers import ORIGIN, PASSWORD, csrf_of, log_in, migrate, ui_client

from opsbook.accounts.service import MAX_FAILURES_PER_ACCOUNT
from opsbook.web.ui.session import safe_next

WRONG = "not-the-password-42"


@pytest.fixture
def setups(store_url: str) -> dict[str, str]:
    return migrate(store_url)


@pytest.fixture
def client(store_url: str, setups: dict[str, str]) -> Iterator[TestClient]:
    yield from ui_client(store_url)


def test_an_anonymous_visitor_is_sent_to_the_login_form_with_the_page_to_return_to(
    client: TestClient,
) -> None:
    response = client.get("/?view=all")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/%3Fview%3Dall"
    form = client.get(response.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/?view=all"' in form.text


def test_the_right_password_sets_a_hardened_session_cookie_and_lands_on_next(
    client: TestClient,
) -> None:
    response = client.post(
        "/login",
        data={"person": "ana", "password": PASSWORD, "next": "/incidents/3"},
        headers=ORIGIN,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/incidents/3"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("opsbook_session=")
    for attribute in ("HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http and no https public_url
    page = client.get("/")
    assert page.status_code == 200
    assert "ana" in page.text and "Log out" in page.text


def test_the_cookie_is_secure_when_the_public_url_is_https(store_url: str) -> None:
    migrate(store_url)
    from ui_helpers import CONFIG

    config = {**CONFIG, "server": {"public_url": "https://ops.example"}}
    for client in ui_client(store_url, config=config):
        response = client.post(
            "/login",
            data={"person": "ana", "password": PASSWORD},
            headers={"Origin": "https://ops.example"},
        )
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


def test_a_wrong_password_shows_the_form_again_with_an_error_and_no_cookie(
    client: TestClient,
) -> None:
    response = client.post("/login", data={"person": "ana", "password": WRONG}, headers=ORIGIN)
    assert response.status_code == 401
    assert "wrong name or password" in response.text
    assert WRONG not in response.text
    assert "set-cookie" not in response.headers
    assert client.get("/").status_code == 303


def test_too_many_failures_are_throttled_and_say_so(client: TestClient) -> None:
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        client.post("/login", data={"person": "ana", "password": WRONG}, headers=ORIGIN)
    response = client.post("/login", data={"person": "ana", "password": PASSWORD}, headers=ORIGIN)
    assert response.status_code == 429
    assert "too many failed logins" in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ],
    ids=["other-origin", "null-origin", "other-referer"],
)
def test_a_login_posted_from_another_site_is_refused(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/login", data={"person": "ana", "password": PASSWORD}, headers=headers)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_a_login_with_a_same_origin_referer_and_no_origin_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/login",
        data={"person": "ana", "password": PASSWORD},
        headers={"Referer": "http://testserver/login?next=/"},
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/incidents/1", "/incidents/1"),
        ("/?a=1&b=2", "/?a=1&b=2"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/\x00x", "/"),
        ("", "/"),
    ],
)
def test_next_is_only_ever_a_local_path(raw: str, expected: str) -> None:
    assert safe_next(raw) == expected


def test_a_missing_field_is_named(client: TestClient) -> None:
    response = client.post("/login", data={"person": "ana"}, headers=ORIGIN)
    assert response.status_code == 400
    assert "password: required" in response.text


def test_logout_needs_the_forms_csrf_token_and_ends_the_session(client: TestClient) -> None:
    log_in(client)
    csrf = csrf_of(client.get("/").text)
    refused = client.post("/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert 'opsbook_session=""' in response.headers["set-cookie"]
    client.cookies.clear()
    # The old cookie no longer names a session, even sent again by hand.
    assert client.get("/").status_code == 303


def test_the_old_cookie_is_dead_after_logout(client: TestClient) -> None:
    log_in(client)
    csrf = csrf_of(client.get("/").text)
    cookie = client.cookies["opsbook_session"]
    client.post("/logout", data={"csrf_token": csrf})
    client.cookies.clear()
    client.cookies["opsbook_session"] = cookie
    assert client.get("/").status_code == 303


def test_a_setup_link_sets_the_password_once_and_logs_in(
    client: TestClient, setups: dict[str, str]
) -> None:
    link = f"/setup/{setups['ben']}"
    form = client.get(link)
    assert form.status_code == 200
    assert form.headers["referrer-policy"] == "no-referrer"
    short = client.post(link, data={"password": "short", "confirm": "short"}, headers=ORIGIN)
    assert short.status_code == 400
    assert "password: use at least" in short.text
    differ = client.post(
        link, data={"password": PASSWORD, "confirm": PASSWORD + "x"}, headers=ORIGIN
    )
    assert differ.status_code == 400
    done = client.post(link, data={"password": PASSWORD, "confirm": PASSWORD}, headers=ORIGIN)
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    assert "ben" in client.get("/").text
    client.cookies.clear()
    again = client.post(link, data={"password": PASSWORD, "confirm": PASSWORD}, headers=ORIGIN)
    assert again.status_code == 401
    assert "not valid" in again.text
    log_in(client, "ben")
    assert "ben" in client.get("/").text


def test_logging_in_and_out_is_in_the_audit_log_with_the_address_and_interface(
    client: TestClient,
) -> None:
    from opsbook.store.audit import list_audit

    log_in(client)
    csrf = csrf_of(client.get("/").text)
    client.post("/logout", data={"csrf_token": csrf})
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        events = [(e.action, e.actor, e.origin) for e in reversed(list_audit(conn))]
    assert [e for e in events if e[0].startswith("session.")] == [
        ("session.login", "user:ana", "ui testclient"),
        ("session.logout", "user:ana", "ui testclient"),
    ]
