"""Which mailboxes the email channel serves, read from Settings and workspaces.

    email_accounts(settings, workspaces)   every configured mailbox: the global one
                                           (SMARTSUPPORT_EMAIL_*) and each workspace's own
                                           (workspace.yaml ``email:``), checked at start-up
    account_for(settings, workspaces, id)  the mailbox of one workspace (outbound mail)

A workspace's section names environment variables, never the secret itself:

    email:
      imap_url_env: ACME_IMAP_URL      # imaps://user:pass@host:993/INBOX
      smtp_url_env: ACME_SMTP_URL      # smtp+starttls://user:pass@host:587
      from: "Acme Support <support@acme.example>"
      poll_seconds: 30                 # optional

A wrong URL, a missing variable or a missing From stops start-up with the fix named.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smartsupport.errors import ConfigurationError
from smartsupport.settings import Settings
from smartsupport.workspaces import WorkspaceConfig

IMAP_SCHEMES = {"imap": (143, False), "imaps": (993, True)}
SMTP_SCHEMES = {"smtp": (25, "plain"), "smtp+starttls": (587, "starttls"), "smtps": (465, "tls")}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed mail-server URL. ``repr`` hides the password."""

    scheme: str
    host: str
    port: int
    username: str
    password: SecretStr
    path: str  # the IMAP mailbox; empty for SMTP

    def __repr__(self) -> str:
        return f"Endpoint({self.scheme}://{self.username}@{self.host}:{self.port}/{self.path})"


@dataclass(frozen=True, slots=True)
class EmailAccount:
    workspace_id: str
    imap: Endpoint
    smtp: Endpoint
    from_header: str  # as written: "Name <address>"
    address: str  # the From address alone, lower-cased
    poll_seconds: float

    @property
    def key(self) -> str:
        """Names this mailbox in the database (its state) and in locks."""
        return f"{self.imap.username}@{self.imap.host}:{self.imap.port}/{self.imap.path}"

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1]


class WorkspaceEmail(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    imap_url_env: str
    smtp_url_env: str
    from_: str = Field(alias="from")
    poll_seconds: float | None = Field(default=None, gt=0, le=3600)


def parse_endpoint(url: str, schemes: dict[str, tuple[int, object]], what: str) -> Endpoint:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        known = ", ".join(f"{s}://" for s in schemes)
        raise ConfigurationError(
            f"{what}: {parts.scheme or '(no scheme)'}://... is not a mail server URL; use {known}"
            " e.g. imaps://user:password@mail.example.com:993/INBOX"
        )
    try:
        port = parts.port or int(schemes[parts.scheme][0])  # type: ignore[call-overload]
    except ValueError as exc:
        raise ConfigurationError(f"{what}: the port is not a number") from exc
    return Endpoint(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or ""),
        password=SecretStr(unquote(parts.password or "")),
        path=unquote(parts.path.lstrip("/")) or ("INBOX" if "imap" in parts.scheme else ""),
    )


def _account(
    workspace_id: str, imap_url: str, smtp_url: str, from_header: str, poll: float, where: str
) -> EmailAccount:
    address = parseaddr(from_header)[1].lower()
    if "@" not in address:
        raise ConfigurationError(
            f"{where}: the email channel needs a From address, e.g. "
            '"Acme Support <support@acme.example>"'
        )
    return EmailAccount(
        workspace_id=workspace_id,
        imap=parse_endpoint(imap_url, IMAP_SCHEMES, f"{where} IMAP URL"),  # type: ignore[arg-type]
        smtp=parse_endpoint(smtp_url, SMTP_SCHEMES, f"{where} SMTP URL"),  # type: ignore[arg-type]
        from_header=from_header,
        address=address,
        poll_seconds=poll,
    )


def _global_workspace(settings: Settings, workspace_ids: list[str]) -> str:
    if settings.email_workspace:
        if settings.email_workspace not in workspace_ids:
            raise ConfigurationError(
                f"SMARTSUPPORT_EMAIL_WORKSPACE: no workspace {settings.email_workspace!r}; "
                f"loaded: {', '.join(workspace_ids)}"
            )
        return settings.email_workspace
    if len(workspace_ids) == 1:
        return workspace_ids[0]
    raise ConfigurationError(
        "SMARTSUPPORT_EMAIL_WORKSPACE: set it to the workspace the mailbox feeds "
        f"(loaded: {', '.join(workspace_ids) or 'none'})"
    )


def workspace_account(settings: Settings, workspace: WorkspaceConfig) -> EmailAccount | None:
    """The workspace's own mailbox (``email:`` in workspace.yaml), or None."""
    section = workspace.section("email")
    if not section:
        return None
    where = f"workspace {workspace.id} email"
    try:
        config = workspace.parsed("email", WorkspaceEmail.model_validate)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc
    urls = []
    for env in (config.imap_url_env, config.smtp_url_env):
        value = os.environ.get(env)
        if not value:
            raise ConfigurationError(f"{where}: set the environment variable {env}")
        urls.append(value)
    poll = config.poll_seconds or settings.email_poll_seconds
    return _account(workspace.id, urls[0], urls[1], config.from_, poll, where)


def email_accounts(settings: Settings, workspaces: Iterable[WorkspaceConfig]) -> list[EmailAccount]:
    """Every mailbox to read; raises ConfigurationError naming the fix."""
    workspaces = list(workspaces)
    accounts = [a for w in workspaces if (a := workspace_account(settings, w)) is not None]
    imap, smtp = settings.email_imap_url, settings.email_smtp_url
    if imap is None and smtp is None:
        return accounts
    if imap is None or smtp is None:
        missing = "SMARTSUPPORT_EMAIL_SMTP_URL" if smtp is None else "SMARTSUPPORT_EMAIL_IMAP_URL"
        raise ConfigurationError(f"the email channel needs both mail servers: set {missing}")
    workspace_id = _global_workspace(settings, [w.id for w in workspaces])
    if any(a.workspace_id == workspace_id for a in accounts):
        raise ConfigurationError(
            f"workspace {workspace_id} has its own email section and is also "
            "SMARTSUPPORT_EMAIL_WORKSPACE: keep one"
        )
    accounts.append(
        _account(
            workspace_id,
            imap.get_secret_value(),
            smtp.get_secret_value(),
            settings.email_from,
            settings.email_poll_seconds,
            "SMARTSUPPORT_EMAIL_FROM /",
        )
    )
    keys = [a.key for a in accounts]
    if len(set(keys)) != len(keys):
        raise ConfigurationError("two workspaces read the same mailbox: give each its own")
    return accounts


def account_for(
    settings: Settings, workspaces: Iterable[WorkspaceConfig], workspace_id: str
) -> EmailAccount:
    """The mailbox that sends this workspace's replies."""
    for account in email_accounts(settings, workspaces):
        if account.workspace_id == workspace_id:
            return account
    raise ConfigurationError(f"workspace {workspace_id} has no email channel configured")
