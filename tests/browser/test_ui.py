"""The UI in a real browser: log in, watch a check go red without a reload, log out (issue 12).

Each page is screenshotted at 1280 and 360 px into tests/browser/artifacts/ and checked with
axe-core. A page that logs a console error (a CSP violation included) fails.
"""

from __future__ import annotations

from typing import Any

from browser_helpers import ADMIN, ARTIFACTS, PASSWORD, assert_accessible, screenshots

from paging_servers import Target
from serving import Server

WAIT_MS = 20_000


def log_in(page: Any, server: Server, *, password: str = PASSWORD) -> None:
    page.goto(server.url + "/")
    assert "/login" in page.url
    page.fill("#person", ADMIN)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_a_wrong_password_shows_an_error(page: Any, server: Server, axe_source: str) -> None:
    log_in(page, server, password="not-the-password")
    error = page.locator("p.error")
    error.wait_for()
    assert "wrong name or password" in error.inner_text()
    assert "/login" in page.url
    screenshots(page, "login-error")
    assert_accessible(page, axe_source)
    assert not page.problems


def test_the_right_password_lands_on_the_overview(
    page: Any, server: Server, axe_source: str
) -> None:
    page.goto(server.url + "/")
    screenshots(page, "login")
    assert_accessible(page, axe_source)
    log_in(page, server)
    page.wait_for_url(server.url + "/")
    page.locator('#check-web[data-state="up"]').wait_for(timeout=WAIT_MS)
    assert page.locator("#check-payments").count() == 1
    assert "Ana Admin" in page.inner_text(".side")
    screenshots(page, "overview")
    assert_accessible(page, axe_source)
    assert not page.problems


def test_a_check_turns_red_without_a_reload_when_its_target_goes_down(
    page: Any, server: Server, target: Target, axe_source: str
) -> None:
    log_in(page, server)
    page.wait_for_url(server.url + "/")
    page.locator('#check-web[data-state="up"]').wait_for(timeout=WAIT_MS)
    # A reload would drop this property; a live update keeps it.
    page.evaluate("window.__sameDocument = true")
    target.failing = True
    try:
        page.locator('#check-web[data-state="down"]').wait_for(timeout=WAIT_MS)
    finally:
        target.failing = False
    assert page.evaluate("window.__sameDocument === true")
    assert "1 down" in page.inner_text("#live-summary")
    screenshots(page, "overview-down")
    assert_accessible(page, axe_source)
    page.emulate_media(color_scheme="dark")
    screenshots(page, "overview-down-dark")
    assert_accessible(page, axe_source)
    page.emulate_media(color_scheme="light")
    # On a phone each check is a card that fits without scrolling sideways: the 24 h
    # availability ("75.183 %" and the like, now that a check just gone down counts its
    # result) included.
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 800})
    assert_accessible(page, axe_source)
    overflow = page.evaluate(
        "() => { const w = document.querySelector('#live-checks');"
        " return [w.scrollWidth, w.clientWidth, w.querySelector('tr#check-web').innerText]; }"
    )
    # The widest a row gets: the longest state, a missed SLO and three decimals.
    worst = page.evaluate(
        "() => { const w = document.querySelector('#live-checks');"
        " const row = w.querySelector('tr#check-payments');"
        " row.querySelector('.state-word').textContent = 'maintenance';"
        " const [p95, day] = row.querySelectorAll('td.num:not(.wide)');"
        ' p95.innerHTML = \'<span class="slo-miss">1,234 ms</span>'
        '<span class="sub">/ 1,000 ms missed</span>\';'
        " day.textContent = '99.998 %';"
        " return [w.scrollWidth, w.clientWidth, row.innerText]; }"
    )
    page.screenshot(path=str(ARTIFACTS / "overview-widest-360.png"), full_page=True)
    page.set_viewport_size(size)
    assert overflow[0] <= overflow[1], f"the checks table overflows at 360 px: {overflow}"
    assert worst[0] <= worst[1], f"the checks table overflows at 360 px: {worst}"
    assert not page.problems


def test_logout_ends_the_session(page: Any, server: Server) -> None:
    log_in(page, server)
    page.wait_for_url(server.url + "/")
    page.click("text=Log out")
    page.wait_for_url(server.url + "/login")
    page.goto(server.url + "/")
    assert "/login?next=/" in page.url
    assert not page.problems
