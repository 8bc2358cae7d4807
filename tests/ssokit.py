"""A real OpenID Connect provider for the SSO tests, and the browser's part of the flow
driven with httpx.

The provider is ``oidc-provider-mock`` (PyPI): authlib's authorization server (RS256 ID
tokens, a JWKS, discovery, the authorization code grant) on a loopback port. Its
authorization page asks for a subject instead of a password; the subject's claims are set
with ``PUT /users/<sub>``. Two limits of that provider, which the tests work around rather
than hide: it accepts any client id and secret, and it does not check PKCE (the tests check
our half of PKCE on the wire: ``RecordingTransport``).

    with provider() as issuer:
        set_user(issuer, "u1", email="a@example.com", amr=["pwd", "mfa"])
        response = sign_in(client, issuer, "u1")    # the app's page after the callback
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

with warnings.catch_warnings():
    # The provider imports authlib.jose, which authlib marks deprecated; authlib.deprecate
    # adds an "always" filter when first imported, so it is imported before ours goes on top.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")
    import oidc_provider_mock

# The provider's own use of authlib raises deprecation warnings inside its server thread,
# which the suite's "warnings are errors" would turn into 500s from the provider. Test
# modules that run it carry this mark; it silences only authlib's notices.
PROVIDER_WARNINGS = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
    pytest.mark.filterwarnings("ignore:.*is deprecated.*:DeprecationWarning"),
]

CLIENT_ID = "smartsupport-inbox"
CLIENT_SECRET = "provider-issued-client-secret"


@contextmanager
def provider() -> Iterator[str]:
    """The provider's issuer URL while it runs (http://localhost:<port>)."""
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def sso_settings(issuer: str, **overrides: Any) -> dict[str, Any]:
    return {
        "sso_issuer": issuer,
        "sso_client_id": CLIENT_ID,
        "sso_client_secret": CLIENT_SECRET,
        "sso_allowed_domains": ["example.com"],
        **overrides,
    }


def set_user(issuer: str, sub: str, **claims: Any) -> None:
    claims.setdefault("email_verified", True)
    response = httpx.put(f"{issuer}/users/{sub}", json=claims)
    assert response.status_code == 204, response.text


def authorize(authorize_url: str, sub: str) -> str:
    """The provider's sign-in form, submitted for ``sub``: the redirect back to the app."""
    form = httpx.get(authorize_url)
    assert form.status_code == 200, form.text
    answer = httpx.post(authorize_url, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def start(client: TestClient, next_url: str = "/api/v1/auth/me") -> str:
    started = client.get(f"/inbox/login/sso?next={next_url}", follow_redirects=False)
    assert started.status_code == 303, started.text
    return started.headers["location"]


def callback(client: TestClient, location: str) -> httpx.Response:
    parts = urlsplit(location)
    assert parts.path == "/inbox/login/sso/callback", location
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def sign_in(client: TestClient, sub: str, next_url: str = "/api/v1/auth/me") -> httpx.Response:
    """The whole redirect flow, as a browser would follow it."""
    return callback(client, authorize(start(client, next_url), sub))


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes the app's calls to the provider through, keeping each request. Each call
    gets its own connection: the app closes its client (and so this transport) after use."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.requests.append((str(request.url), body))
        async with httpx.AsyncClient() as client:
            answer = await client.send(
                httpx.Request(request.method, request.url, headers=request.headers, content=body)
            )
        headers = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        }
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    async def aclose(self) -> None:
        pass
