"""The deployment's staff sign-in policy, checked when the settings are read: single sign-on
(OpenID Connect), the roles that must use a second factor, and how a first SSO sign-in maps to
a staff account.

A wrong value stops start-up with a message that names the fix (STYLE.md): an SSO setup that
would let any Google account in, or silently make new people admins, never starts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

ROLE_NAMES = ("agent", "supervisor", "admin")
# What a first SSO sign-in of an unknown email may become. Never "admin": an admin account
# is made by an admin (or the command line), not by whoever the provider vouches for.
NEW_STAFF_ROLES = ("none", "agent", "supervisor")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer(issuer: str) -> str:
    """The issuer URL without a trailing slash; https except on this machine (tests, a
    provider next to the server). The ID token's ``iss`` must equal it exactly."""
    if not issuer:
        return issuer
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(
            f"SMARTSUPPORT_SSO_ISSUER {issuer!r} is not a URL: use the provider's issuer, e.g. "
            "https://login.example.com/realms/staff (docs/security.md lists each provider's)"
        )
    if parts.scheme == "http" and not _loopback(host):
        raise ValueError(
            "SMARTSUPPORT_SSO_ISSUER must use https (plain http is accepted only for a "
            "provider on this machine): tokens and the client secret travel over it"
        )
    if parts.query or parts.fragment:
        raise ValueError("SMARTSUPPORT_SSO_ISSUER must not have a query or fragment")
    return issuer.rstrip("/")


def check_roles(roles: Sequence[str], setting: str) -> list[str]:
    for role in roles:
        if role not in ROLE_NAMES:
            raise ValueError(f"{setting}: unknown role {role!r}: use agent, supervisor or admin")
    return sorted(set(roles), key=ROLE_NAMES.index)


def check_sso(
    *,
    issuer: str,
    client_id: str,
    has_secret: bool,
    allowed_domains: Sequence[str],
    new_staff_role: str,
    new_staff_workspaces: Sequence[str],
) -> None:
    """The SSO settings belong together; each missing piece is named with its variable."""
    if new_staff_role not in NEW_STAFF_ROLES:
        hint = (
            "admins are never created by SSO: create the account with the admin API or "
            "`smartsupport users add`, then its first SSO sign-in links to it"
            if new_staff_role == "admin"
            else "use none, agent or supervisor"
        )
        raise ValueError(f"SMARTSUPPORT_SSO_NEW_STAFF_ROLE {new_staff_role!r}: {hint}")
    for domain in allowed_domains:
        if not domain or "@" in domain or domain != domain.strip().lower():
            raise ValueError(
                f"SMARTSUPPORT_SSO_ALLOWED_DOMAINS: {domain!r} is not a lower-case domain such "
                'as "example.com"'
            )
    if not issuer:
        return
    if not client_id or not has_secret:
        raise ValueError(
            "SMARTSUPPORT_SSO_ISSUER is set, so SMARTSUPPORT_SSO_CLIENT_ID and "
            "SMARTSUPPORT_SSO_CLIENT_SECRET are needed too (from the provider's app "
            "registration)"
        )
    if not allowed_domains:
        raise ValueError(
            "SMARTSUPPORT_SSO_ALLOWED_DOMAINS is empty: list your staff's email domains, e.g. "
            '["example.com"] (a public provider such as Google would otherwise vouch for '
            "anyone's account)"
        )
    if new_staff_role != "none" and not new_staff_workspaces:
        raise ValueError(
            "SMARTSUPPORT_SSO_NEW_STAFF_ROLE creates accounts, so "
            'SMARTSUPPORT_SSO_NEW_STAFF_WORKSPACES must name their workspaces, e.g. ["demo"]'
        )
