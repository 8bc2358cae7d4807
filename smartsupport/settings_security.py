"""Security settings: request limits, trusted proxies, field encryption at rest, and staff
sign-in (SSO, MFA, API keys). One part of ``settings.Settings`` (docs/security.md).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from smartsupport.signin_policy import check_issuer, check_roles, check_sso


class SecuritySettings(BaseModel):
    """What the service accepts, how it stores data, and who may sign in."""

    # -- security limits (docs/security.md) --------------------------------------------------
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body; larger ones get 413 before they are read.",
    )
    upload_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body on the knowledge-article admin routes and the "
        "attachment uploads (which then have their own SMARTSUPPORT_ATTACHMENT_MAX_BYTES).",
    )
    visitor_token_ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long a visitor token is valid after it is issued.",
    )
    ws_sockets_per_conversation: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Widget WebSockets one conversation may hold open in one server process.",
    )
    ws_typing_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="At most one typing frame per socket is passed on per interval.",
    )
    ws_compression: bool = Field(
        default=False,
        description="permessage-deflate on WebSockets. Off: widget frames are small, and "
        "compression holds about 64 KiB of zlib state per open socket (bench/idle_sockets.py).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='JSON list of proxy addresses or networks (e.g. ["10.0.0.0/8"]) whose '
        "X-Forwarded-For header names the client; from any other peer it is ignored.",
    )
    demo_shop_public: bool = Field(
        default=False,
        description="Serve the demo shop's API to non-loopback clients (it holds a demo "
        "customer's email and phone). Off: only requests from this machine reach it.",
    )
    # -- field encryption at rest (keyring.py, encryption.py; docs/security.md) ------------
    encryption: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: message text, customer PII and metadata, notes and outbox payloads "
        "are sealed with AES-256-GCM; keys from SMARTSUPPORT_ENCRYPTION_KEYS or "
        "SMARTSUPPORT_ENCRYPTION_KEY_FILE, else (SQLite only) a key file created beside the "
        "database. off: stored in clear (PostgreSQL needs keys or this, explicitly).",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description='The keyring as JSON: {"primary": ID, "keys": {ID: BASE64}, '
        '"index_key": BASE64} (`smartsupport keys create --print`).',
    )
    encryption_key_file: Path | None = Field(
        default=None,
        description="A keyring file (mode 0600), as written by `smartsupport keys create`. "
        "Default on SQLite: the database file's name plus .keys, created on first start.",
    )

    # -- staff sign-in: SSO, MFA, API keys (staff/sso*.py, staff/mfa.py; docs/security.md) --
    sso_issuer: str = Field(
        default="",
        description="OpenID Connect issuer URL of the staff's identity provider (its discovery "
        "document is ISSUER/.well-known/openid-configuration). Unset: no single sign-on.",
    )
    sso_client_id: str = Field(default="", description="The client id registered at the provider.")
    sso_client_secret: SecretStr | None = Field(
        default=None, description="The client secret registered at the provider."
    )
    sso_allowed_domains: list[str] = Field(
        default_factory=list,
        description='JSON list of email domains allowed to sign in by SSO, e.g. ["example.com"]'
        " (required with SMARTSUPPORT_SSO_ISSUER).",
    )
    sso_new_staff_role: str = Field(
        default="none",
        description="What the first SSO sign-in of an email with no staff account does: none "
        "(refused; an admin creates the account first) or agent / supervisor (created with "
        "that role). Never admin.",
    )
    sso_new_staff_workspaces: list[str] = Field(
        default_factory=list,
        description="JSON list of the workspaces of accounts created by SSO sign-in.",
    )
    sso_email_verified_required: bool = Field(
        default=True,
        description="Accept only ID tokens whose email_verified claim is true (turn off only "
        "for providers that never send it, such as Azure AD / Entra ID).",
    )
    sso_mfa_amr: list[str] = Field(
        default_factory=lambda: ["mfa"],
        description="JSON list of amr values (RFC 8176) of an ID token that count as the "
        "second factor; [] with an empty SMARTSUPPORT_SSO_MFA_ACR: SSO never satisfies MFA.",
    )
    sso_mfa_acr: list[str] = Field(
        default_factory=list,
        description="JSON list of acr values of an ID token that count as the second factor.",
    )
    mfa_required_roles: list[str] = Field(
        default_factory=list,
        description='JSON list of roles that must use a second factor, e.g. ["admin", '
        '"supervisor"]; a member who has not enrolled TOTP is held at enrolment.',
    )
    api_key_rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="Requests one API key may make per minute on the staff and admin routes "
        "(a key may carry its own limit).",
    )

    @field_validator("sso_issuer")
    @classmethod
    def _sso_issuer(cls, issuer: str) -> str:
        return check_issuer(issuer.strip())

    @field_validator("mfa_required_roles")
    @classmethod
    def _mfa_roles(cls, roles: list[str]) -> list[str]:
        return check_roles(roles, "SMARTSUPPORT_MFA_REQUIRED_ROLES")

    @model_validator(mode="after")
    def _sso_complete(self) -> SecuritySettings:
        check_sso(
            issuer=self.sso_issuer,
            client_id=self.sso_client_id,
            has_secret=bool(self.sso_client_secret and self.sso_client_secret.get_secret_value()),
            allowed_domains=self.sso_allowed_domains,
            new_staff_role=self.sso_new_staff_role,
            new_staff_workspaces=self.sso_new_staff_workspaces,
        )
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, proxies: list[str]) -> list[str]:

        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {proxy!r} is not an address or network: use e.g. "
                    '["10.0.0.5", "10.1.0.0/16"]'
                ) from None
        return proxies
