"""API keys on the staff and admin routes: ``Authorization: Bearer sk_...`` acts as a staff
member whose role comes from the key's scopes, capped by the role its creator has *now*.

Role scopes (any other scope, e.g. ``conversations:read``, is for routes that ask for it by
name with ``require_api_key``)::

    inbox:read   inbox:write     what an agent may do (conversations, replies, notes)
    team:read    team:write      what a supervisor may do (assignment, teams, reports)
    admin:read   admin:write     what an admin may do (staff, keys, privacy, outbox, audit)

A ``:read`` scope allows GET, HEAD and OPTIONS; ``:write`` every method. For one request the
key's role is the highest role among its scopes that allow the method, then lowered to its
creator's current role: a key never exceeds the person who made it, and demoting or
disabling that person reaches every key they made at once. Its workspaces are the key's one
workspace, and only while the creator still belongs to it. Keys made on the command line
(no creator) are the operator's and are capped by their scopes alone.

Every use counts against the key's rate limit (its own, or
``SMARTSUPPORT_API_KEY_RATE_LIMIT_PER_MINUTE``) in the backplane, so the count is shared by
every server process when Redis is configured. A key carries no cookie, so its requests
need no CSRF token (deps.verify_csrf).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import HTTPConnection

from smartsupport.errors import Forbidden, RateLimited, Unauthorized
from smartsupport.services import Services
from smartsupport.staff import apikeys
from smartsupport.staff.config import staff_config
from smartsupport.staff.models import RANK, ROLES, Role, StaffUser
from smartsupport.staff.store import StaffStore

SCOPE_ROLES: dict[str, Role] = {"inbox": "agent", "team": "supervisor", "admin": "admin"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WINDOW_SECONDS = 60


def presented_key(conn: HTTPConnection) -> str | None:
    """The key of an ``Authorization: Bearer sk_...`` header, or None (then the session
    cookie is what authenticates)."""
    scheme, _, key = conn.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(apikeys.PREFIX):
        return None
    return key


def _services(conn: HTTPConnection) -> Services:
    return conn.app.state.services  # type: ignore[no-any-return]


async def key_row(conn: HTTPConnection, key: str | None) -> dict[str, Any]:
    """The stored row of a valid, unrevoked, unexpired key within its rate limit; 401 for a
    missing, unknown, revoked or expired key, 429 beyond the limit."""
    prefix = apikeys.parse(key) if key else None
    if prefix is None or key is None:
        raise Unauthorized(
            "send an API key as 'Authorization: Bearer sk_...'", code="api_key_required"
        )
    services = _services(conn)
    store = StaffStore(services.store)
    row = await store.get_api_key_by_prefix(prefix)
    if row is None or not apikeys.matches(key, row["key_hash"]):
        raise Unauthorized("the API key is not valid", code="api_key_invalid")
    if row["revoked_at"] is not None:
        raise Unauthorized("the API key was revoked", code="api_key_revoked")
    config = staff_config(conn.app.state)
    now = config.now()
    if row["expires_at"] is not None and now >= row["expires_at"]:
        raise Unauthorized("the API key has expired; create a new one", code="api_key_expired")
    limit = row["rate_limit_per_minute"] or services.settings.api_key_rate_limit_per_minute
    wait = await services.backplane.hit(f"staff:api_key:{row['id']}", limit, WINDOW_SECONDS)
    if wait:
        raise RateLimited(
            f"this API key's limit of {limit} requests per minute is used up; retry in "
            f"{max(1, round(wait))} seconds",
            retry_after=wait,
        )
    last = row["last_used_at"]
    if last is None or now - last > timedelta(seconds=config.touch_every_seconds):
        await store.touch_api_key(row["id"], now)
    return row


def scope_role(scopes: list[str], method: str) -> Role | None:
    """The highest role the scopes give for ``method``, or None."""
    best: Role | None = None
    for scope in scopes:
        resource, _, action = scope.partition(":")
        role = SCOPE_ROLES.get(resource)
        if role is None or (action == "read" and method not in SAFE_METHODS):
            continue
        if best is None or RANK[role] > RANK[best]:
            best = role
    return best


def highest_role(scopes: list[str]) -> Role | None:
    """The highest role any of the scopes names (read or write)."""
    return scope_role(scopes, "GET")


async def key_staff(conn: HTTPConnection, key: str) -> StaffUser:
    """The staff member an API key acts as on this request (see the module docstring)."""
    row = await key_row(conn, key)
    method = conn.scope.get("method", "GET")  # a WebSocket handshake is a GET
    role = scope_role(list(row["scopes"]), method)
    if role is None:
        wanted = "a :write scope" if method not in SAFE_METHODS else "a role scope"
        raise Forbidden(
            f"the API key needs {wanted} (inbox:, team: or admin:) for {method} here",
            code="scope_required",
        )
    workspaces = [row["workspace_id"]]
    email, staff_id = "", f"api_key:{row['id']}"
    if row["created_by"] is not None:
        creator = await StaffStore(_services(conn).store).get_user(row["created_by"])
        if creator is None or creator.disabled:
            raise Unauthorized(
                "the API key's creator no longer has access", code="api_key_owner_disabled"
            )
        role = ROLES[min(RANK[role], RANK[creator.role])]
        workspaces = [w for w in workspaces if w in creator.workspaces]
        email, staff_id = creator.email, creator.id
    return StaffUser(
        staff_id, email, row["name"], role, workspaces, None, True, api_key_id=row["id"]
    )
