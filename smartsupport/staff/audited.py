"""Staff actions written to the audit log (``smartsupport.audit``): sign-ins, account and
API-key changes, from the routes and from the command line.

Entries name accounts by id (``staff:<id>``), never by the email typed: a failed sign-in
names the account only when one exists with that email, so a password typed into the email
field never reaches the log.
"""

from __future__ import annotations

from typing import Any

from smartsupport import audit
from smartsupport.services import Services
from smartsupport.staff.models import ApiKeyPrincipal, StaffUser
from smartsupport.staff.store import StaffStore
from smartsupport.storage.base import Store

CLI = "cli"  # the actor of command-line changes: whoever runs it on the server


def actor(by: StaffUser | ApiKeyPrincipal | None) -> str:
    """``staff:<id>``, ``api_key:<id>`` (a key used on an admin route), or ``cli``."""
    if by is None:
        return CLI
    if isinstance(by, ApiKeyPrincipal):
        return f"api_key:{by.id}"
    if isinstance(by, StaffUser) and by.api_key_id is not None:
        return f"api_key:{by.api_key_id}"  # a key acting on a staff route (keyauth.py)
    return f"staff:{getattr(by, 'id', 'unknown')}"


async def action(
    store: Store | object,
    name: str,
    *,
    by: StaffUser | ApiKeyPrincipal | None,
    target: str | None = None,
    workspace_id: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One staff or admin action (``by`` None: the command line)."""
    await audit.record(
        store,
        name,
        actor=actor(by),
        target=target,
        workspace_id=workspace_id,
        ip=ip,
        details=details,
    )


async def signed_in(services: Services, staff_id: str, ip: str | None) -> None:
    await audit.record(
        services.store, "staff.login", actor=f"staff:{staff_id}", target=f"staff:{staff_id}", ip=ip
    )


async def sign_in_failed(services: Services, email: str, code: str, ip: str | None) -> None:
    record = await StaffStore(services.store).get_user_by_email(email) if email else None
    await audit.record(
        services.store,
        "staff.login_failed",
        actor="anonymous",
        target=f"staff:{record.id}" if record is not None else None,
        ip=ip,
        details={"code": code},
    )
