"""Staff identities as plain dataclasses: what an endpoint gets once a caller is known."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")
# Each role can do everything the roles before it can.
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}

# API key scopes are "resource:action" (conversations:read, tickets:write, ...). Features add
# their own; a typo such as "conversation:raed" still fails here rather than at call time.
SCOPE_PATTERN = re.compile(r"^[a-z][a-z_]{1,30}:(read|write|admin)$")


@dataclass(frozen=True, slots=True)
class StaffUser:
    """A logged-in person. ``workspaces`` are the workspace ids they may see."""

    id: str
    email: str
    name: str
    role: Role
    workspaces: list[str] = field(default_factory=list)
    session_id: str | None = None
    # False while the session's second factor is not satisfied (staff/mfa.py holds such a
    # session at the enrolment routes when the role requires MFA).
    mfa_verified: bool = True
    # Set when an API key acts for this person (staff/keyauth.py): ``role`` and
    # ``workspaces`` are then the key's, capped by its creator's.
    api_key_id: str | None = None

    def has_role(self, minimum: Role) -> bool:
        return RANK[self.role] >= RANK[minimum]


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """A server-to-server caller authenticated by an API key; bound to one workspace."""

    id: str
    name: str
    workspace_id: str
    scopes: list[str]

    @property
    def workspaces(self) -> list[str]:
        return [self.workspace_id]


@dataclass(slots=True)
class StaffRecord:
    """A staff_users row plus its workspaces (never leaves the staff package as is)."""

    id: str
    email: str
    name: str
    role: Role
    workspaces: list[str]
    password_hash: str
    totp_secret: str | None
    totp_enabled: bool
    totp_last_step: int
    failed_logins: int
    locked_until: object
    disabled: bool

    def public(self, session_id: str | None = None, mfa_verified: bool = True) -> StaffUser:
        return StaffUser(
            self.id,
            self.email,
            self.name,
            self.role,
            list(self.workspaces),
            session_id,
            mfa_verified,
        )
