"""Single sign-on in Debian's chromium: the login page's link, the real provider's sign-in
page (oidc-provider-mock on http://localhost:<port>, another site than the server on
http://127.0.0.1), and back into the inbox. This is where SameSite matters: the callback is
a navigation started by the provider's site, so the state cookie must be Lax and the
session cookies (Strict) must be used by a navigation our own page starts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from ssokit import CLIENT_ID, CLIENT_SECRET, PROVIDER_WARNINGS, provider, set_user
from staffkit import PASSWORD, add_user

from smartsupport.staff import totp
from tests.servers import LiveServer

pytestmark = [pytest.mark.browser, *PROVIDER_WARNINGS]


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with provider() as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory, issuer) -> Iterator[LiveServer]:
    env = {
        "SMARTSUPPORT_DATA_DIR": str(tmp_path_factory.mktemp("sso-browser")),
        "SMARTSUPPORT_SSO_ISSUER": issuer,
        "SMARTSUPPORT_SSO_CLIENT_ID": CLIENT_ID,
        "SMARTSUPPORT_SSO_CLIENT_SECRET": CLIENT_SECRET,
        "SMARTSUPPORT_SSO_ALLOWED_DOMAINS": json.dumps(["example.com"]),
        "SMARTSUPPORT_MFA_REQUIRED_ROLES": json.dumps(["admin"]),
    }
    with LiveServer(env) as live:
        add_user(live, "ines@example.com", "supervisor")
        add_user(live, "ada@example.com", "admin")
        yield live


def provider_sign_in(page, sub: str) -> None:
    """The provider's own page: type the subject, press Authorize."""
    page.wait_for_selector("input[name=sub]")
    page.fill("input[name=sub]", sub)
    page.click("form button[type=submit]:has-text('Authorize')")


def test_sso_sign_in_lands_in_the_inbox_with_the_session_cookies(browser, server, issuer):
    set_user(issuer, "sub-ines", email="ines@example.com", name="Ines")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/inbox/login?next=/api/v1/auth/me")
    page.click("text=Sign in with single sign-on")
    page.wait_for_url(f"{issuer}/oauth2/authorize*")
    provider_sign_in(page, "sub-ines")
    page.wait_for_url(f"{server.url}/api/v1/auth/me")
    me = json.loads(page.inner_text("body"))
    assert (me["email"], me["role"]) == ("ines@example.com", "supervisor")
    cookies = {c["name"]: c for c in context.cookies(server.url)}
    assert (
        cookies["__Host-ss_access"]["httpOnly"]
        and cookies["__Host-ss_access"]["sameSite"] == "Strict"
    )
    assert "__Host-ss_sso" not in cookies  # the flow's cookie is gone once used
    page.goto(f"{server.url}/inbox")
    assert page.url == f"{server.url}/inbox"
    context.close()


def test_an_admin_without_a_trusted_second_factor_is_taken_to_enrolment(browser, server, issuer):
    set_user(issuer, "sub-ada", email="ada@example.com", amr=["pwd"])
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/inbox/login")
    page.click("text=Sign in with single sign-on")
    provider_sign_in(page, "sub-ada")
    page.wait_for_url(f"{server.url}/inbox/mfa")
    assert "Set up two-step sign-in" in page.inner_text("h1")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Start')")
    secret = page.inner_text("#totp-secret")
    page.fill("#code", totp.code_at(secret, int(time.time() // 30)))
    page.click("button:has-text('Turn on')")
    page.wait_for_url(f"{server.url}/inbox")
    context.close()


def test_a_refused_sign_in_is_explained_on_the_login_page(browser, server, issuer):
    set_user(issuer, "sub-stranger", email="stranger@example.com")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/inbox/login")
    page.click("text=Sign in with single sign-on")
    provider_sign_in(page, "sub-stranger")
    page.wait_for_selector("[role=alert]")
    assert "no staff account for this email" in page.inner_text("[role=alert]")
    context.close()
