"""Reading a mailbox over IMAP: the email channel's background job (started by worker.py).

    MailboxPoller(services, account).start()
      connect       IMAP or IMAPS, log in, SELECT the mailbox: its UIDVALIDITY
      catch_up      every mail with a UID above the last one handled, oldest first, each
                    through email_inbound.receive_mail under the mailbox's lock; the position
                    (UIDVALIDITY, UID) is saved after each mail, so a restart resumes right
                    after the last one handled (a crash inside one mail hands it again, and
                    its Message-ID keeps it from being answered twice)
      wait          IDLE where the server offers it (new mail is seen at once; the IDLE is
                    renewed every poll interval), else sleep the poll interval
      on failure    log, back off (1 s doubling to 60 s), connect again: mail waits on the
                    server meanwhile, nothing is lost

Several processes may poll the same mailbox: the per-mail lock and the saved position make
each mail handled once. A mail the conversation path refuses (``RequestError``) is logged as
an ``email.rejected`` event and passed, so one bad mail cannot stop the mailbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from typing import Any

import aioimaplib

from smartsupport import remote, stopping
from smartsupport.channels import email_state
from smartsupport.channels.email_config import EmailAccount
from smartsupport.channels.email_inbound import Received, receive_mail
from smartsupport.errors import BackendError, RequestError
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

log = logging.getLogger(__name__)
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
IMAP_TIMEOUT = 30.0  # seconds for one IMAP command


class MailError(BackendError):
    """The IMAP server refused or failed a command."""


class MailboxPoller:
    def __init__(self, services: Services, account: EmailAccount, *, use_idle: bool = True) -> None:
        self.services = services
        self.account = account
        self.use_idle = use_idle
        self.received: list[Received] = []  # this process's handled mails, newest last
        self._task: asyncio.Task[None] | None = None

    # -- the background job ----------------------------------------------------------------
    def start(self) -> MailboxPoller:
        self._task = asyncio.create_task(self._run(), name=f"email-poller-{self.account.key}")
        return self

    async def stop(self) -> None:
        if self._task is None:
            return
        await stopping.stop(self._task)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                client = await self.connect()
                failures = 0
                try:
                    await self._serve(client)
                finally:
                    await _logout(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the mailbox job must outlive any failure
                failures += 1
                delay = remote.backoff(failures, base=1.0, cap=60.0)
                log.warning(
                    "mailbox %s: %s: %s; again in %.0f s",
                    self.account.key,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                stopping.stop_if_cancelled()
                await asyncio.sleep(delay)

    async def _serve(self, client: aioimaplib.IMAP4) -> None:
        uidvalidity = await self.select(client)
        idle = self.use_idle and "IDLE" in client.protocol.capabilities
        while True:
            stopping.stop_if_cancelled()  # aioimaplib's waits can swallow a cancel (stopping.py)
            await self.catch_up(client, uidvalidity)
            if idle:
                idling = await client.idle_start(timeout=self.account.poll_seconds)
                await client.wait_server_push(timeout=self.account.poll_seconds + IMAP_TIMEOUT)
                client.idle_done()
                await asyncio.wait_for(idling, IMAP_TIMEOUT)
            else:
                await asyncio.sleep(self.account.poll_seconds)

    async def poll_once(self) -> list[Received]:
        """Connect, handle every new mail, disconnect (tests, benchmarks, a cron job)."""
        client = await self.connect()
        try:
            return await self.catch_up(client, await self.select(client))
        finally:
            await _logout(client)

    # -- IMAP ------------------------------------------------------------------------------
    async def connect(self) -> aioimaplib.IMAP4:
        imap = self.account.imap
        client: aioimaplib.IMAP4
        if imap.scheme == "imaps":
            client = aioimaplib.IMAP4_SSL(
                imap.host, imap.port, timeout=IMAP_TIMEOUT, ssl_context=ssl.create_default_context()
            )
        else:
            client = aioimaplib.IMAP4(imap.host, imap.port, timeout=IMAP_TIMEOUT)
        await client.wait_hello_from_server()
        _ok(await client.login(imap.username, imap.password.get_secret_value()), "LOGIN")
        return client

    async def select(self, client: aioimaplib.IMAP4) -> int:
        response = _ok(await client.select(self.account.imap.path), "SELECT")
        for line in response.lines:
            match = _UIDVALIDITY.search(bytes(line))
            if match:
                return int(match.group(1))
        raise MailError(f"mailbox {self.account.key}: the server sent no UIDVALIDITY")

    async def catch_up(self, client: aioimaplib.IMAP4, uidvalidity: int) -> list[Received]:
        db: SqlExecutor = self.services.store  # type: ignore[assignment]  # every store is SQL
        last = await self._last_uid(db, uidvalidity)
        response = _ok(await client.uid_search(f"UID {last + 1}:*", charset=None), "UID SEARCH")
        words = b" ".join(bytes(x) for x in response.lines[:1]).split()
        uids = sorted(int(w) for w in words if w.isdigit() and int(w) > last)
        handled = []
        for uid in uids:
            key = f"email:mailbox:{self.account.key}"
            async with self.services.backplane.lock(key, timeout=120.0, lease=120.0):
                if uid <= await self._last_uid(db, uidvalidity):
                    continue  # another process handled it meanwhile
                received = await self._handle(client, uid)
                await email_state.save_position(
                    db, self.account.key, self.account.workspace_id, uidvalidity, uid
                )
            if received is not None:
                handled.append(received)
                self.received.append(received)
                del self.received[:-1000]
        return handled

    async def _last_uid(self, db: SqlExecutor, uidvalidity: int) -> int:
        position = await email_state.read_position(db, self.account.key)
        if position is None or position[0] != uidvalidity:
            return 0  # new mailbox, or rebuilt: read it all; Message-IDs prevent repeats
        return position[1]

    async def _handle(self, client: aioimaplib.IMAP4, uid: int) -> Received | None:
        response = _ok(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), "UID FETCH")
        raw = next((bytes(x) for x in response.lines if isinstance(x, bytearray)), None)
        if raw is None:
            return None  # expunged between SEARCH and FETCH
        try:
            return await receive_mail(self.services, self.account, raw)
        except RequestError as exc:
            await self.services.store.add_event(
                self.account.workspace_id, "email.rejected", {"uid": uid, "error": str(exc)}
            )
            log.warning("mailbox %s: mail UID %d rejected: %s", self.account.key, uid, exc)
            return None


def _ok(response: Any, command: str) -> Any:
    if response.result != "OK":
        text = b" ".join(bytes(x) for x in response.lines if isinstance(x, bytes | bytearray))
        raise MailError(f"IMAP {command} failed: {text.decode(errors='replace')[:300]}")
    return response


async def _logout(client: aioimaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        if client.has_pending_idle():
            client.idle_done()
        await asyncio.wait_for(client.logout(), 5)
    # A cancelled IDLE or a dead server leaves the socket open: close it in every case.
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()
