"""An OpenID Connect relying party for staff sign-in: discovery, the authorization code flow
with PKCE, and ID-token validation, as OpenID Connect Core 1.0 and Discovery 1.0 state them.

    begin(redirect_uri)            -> AuthorizationRequest(url, state, nonce, verifier)
    finish(code, request, uri)     -> the validated ID-token claims

What is checked, and the threat each check answers:

* the discovery document's ``issuer`` equals the configured issuer exactly (Discovery §4.3:
  a document served for another issuer is refused);
* ``state`` (checked by the caller against its cookie): login CSRF, a victim signed in as
  the attacker; ``nonce`` in the ID token: a replayed or injected token;
* PKCE S256 (RFC 7636): an intercepted authorization code is useless without the verifier;
* the ID token's signature against the provider's JWKS, with an asymmetric algorithm only
  (never ``none``, never HS256 keyed with the client secret), the key found by ``kid`` and
  the JWKS fetched again once when a key is unknown (the provider rotated its keys);
* ``iss`` equal to the issuer, ``aud`` containing the client id (and ``azp`` equal to it
  when there are several audiences), ``exp`` and ``iat`` within ``LEEWAY_SECONDS``.

The caller decides what the claims allow (sso.py). Failures raise ``SsoFailed`` with a
message for the sign-in page; the provider's own error text is logged, not shown.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt

from smartsupport.errors import Unauthorized

log = logging.getLogger("smartsupport.staff.sso")

SCOPES = "openid email profile"
LEEWAY_SECONDS = 60  # clock skew between this server and the provider
METADATA_TTL_SECONDS = 3600
JWKS_REFETCH_SECONDS = 30  # an unknown kid refetches the JWKS at most this often
TIMEOUT_SECONDS = 10.0
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class SsoFailed(Unauthorized):
    code = "sso_failed"


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    verifier: str


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _basic(client_id: str, secret: str) -> str:
    """client_secret_basic: both parts form-encoded first (RFC 6749 §2.3.1)."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass
class OidcClient:
    issuer: str
    client_id: str
    client_secret: str
    transport: httpx.AsyncBaseTransport | None = None  # tests may route through their own
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _metadata_at: float = 0.0
    _jwks: dict[str, Any] = field(default_factory=dict, repr=False)
    _jwks_at: float = 0.0

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, transport=self.transport)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            log.warning("identity provider unreachable at %s: %s", url, exc)
            raise SsoFailed("the identity provider could not be reached; try again") from exc
        if response.status_code != 200:
            log.warning("identity provider answered %s for %s", response.status_code, url)
            raise SsoFailed("the identity provider is not answering properly; try again")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SsoFailed("the identity provider sent something that is not JSON")
        return body

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, cached for an hour."""
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL_SECONDS:
            document = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if document.get("issuer") != self.issuer:
                log.warning(
                    "discovery document names issuer %r, configured %r",
                    document.get("issuer"),
                    self.issuer,
                )
                raise SsoFailed("the identity provider's discovery document is for another issuer")
            for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(needed), str):
                    raise SsoFailed(f"the provider's discovery document has no {needed}")
            self._metadata, self._metadata_at = document, time.monotonic()
        return self._metadata

    async def begin(self, redirect_uri: str) -> AuthorizationRequest:
        metadata = await self.metadata()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # 64 characters, within RFC 7636's 43..128
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": state,
            "nonce": nonce,
            "code_challenge": _pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        endpoint = metadata["authorization_endpoint"]
        url = f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"
        return AuthorizationRequest(url, state, nonce, verifier)

    async def finish(
        self, code: str, nonce: str, verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        """Exchange the code and return the validated ID token's claims."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        headers = {"Accept": "application/json"}
        if "client_secret_basic" in methods:
            headers["Authorization"] = _basic(self.client_id, self.client_secret)
        else:  # client_secret_post (Core §9)
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        try:
            async with self._client() as client:
                response = await client.post(metadata["token_endpoint"], data=form, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("token endpoint unreachable: %s", exc)
            raise SsoFailed("the identity provider could not be reached; try again") from exc
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if response.status_code != 200 or not isinstance(body.get("id_token"), str):
            log.warning(
                "token endpoint refused the code: %s %s", response.status_code, body.get("error")
            )
            raise SsoFailed("the identity provider did not accept the sign-in; start again")
        return await self.validate(body["id_token"], nonce)

    async def _key(self, kid: str | None, alg: str) -> Any:
        metadata = await self.metadata()
        for attempt in range(2):
            stale = time.monotonic() - self._jwks_at > JWKS_REFETCH_SECONDS
            if not self._jwks or (attempt == 1 and stale):
                self._jwks = await self._get_json(metadata["jwks_uri"])
                self._jwks_at = time.monotonic()
            for jwk in self._jwks.get("keys", []):
                if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                    continue
                if (kid is None or jwk.get("kid") == kid) and jwk.get("alg", alg) == alg:
                    try:
                        return jwt.PyJWK(jwk, algorithm=alg).key
                    except jwt.PyJWTError:
                        continue
        raise SsoFailed("the ID token was signed with a key the provider does not publish")

    async def validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        metadata = await self.metadata()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise SsoFailed("the ID token is malformed") from exc
        alg = header.get("alg")
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        if alg not in ALGORITHMS or alg not in offered:
            raise SsoFailed(f"the ID token's algorithm {alg!r} is not accepted")
        key = await self._key(header.get("kid"), alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=[alg],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            log.warning("ID token refused: %s", exc)
            raise SsoFailed(
                "the ID token is not valid (signature, issuer, audience or age)"
            ) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SsoFailed("the ID token was issued to another client")
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SsoFailed("the ID token does not belong to this sign-in (nonce)")
        return claims
