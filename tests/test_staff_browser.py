"""The login page in Debian's chromium against a real server on http://127.0.0.1: the
Secure, HttpOnly, SameSite=Strict cookies work there (a secure context), the session
cookie is invisible to scripts, the csrf cookie is readable, and logout ends it all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import LiveServer
from tests.staffkit import PASSWORD, add_user

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("staff-browser")
    env = {"SMARTSUPPORT_DATA_DIR": str(data_dir)}
    with LiveServer(env) as live:
        add_user(live, "lead@example.com", "supervisor")
        yield live


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_login_works_over_plain_http_on_the_loopback_with_secure_cookies(browser, server, host):
    base = server.url.replace("127.0.0.1", host)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/inbox/login?next=/api/v1/auth/me")
    page.fill("#email", "lead@example.com")
    page.fill("#password", "wrong password, twice over")
    page.click("button[type=submit]")
    assert "Sign-in failed" in page.inner_text("[role=alert]")
    assert page.input_value("#email") == "lead@example.com"
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/api/v1/auth/me")
    assert '"role":"supervisor"' in page.inner_text("body")

    cookies = {c["name"]: c for c in context.cookies()}
    assert set(cookies) == {"__Host-ss_access", "__Secure-ss_refresh", "__Host-ss_csrf"}
    assert all(c["secure"] and c["sameSite"] == "Strict" for c in cookies.values())
    assert cookies["__Host-ss_access"]["httpOnly"] and not cookies["__Host-ss_csrf"]["httpOnly"]
    visible = page.evaluate("document.cookie")
    assert "ss_access" not in visible and "ss_refresh" not in visible
    assert visible.startswith("__Host-ss_csrf=")

    # The inbox script's way: read the csrf cookie, send it as a header.
    refreshed = page.evaluate("""async () => {
        const token = document.cookie.split('; ').find(c => c.startsWith('__Host-ss_csrf='))
            .split('=')[1];
        const without = await fetch('/api/v1/auth/refresh', {method: 'POST'});
        const withToken = await fetch('/api/v1/auth/refresh',
                                      {method: 'POST', headers: {'X-CSRF-Token': token}});
        return [without.status, withToken.status];
    }""")
    assert refreshed == [403, 200]
    logged_out = page.evaluate("""async () => {
        const token = document.cookie.split('; ').find(c => c.startsWith('__Host-ss_csrf='))
            .split('=')[1];
        await fetch('/inbox/logout', {method: 'POST', headers: {'X-CSRF-Token': token}});
        return (await fetch('/api/v1/auth/me')).status;
    }""")
    assert logged_out == 401
    # Only a fresh anonymous csrf cookie (from the login page logout redirects to) is left.
    assert [c["name"] for c in context.cookies()] == ["__Host-ss_csrf"]
    assert context.cookies()[0]["value"] != cookies["__Host-ss_csrf"]["value"]
    context.close()
