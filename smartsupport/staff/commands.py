"""``smartsupport users ...`` and ``smartsupport api-keys ...``: thin wrappers that parse
options and call the staff store.

    smartsupport users add EMAIL --role agent|supervisor|admin [--workspace W]... [--name N]
                                 (the password is read from standard input)
    smartsupport users list
    smartsupport users disable EMAIL | users enable EMAIL
    smartsupport users password EMAIL        (new password on standard input; ends sessions)
    smartsupport users reset-totp EMAIL      (lost authenticator: the next login needs none)
    smartsupport api-keys create --scope S [--scope S]... --workspace W [--name N]
    smartsupport api-keys list | api-keys revoke ID
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from smartsupport.errors import Conflict, InvalidInput, SmartsupportError
from smartsupport.settings import load_settings
from smartsupport.staff import apikeys, audited, passwords
from smartsupport.staff.models import ROLES
from smartsupport.staff.store import StaffStore


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = subparsers.add_parser("users", help="staff accounts (agents, supervisors, admins)")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = users_sub.add_parser("add", help="add a staff account; password on standard input")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--workspace",
        action="append",
        dest="workspaces",
        metavar="ID",
        help="a workspace the account belongs to (repeatable; default: demo)",
    )
    add.add_argument("--name", default="", help="display name (default: from the email)")
    add.set_defaults(func=_run(_users_add))
    users_sub.add_parser("list", help="list staff accounts").set_defaults(func=_run(_users_list))
    for action, disabled in (("disable", True), ("enable", False)):
        cmd = users_sub.add_parser(action, help=f"{action} a staff account")
        cmd.add_argument("email")
        cmd.set_defaults(func=_run(_users_disable), disabled=disabled)

    password = users_sub.add_parser("password", help="set a new password (standard input)")
    password.add_argument("email")
    password.set_defaults(func=_run(_users_password))
    reset = users_sub.add_parser("reset-totp", help="remove the account's TOTP second factor")
    reset.add_argument("email")
    reset.set_defaults(func=_run(_users_reset_totp))

    keys = subparsers.add_parser("api-keys", help="API keys for server-to-server calls")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = keys_sub.add_parser("create", help="create a key; it is printed once")
    create.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        required=True,
        help="e.g. inbox:read, admin:write or conversations:read (repeatable)",
    )
    create.add_argument("--workspace", required=True)
    create.add_argument("--name", default="")
    create.add_argument(
        "--expires-in-days", type=int, default=None, help="refused after this (default: never)"
    )
    create.add_argument(
        "--rate-limit-per-minute",
        type=int,
        default=None,
        help="requests per minute (default: SMARTSUPPORT_API_KEY_RATE_LIMIT_PER_MINUTE)",
    )
    create.set_defaults(func=_run(_keys_create))
    keys_sub.add_parser("list", help="list keys").set_defaults(func=_run(_keys_list))
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    revoke.set_defaults(func=_run(_keys_revoke))


def _run(
    command: Callable[[StaffStore, argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_store(command, args))

    return run


@asynccontextmanager
async def _open_store() -> AsyncIterator[StaffStore]:
    from smartsupport.storage import open_store

    store = open_store(load_settings().database_url)
    await store.connect()
    try:
        await store.migrate()  # the staff tables may not exist before the first serve
        yield StaffStore(store)
    finally:
        await store.close()


async def _with_store(
    command: Callable[[StaffStore, argparse.Namespace], Awaitable[int]], args: argparse.Namespace
) -> int:
    async with _open_store() as store:
        return await command(store, args)


def read_password(email: str) -> str:
    """From the terminal without echo (asked twice), or one line of piped standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {email}: ")
        if getpass.getpass("Repeat the password: ") != first:
            raise InvalidInput("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _known_workspaces() -> set[str]:
    from smartsupport.workspaces import discover_workspaces

    settings = load_settings()
    return {w.id for w in discover_workspaces(settings.workspaces_dir, demo=settings.demo)}


async def _users_add(store: StaffStore, args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput(f"{args.email!r} is not an email address")
    workspaces = args.workspaces or ["demo"]
    unknown = sorted(set(workspaces) - _known_workspaces())
    if unknown:
        raise InvalidInput(
            f"unknown workspace(s) {', '.join(unknown)}: use the id of a loaded workspace"
        )
    password = read_password(email)
    passwords.check_policy(password, email=email)
    try:
        record = await store.create_user(
            email=email,
            name=args.name or email.split("@")[0],
            role=args.role,
            workspaces=workspaces,
            password_hash=await passwords.hash_password(password),
            now=datetime.now(UTC),
        )
    except Conflict:
        raise Conflict(f"a staff account for {email} already exists") from None
    await audited.action(
        store.db, "staff.created", by=None, target=f"staff:{record.id}",
        details={"role": record.role, "workspaces": workspaces},
    )  # fmt: skip
    print(f"added {record.email} ({record.role}) in {', '.join(record.workspaces)}")
    return 0


async def _users_list(store: StaffStore, args: argparse.Namespace) -> int:
    for r in await store.list_users():
        flags = " ".join(f for f, on in (("disabled", r.disabled), ("totp", r.totp_enabled)) if on)
        print(f"{r.email}\t{r.role}\t{','.join(r.workspaces)}\t{r.name}\t{flags}".rstrip())
    return 0


async def _users_disable(store: StaffStore, args: argparse.Namespace) -> int:
    record = await store.get_user_by_email(args.email)
    if record is None:
        raise SmartsupportError(f"no staff account for {args.email}")
    await store.set_disabled(record.id, args.disabled, datetime.now(UTC))
    change = "staff.disabled" if args.disabled else "staff.enabled"
    await audited.action(store.db, change, by=None, target=f"staff:{record.id}")
    print(f"{'disabled' if args.disabled else 'enabled'} {record.email}")
    return 0


async def _users_password(store: StaffStore, args: argparse.Namespace) -> int:
    record = await store.get_user_by_email(args.email)
    if record is None:
        raise SmartsupportError(f"no staff account for {args.email}")
    password = read_password(record.email)
    passwords.check_policy(password, email=record.email)
    await store.set_password(record.id, await passwords.hash_password(password), datetime.now(UTC))
    await audited.action(store.db, "staff.password_set", by=None, target=f"staff:{record.id}")
    print(f"new password set for {record.email}; their sessions were ended")
    return 0


async def _users_reset_totp(store: StaffStore, args: argparse.Namespace) -> int:
    record = await store.get_user_by_email(args.email)
    if record is None:
        raise SmartsupportError(f"no staff account for {args.email}")
    await store.set_totp(record.id, None, enabled=False)
    await audited.action(store.db, "staff.totp_reset", by=None, target=f"staff:{record.id}")
    print(f"TOTP removed for {record.email}; they can enrol again after logging in")
    return 0


async def _keys_create(store: StaffStore, args: argparse.Namespace) -> int:
    if args.workspace not in _known_workspaces():
        raise InvalidInput(f"unknown workspace {args.workspace}: use the id of a loaded workspace")
    scopes = apikeys.check_scopes(args.scopes)
    for number in (args.expires_in_days, args.rate_limit_per_minute):
        if number is not None and number < 1:
            raise InvalidInput("--expires-in-days and --rate-limit-per-minute must be 1 or more")
    key, prefix, key_hash = apikeys.generate()
    now = datetime.now(UTC)
    row = await store.create_api_key(
        prefix=prefix,
        key_hash=key_hash,
        name=args.name or f"key for {args.workspace}",
        workspace_id=args.workspace,
        scopes=scopes,
        created_by=None,
        now=now,
        expires_at=now + timedelta(days=args.expires_in_days) if args.expires_in_days else None,
        rate_limit_per_minute=args.rate_limit_per_minute,
    )
    await audited.action(
        store.db, "api_key.created", by=None, target=f"api_key:{row['id']}",
        workspace_id=args.workspace, details={"scopes": scopes},
    )  # fmt: skip
    print(key)
    print(f"id {row['id']}; scopes {' '.join(scopes)}; shown once, store it now", file=sys.stderr)
    return 0


async def _keys_list(store: StaffStore, args: argparse.Namespace) -> int:
    for row in await store.list_api_keys():
        state = "revoked" if row["revoked_at"] else "active"
        print(
            f"{row['id']}\tsk_{row['prefix']}…\t{row['workspace_id']}\t"
            f"{' '.join(row['scopes'])}\t{state}\t{row['name']}"
        )
    return 0


async def _keys_revoke(store: StaffStore, args: argparse.Namespace) -> int:
    if await store.get_api_key(args.id) is None:
        raise SmartsupportError(f"no API key with id {args.id}")
    await store.revoke_api_key(args.id, datetime.now(UTC))
    await audited.action(store.db, "api_key.revoked", by=None, target=f"api_key:{args.id}")
    print(f"revoked {args.id}")
    return 0
