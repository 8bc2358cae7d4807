"""The email channel against real mail servers: Debian's dovecot (IMAP, IDLE) and exim4
(SMTP), started by tests/mailservers.py as throwaway instances on free ports. A customer's
mail is submitted over SMTP, exim files it in the support mailbox, the poller reads it over
IMAP, the conversation path answers, the outbox sends the reply over SMTP and the test reads
it from the customer's mailbox over IMAP, as a mail client would."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import SecretStr

from smartsupport import attachment_records, outbox
from smartsupport.channels import email_state
from smartsupport.channels.email_config import email_accounts
from smartsupport.channels.email_poller import MailboxPoller
from smartsupport.domain import Author, utcnow
from smartsupport.fanout import conversation_lock
from smartsupport.inbox.changes import post
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.wiring import assemble
from smartsupport.worker import Worker
from tests.mailservers import (
    MailServers,
    customer_mail,
    fetch_mailbox,
    free_port,
    mail_count,
    mailservers,  # noqa: F401 - the fixture
    send,
    wait_for_mail,
)


@pytest.fixture
def servers(mailservers: MailServers) -> MailServers:  # noqa: F811
    mailservers.clear()
    return mailservers


async def open_services(servers: MailServers, tmp_path, database_url: str, **extra) -> Services:
    values = {
        "data_dir": tmp_path,
        "secret_key": "k" * 32,
        "database_url": database_url,
        "email_imap_url": servers.imap_url("support"),
        "email_smtp_url": servers.smtp_url("support"),
        "email_from": "Demo Support <support@example.test>",
        "email_poll_seconds": 0.2,
        "outbox_poll_seconds": 0.05,
        **extra,
    }
    return await assemble(Settings(**values))


def poller(services: Services, **kwargs) -> MailboxPoller:
    (account,) = email_accounts(services.settings, services.workspaces.values())
    return MailboxPoller(services, account, **kwargs)


async def deliver_due(services: Services) -> None:
    while await outbox.run_due(services) >= outbox.BATCH:
        pass


async def customer_messages(services: Services, conversation_id: str) -> list[str]:
    stored = await services.store.list_messages(conversation_id)
    return [m.text for m in stored if m.author is Author.CUSTOMER]


async def test_a_mail_is_answered_by_a_threaded_reply_readable_in_a_mail_client(
    servers, tmp_path, database_url
):
    services = await open_services(servers, tmp_path, database_url)
    try:
        question = customer_mail("Opening hours", "Hello, how can I reach a person?")
        await send(servers, question)
        await wait_for_mail(servers, "support", 1)
        (received,) = await poller(services).poll_once()
        assert received.ignored is None and received.result is not None
        assert received.result.replies, "the assistant answered"
        await deliver_due(services)
        await wait_for_mail(servers, "customer", 1)

        (reply,) = await fetch_mailbox(servers, "customer")
        assert reply["In-Reply-To"] == question["Message-ID"]
        assert question["Message-ID"] in reply["References"]
        assert reply["Subject"] == "Re: Opening hours"
        assert reply["From"] == "Demo Support <support@example.test>"
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply.get_content_type() == "multipart/alternative"
        plain = reply.get_body(("plain",)).get_content()
        html = reply.get_body(("html",)).get_content()
        assert received.result.replies[0].text.split("\n")[0] in plain
        assert html.startswith("<!DOCTYPE html>") and "<p>" in html

        conversation = await services.store.get_conversation(received.conversation_id)
        assert conversation.channel == "email"
        customer = await services.store.get_customer(conversation.customer_id)
        assert customer.email == "customer@example.test"
        db = services.store
        assert await email_state.seen(db, "demo", reply["Message-ID"]) == conversation.id
    finally:
        await services.close()


async def test_a_restart_of_the_poller_neither_loses_nor_repeats_a_mail(
    servers, tmp_path, database_url
):
    services = await open_services(servers, tmp_path, database_url)
    try:
        first = [customer_mail(f"Question {i}", f"Do you ship to Norway? ({i})") for i in range(2)]
        for mail in first:
            await send(servers, mail)
        await wait_for_mail(servers, "support", 2)
        assert len(await poller(services).poll_once()) == 2
    finally:
        await services.close()

    await send(servers, customer_mail("Question 2", "Do you ship to Norway? (2)"))
    await wait_for_mail(servers, "support", 3)
    services = await open_services(servers, tmp_path, database_url)  # a restarted process
    try:
        again = poller(services)
        assert [r.message_id for r in await again.poll_once()] == [
            r.message_id for r in again.received
        ]
        assert len(again.received) == 1, "only the mail that came during the restart"
        assert await again.poll_once() == []

        # A crash after answering a mail but before its position was saved hands it again;
        # a rebuilt mailbox (new UIDVALIDITY) hands every mail again. Neither answers twice.
        await email_state.save_position(services.store, again.account.key, "demo", 1, 0)
        repeated = await again.poll_once()
        assert len(repeated) == 3
        assert all(r.result is not None and r.result.duplicate for r in repeated)
        conversations = await services.store.list_conversations("demo")
        assert len(conversations) == 3
        for conversation in conversations:
            assert len(await customer_messages(services, conversation.id)) == 1
        entries = await outbox.list_entries(services.store)
        assert len([e for e in entries if e.kind == "email.send"]) == 3
    finally:
        await services.close()


async def test_auto_replies_bulk_mail_bounces_and_our_own_mails_are_never_answered(
    servers, tmp_path, sqlite_url
):
    services = await open_services(servers, tmp_path, sqlite_url)
    try:
        machines = [
            customer_mail("Out of office", "I am away", headers={"Auto-Submitted": "auto-replied"}),
            customer_mail("Newsletter", "Deals!", headers={"Precedence": "bulk"}),
            customer_mail("Delivery failed", "Undeliverable", sender="mailer-daemon"),
            customer_mail("Our own", "Looping?", sender="support"),
        ]
        for mail in machines:
            await send(servers, mail)
        await wait_for_mail(servers, "support", len(machines))
        received = await poller(services).poll_once()
        assert [r.ignored for r in received] == [
            "auto-submitted: auto-replied",
            "precedence: bulk",
            "mail system sender",
            "our own mail",
        ]
        assert await services.store.list_conversations("demo") == []
        assert len(await services.store.list_events("demo", type="email.ignored")) == 4
        await deliver_due(services)
        await asyncio.sleep(0.3)
        assert mail_count(servers, "customer") == 0
    finally:
        await services.close()


async def test_a_follow_up_joins_its_thread_with_the_quoted_reply_stripped(
    servers, tmp_path, sqlite_url
):
    services = await open_services(servers, tmp_path, sqlite_url)
    try:
        first = customer_mail("My order", "Can I change my delivery address?")
        await send(servers, first)
        await wait_for_mail(servers, "support", 1)
        (opened,) = await poller(services).poll_once()
        await deliver_due(services)
        await wait_for_mail(servers, "customer", 1)
        (reply,) = await fetch_mailbox(servers, "customer")

        quoted = "\n".join(
            f"> {line}" for line in reply.get_body(("plain",)).get_content().split("\n")
        )
        follow_up = customer_mail(
            "Re: My order",
            f"Thanks, and what about returns?\n\n-- \nAna\n+1 555 0100\n\n"
            f"On Mon, 1 Dec 2026 at 10:00, Demo Support <support@example.test> wrote:\n{quoted}\n",
            headers={
                "In-Reply-To": reply["Message-ID"],
                "References": f"{first['Message-ID']} {reply['Message-ID']}",
            },
        )
        await send(servers, follow_up)
        await wait_for_mail(servers, "support", 2)
        (joined,) = await poller(services).poll_once()
        assert joined.conversation_id == opened.conversation_id
        assert await customer_messages(services, opened.conversation_id) == [
            "Can I change my delivery address?",
            "Thanks, and what about returns?",
        ]
        await deliver_due(services)
        await wait_for_mail(servers, "customer", 2)
        second = (await fetch_mailbox(servers, "customer"))[1]
        assert second["In-Reply-To"] == follow_up["Message-ID"]
        assert second["References"].split() == [
            first["Message-ID"],
            reply["Message-ID"],
            follow_up["Message-ID"],
        ]
    finally:
        await services.close()


async def test_attachments_are_kept_on_disk_and_an_oversized_one_is_refused(
    servers, tmp_path, sqlite_url
):
    folder = tmp_path / "files"
    services = await open_services(
        servers, tmp_path, sqlite_url, email_attachments_dir=folder, email_max_attachment_bytes=4096
    )
    try:
        mail = customer_mail("Damaged item", "The box arrived broken, photo attached.")
        receipt = b"%PDF-1.4 receipt " + bytes(range(256))
        mail.add_attachment(receipt, maintype="application", subtype="pdf", filename="receipt.pdf")
        mail.add_attachment(b"x" * 5000, maintype="image", subtype="jpeg", filename="huge.jpg")
        await send(servers, mail)
        await wait_for_mail(servers, "support", 1)
        (received,) = await poller(services).poll_once()
        (stored,) = [
            m
            for m in await services.store.list_messages(received.conversation_id)
            if m.author is Author.CUSTOMER
        ]
        kept, refused = stored.meta["attachments"]
        assert kept["filename"] == "receipt.pdf" and kept["stored"] is True
        assert kept["content_type"] == "application/pdf" and kept["size"] == len(receipt)
        path = folder / "demo" / kept["sha256"][:2] / f"{kept['sha256']}.pdf"
        assert path.is_file()  # in the attachment store (sealed when encryption is on)
        found = await attachment_records.find(services, kept["id"])
        assert found is not None and found.message_id == stored.id
        assert await attachment_records.read(services, found) == receipt
        assert refused["filename"] == "huge.jpg" and refused["stored"] is False
        assert "4096" in refused["refused"]
        assert len(list(folder.rglob("*.*"))) == 1
    finally:
        await services.close()


async def test_the_demo_order_tracking_flow_runs_end_to_end_over_email(
    servers, tmp_path, database_url
):
    services = await open_services(servers, tmp_path, database_url)
    try:
        first = customer_mail("Where is my parcel?", "I want to track ORD-10234")
        await send(servers, first)
        await wait_for_mail(servers, "support", 1)
        await poller(services).poll_once()
        await deliver_due(services)
        await wait_for_mail(servers, "customer", 1)
        (ask,) = await fetch_mailbox(servers, "customer")
        assert "email address" in ask.get_body(("plain",)).get_content()

        answer = customer_mail(
            "Re: Where is my parcel?",
            "maria@example.com\n\nOn Tue, Demo Support wrote:\n> what's the email address",
            headers={
                "In-Reply-To": ask["Message-ID"],
                "References": f"{first['Message-ID']} {ask['Message-ID']}",
            },
        )
        await send(servers, answer)
        await wait_for_mail(servers, "support", 2)
        await poller(services).poll_once()
        await deliver_due(services)
        await wait_for_mail(servers, "customer", 2)
        tracked = (await fetch_mailbox(servers, "customer"))[1]
        text = tracked.get_body(("plain",)).get_content()
        assert "ORD-10234 has shipped with UPS" in text, text
        assert "1Z999AA10123456784" in tracked.get_body(("html",)).get_content()
        assert tracked["In-Reply-To"] == answer["Message-ID"]
    finally:
        await services.close()


async def test_an_smtp_outage_delays_the_reply_and_loses_nothing(servers, tmp_path, database_url):
    closed = f"smtp://support:secret@127.0.0.1:{free_port()}"  # nothing listens there
    services = await open_services(servers, tmp_path, database_url, email_smtp_url=closed)
    try:
        await send(servers, customer_mail("Refund", "When will I get my refund?"))
        await wait_for_mail(servers, "support", 1)
        await poller(services).poll_once()
        now = utcnow()
        for minute in range(30):  # half an hour of outage, retried with backoff
            await outbox.run_due(services, now=now + timedelta(minutes=minute))
        (entry,) = await outbox.list_entries(services.store)
        assert entry.status == "pending" and entry.attempts > 3
        assert "unreachable" in entry.last_error
        assert mail_count(servers, "customer") == 0

        services.settings.email_smtp_url = SecretStr(servers.smtp_url("support"))  # restored
        await outbox.run_due(services, now=now + timedelta(hours=2))
        await wait_for_mail(servers, "customer", 1)
        (entry,) = await outbox.list_entries(services.store)
        assert entry.status == "done"
        await outbox.run_due(services, now=now + timedelta(hours=3))
        await asyncio.sleep(0.3)
        assert mail_count(servers, "customer") == 1, "sent once"
    finally:
        await services.close()


@pytest.mark.parametrize("use_idle", [True, False], ids=["idle", "polling"])
async def test_the_background_job_answers_new_mail_by_itself(
    servers, tmp_path, sqlite_url, use_idle
):
    # With IDLE the poll interval is far longer than the wait below: only the server's push
    # can explain a reply in time. Without IDLE the same job polls every second.
    poll = 120.0 if use_idle else 1.0
    services = await open_services(servers, tmp_path, sqlite_url, email_poll_seconds=poll)
    worker = Worker(services)
    worker.start()
    try:
        (mailbox,) = worker.mailboxes
        if not use_idle:  # a server without IDLE
            await mailbox.stop()
            worker.mailboxes = [poller(services, use_idle=False).start()]
        await asyncio.sleep(1.0)  # connected, first catch-up done, waiting
        await send(servers, customer_mail("Hours", "When are you open?"))
        await wait_for_mail(servers, "customer", 1)
        (reply,) = await fetch_mailbox(servers, "customer")
        assert reply["Subject"] == "Re: Hours"
    finally:
        await worker.stop()
        await services.close()


async def test_a_reader_whose_imap_wait_swallows_the_stop_still_stops(
    servers, tmp_path, sqlite_url
):
    # Python 3.11's asyncio.wait_for, which aioimaplib's IDLE awaits every poll, returns its
    # result instead of raising when the cancel arrives as the result does: a server's
    # shutdown once hung for ever on a reader that went on reading (stopping.py).
    services = await open_services(servers, tmp_path, sqlite_url)
    mailbox = poller(services, use_idle=False)
    reading = asyncio.Event()
    catch_up = mailbox.catch_up

    async def swallowing(client, uidvalidity):
        reading.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            pass  # what wait_for does when its inner result is ready at the cancel
        return await catch_up(client, uidvalidity)

    mailbox.catch_up = swallowing  # type: ignore[method-assign]
    mailbox.start()
    try:
        await asyncio.wait_for(reading.wait(), 10)
        await asyncio.wait_for(mailbox.stop(), 5)  # well before stopping's second cancel
        assert mailbox._task is not None and mailbox._task.done()
    finally:
        await services.close()


async def test_an_agents_reply_goes_out_by_mail_through_the_outbox(servers, tmp_path, sqlite_url):
    services = await open_services(servers, tmp_path, sqlite_url)
    try:
        question = customer_mail("Broken zip", "The zip on my jacket broke, what now?")
        await send(servers, question)
        await wait_for_mail(servers, "support", 1)
        (received,) = await poller(services).poll_once()
        async with conversation_lock(services, received.conversation_id):
            await post(
                services,
                received.conversation_id,
                Author.AGENT,
                "Hi, Sam here. Please send us a photo and we will replace it.",
                meta={"agent_name": "Sam"},
            )
        await deliver_due(services)
        await wait_for_mail(servers, "customer", 2)
        agent_mail = (await fetch_mailbox(servers, "customer"))[1]
        assert "Sam here" in agent_mail.get_body(("plain",)).get_content()
        assert agent_mail["Auto-Submitted"] is None, "a person's reply is not automatic"
        assert agent_mail["In-Reply-To"] == question["Message-ID"]
    finally:
        await services.close()


@pytest.mark.parametrize("smtp_tls", ["starttls", "tls"])
async def test_tls_mail_servers_imaps_with_starttls_or_smtps(
    servers, tmp_path, sqlite_url, monkeypatch, smtp_tls
):
    # The servers present a self-signed certificate for 127.0.0.1; trusting it the way an
    # operator trusts a private CA (OpenSSL's SSL_CERT_FILE) keeps certificate checks on.
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.ca_file))
    services = await open_services(
        servers,
        tmp_path,
        sqlite_url,
        email_imap_url=servers.imap_url("support", tls=True),
        email_smtp_url=servers.smtp_url("support", tls=smtp_tls),
    )
    try:
        await send(servers, customer_mail("Secure", "Do you ship to Norway?"))
        await wait_for_mail(servers, "support", 1)
        (received,) = await poller(services).poll_once()
        assert received.result is not None
        await deliver_due(services)
        await wait_for_mail(servers, "customer", 1)
        (entry,) = await outbox.list_entries(services.store)
        assert entry.status == "done"
        log = (servers.root / "exim.err").read_text()
        assert " X=TLS" in log, "exim logged the reply's TLS session"
    finally:
        await services.close()
