"""Which staff account a validated ID token signs in to.

1. An identity seen before (issuer, subject) is its linked account, whatever email the
   provider sends now: the subject is the provider's stable id, an email can be reassigned.
2. A first sign-in needs an email the provider confirmed (``email_verified``, unless
   ``SMARTSUPPORT_SSO_EMAIL_VERIFIED_REQUIRED`` is off) in an allowed domain. It links to
   the staff account with that email, made beforehand by an admin with its role; with
   ``SMARTSUPPORT_SSO_NEW_STAFF_ROLE`` agent or supervisor an unknown email gets a new
   account of that role in ``SMARTSUPPORT_SSO_NEW_STAFF_WORKSPACES``. Nobody becomes an
   admin by signing in: the settings refuse ``admin`` there.
3. The allowed domains are checked at every sign-in, so removing a domain locks its
   people out at once; a disabled account stays disabled.

Links and accounts made here are written to the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from smartsupport import audit
from smartsupport.services import Services
from smartsupport.staff.enrolment import SSO_ONLY
from smartsupport.staff.models import Role, StaffRecord
from smartsupport.staff.oidc import SsoFailed
from smartsupport.staff.store import StaffStore
from smartsupport.storage.base import SqlDatabase


def _email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise SsoFailed(
            "the identity provider sent no email address: allow the 'email' scope for this "
            "application at the provider"
        )
    return email.strip().lower()


def _check_domain(services: Services, email: str) -> None:
    if email.rpartition("@")[2] not in services.settings.sso_allowed_domains:
        raise SsoFailed("this email domain may not sign in here")


async def _linked(db: SqlDatabase, issuer: str, subject: str) -> dict[str, Any] | None:
    return await db.fetchrow(
        "SELECT staff_id, email FROM staff_identities WHERE issuer = ? AND subject = ?",
        issuer,
        subject,
    )


async def account_for(
    services: Services, issuer: str, claims: dict[str, Any], now: datetime, ip: str | None
) -> StaffRecord:
    """The account these claims sign in to (rules in the module docstring); SsoFailed when
    none may."""
    settings, store = services.settings, StaffStore(services.store)
    db = cast(SqlDatabase, services.store)
    subject = str(claims["sub"])
    link = await _linked(db, issuer, subject)
    if link is not None:
        email = _email(claims) if "email" in claims else str(link["email"])
        _check_domain(services, email)
        record = await store.get_user(str(link["staff_id"]))
        await db.execute(
            "UPDATE staff_identities SET last_login_at = ?, email = ? WHERE issuer = ? AND"
            " subject = ?",
            now,
            email,
            issuer,
            subject,
        )
    else:
        email = _email(claims)
        if settings.sso_email_verified_required and claims.get("email_verified") is not True:
            raise SsoFailed("the identity provider has not confirmed this email address")
        _check_domain(services, email)
        record = await store.get_user_by_email(email)
        if record is None:
            record = await _create(services, email, claims, now, ip)
        await db.execute(
            "INSERT INTO staff_identities (issuer, subject, staff_id, email, created_at,"
            " last_login_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (issuer, subject) DO NOTHING",
            issuer,
            subject,
            record.id,
            email,
            now,
            now,
        )
        await audit.record(
            services.store, "staff.sso_linked", actor=f"staff:{record.id}",
            target=f"staff:{record.id}", ip=ip, details={"issuer": issuer},
        )  # fmt: skip
    if record is None or record.disabled:
        raise SsoFailed("this staff account is disabled")
    return record


async def _create(
    services: Services, email: str, claims: dict[str, Any], now: datetime, ip: str | None
) -> StaffRecord:
    settings = services.settings
    if settings.sso_new_staff_role == "none":
        raise SsoFailed(
            "there is no staff account for this email yet: ask an administrator to create one"
        )
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    record = await StaffStore(services.store).create_user(
        email=email,
        name=(name or email.split("@")[0])[:100],
        role=cast(Role, settings.sso_new_staff_role),
        workspaces=list(settings.sso_new_staff_workspaces),
        password_hash=SSO_ONLY,  # signs in by SSO only; no password matches it
        now=now,
    )
    await audit.record(
        services.store, "staff.created", actor="sso", target=f"staff:{record.id}", ip=ip,
        details={"role": record.role, "workspaces": record.workspaces, "via": "sso"},
    )  # fmt: skip
    return record
