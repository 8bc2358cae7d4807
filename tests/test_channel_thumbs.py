"""Thumbs on the assistant's answers outside the widget (docs/channels.md "Thumbs on answers"):
links under an answer mail, read by a mail client from real mail servers (dovecot, exim4) and
opened over HTTP; reply buttons on WhatsApp against the local server replaying Meta's
formats. Both record through the widget's code path (``answer_feedback``, with the channel)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartsupport.channels import contacts, thumbs
from smartsupport.domain import Author
from smartsupport.errors import ConfigurationError
from smartsupport.feedback import ratings_of
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.visitor_tokens import issue_token
from smartsupport.workspaces import DEMO_DIR, WorkspaceConfig
from tests.appkit import served
from tests.mailservers import (
    MailServers,
    customer_mail,
    fetch_mailbox,
    mailservers,  # noqa: F401 - the fixture
    send,
    wait_for_mail,
)
from tests.messaging_fakes import wa_message, wa_text, whatsapp_webhook
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401

PUBLIC = "https://support.example.com"
KEY = b"k" * 32
QUESTION = "Wie lange dauert der Versand nach Deutschland?"  # answered from the articles


@pytest.fixture
def servers(mailservers: MailServers) -> MailServers:  # noqa: F811
    mailservers.clear()
    return mailservers


# -- the signed link ---------------------------------------------------------------------------
def test_a_link_names_one_answer_until_it_expires_and_cannot_be_altered():
    signed = thumbs.Link("c" * 32, "m" * 32, int(time.time()) + 60, "de")
    token = thumbs.sign_link(KEY, signed)
    assert thumbs.read_link(KEY, token) == (signed, "")
    other = token.replace("m" * 32, "n" * 32)  # another answer, same signature
    assert thumbs.read_link(KEY, other) == (None, "forged")
    assert thumbs.read_link(b"x" * 32, token) == (None, "forged")
    assert thumbs.read_link(KEY, token, now=time.time() + 61) == (None, "expired")
    assert thumbs.language_of(token) == "de"
    # A visitor token signed with the same key is no link (the signatures are kept apart).
    visitor = issue_token(KEY, "c" * 32)
    assert thumbs.read_link(KEY, visitor + ".de")[0] is None


def test_a_wrong_setting_names_the_section():
    workspace = WorkspaceConfig(id="acme", name="Acme", answer_feedback={"link_days": 0})
    with pytest.raises(ConfigurationError, match="answer_feedback: link_days"):
        thumbs.settings(workspace)
    stray = WorkspaceConfig(id="acme", name="Acme", answer_feedback=False)
    with pytest.raises(ConfigurationError, match="answer_feedback: write a mapping"):
        thumbs.settings(stray)
    defaults = thumbs.settings(WorkspaceConfig(id="acme", name="Acme"))
    assert (defaults.email, defaults.whatsapp, defaults.link_days) == (True, False, 30)


async def test_a_wrong_setting_stops_start_up(tmp_path):
    with pytest.raises(ConfigurationError, match="answer_feedback: link_days"):
        async with running(tmp_path, workspace={"answer_feedback": {"link_days": 0}}):
            pass


# -- email -------------------------------------------------------------------------------------
def demo_copy(root: Path, **answer_feedback: Any) -> Path:
    directory = root / "workspaces" / "demo"
    shutil.copytree(DEMO_DIR, directory)
    config = yaml.safe_load((directory / "workspace.yaml").read_text(encoding="utf-8"))
    config["answer_feedback"] = answer_feedback
    (directory / "workspace.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    return root / "workspaces"


def mail_settings(servers: MailServers, tmp_path: Path, database_url: str, **extra: Any):
    return Settings(
        data_dir=tmp_path,
        secret_key="k" * 32,
        database_url=database_url,
        email_imap_url=servers.imap_url("support"),
        email_smtp_url=servers.smtp_url("support"),
        email_from="Demo Support <support@example.test>",
        email_poll_seconds=0.2,
        outbox_poll_seconds=0.05,
        public_url=PUBLIC,
        **extra,
    )


async def answer_by_mail(services: Services, servers: MailServers, text: str) -> tuple[str, Any]:
    """The customer's question mailed, then read, answered and sent by the app's own worker
    (as deployed): (conversation id, the reply as the customer's mail client reads it)."""
    servers.clear()
    await send(servers, customer_mail("Versand", text))
    await wait_for_mail(servers, "customer", 1)
    (reply,) = await fetch_mailbox(servers, "customer")
    (conversation,) = await services.store.list_conversations("demo")
    return conversation.id, reply


def link(plain: str, label: str) -> str:
    found = re.search(rf"^{label}: (\S+?)\r?$", plain, re.M)
    assert found, f"no {label!r} link in {plain!r}"
    return found.group(1)


def local(url: str) -> str:
    assert url.startswith(PUBLIC + "/api/v1/feedback/"), url
    return url.removeprefix(PUBLIC)


async def test_an_answer_mail_carries_links_that_record_the_thumb_once_in_the_language(
    servers, tmp_path, database_url
):
    async with served(mail_settings(servers, tmp_path, database_url)) as (app, http):
        services: Services = app.state.services
        conversation_id, reply = await answer_by_mail(services, servers, QUESTION)
        plain = reply.get_body(("plain",)).get_content()
        page = reply.get_body(("html",)).get_content()
        assert "War diese Antwort hilfreich?" in plain
        yes, no = link(plain, "Ja"), link(plain, "Nein")
        assert f'href="{yes}"' in page and f'href="{no}"' in page
        (answer,) = [
            m
            for m in await services.store.list_messages(conversation_id)
            if m.meta.get("citations")
        ]

        thanks = await http.get(local(yes))
        assert thanks.status_code == 200
        assert "Vielen Dank für Ihre Rückmeldung." in thanks.text and 'lang="de"' in thanks.text
        assert thanks.headers["referrer-policy"] == "no-referrer"
        assert thanks.headers["cache-control"] == "no-store"
        again = await http.get(local(yes))  # a second click, a mail client's prefetch
        assert again.status_code == 200
        (rating,) = await ratings_of(services, conversation_id)
        assert (rating.message_id, rating.rating, rating.source, rating.channel) == (
            answer.id, 1, "customer", "email",
        )  # fmt: skip
        first = rating.id
        assert (await ratings_of(services, conversation_id))[0].id == first, "not written again"

        changed = await http.get(local(no))
        assert changed.status_code == 200
        (rating,) = await ratings_of(services, conversation_id)
        assert rating.rating == -1 and rating.channel == "email"


async def test_a_forged_altered_or_expired_link_records_nothing(servers, tmp_path, sqlite_url):
    async with served(mail_settings(servers, tmp_path, sqlite_url)) as (app, http):
        services: Services = app.state.services
        conversation_id, reply = await answer_by_mail(services, servers, QUESTION)
        yes = local(link(reply.get_body(("plain",)).get_content(), "Ja"))
        token = yes.split("/")[-2]
        conversation, message, expires, language, _ = token.split(".")

        # Another message: the signature covers the message, so it does not verify.
        stored = await services.store.list_messages(conversation_id)
        question = next(m for m in stored if m.author is Author.CUSTOMER)
        refused = await http.get(yes.replace(message, question.id))
        assert refused.status_code == 403
        assert "Dieser Link ist nicht mehr gültig." in refused.text

        past = thumbs.Link(conversation, message, int(time.time()) - 1, language)
        expired = await http.get(f"/api/v1/feedback/{thumbs.sign_link(KEY, past)}/up")
        assert expired.status_code == 410
        # Signed, but naming the customer's own message: only the assistant's are rated.
        own = thumbs.Link(conversation, question.id, int(time.time()) + 60, language)
        not_an_answer = await http.get(f"/api/v1/feedback/{thumbs.sign_link(KEY, own)}/down")
        assert not_an_answer.status_code == 410
        assert await ratings_of(services, conversation_id) == []


async def test_a_workspace_that_turns_the_links_off_sends_the_answer_alone(
    servers, tmp_path, sqlite_url
):
    workspaces = demo_copy(tmp_path, email=False)
    settings = mail_settings(servers, tmp_path, sqlite_url, demo=False, workspaces_dir=workspaces)
    async with served(settings) as (app, _):
        _, reply = await answer_by_mail(app.state.services, servers, QUESTION)
        plain = reply.get_body(("plain",)).get_content()
        assert "Werktage" in plain and "hilfreich" not in plain and "/feedback/" not in plain


# -- WhatsApp ----------------------------------------------------------------------------------
WA_ID = "16505551234"


async def conversation_of(run, wa_id: str = WA_ID) -> str:
    contact = await contacts.find(run.services.store, "demo", "whatsapp", wa_id)
    assert contact is not None
    return contact.conversation_id


def press(button: dict[str, Any], wa_id: str = WA_ID) -> bytes:
    reply = {"type": "button_reply", "button_reply": button}
    return whatsapp_webhook([wa_message("interactive", reply, wa_id=wa_id)], wa_id=wa_id)


def interactive(run, wa_id: str = WA_ID) -> list[dict[str, Any]]:
    return [m["interactive"] for m in run.fake.texts_to(wa_id) if m["type"] == "interactive"]


async def test_whatsapp_buttons_rate_an_answer_and_are_no_customer_turn(tmp_path, database_url):
    workspace = {"answer_feedback": {"whatsapp": True}}
    async with running(tmp_path, database_url, workspace) as run:
        await run.whatsapp(whatsapp_webhook([wa_text(QUESTION)]))
        await settle(run.services)
        await wait_for(lambda: interactive(run), what="the answer with its buttons")
        assert run.fake.problems == []  # Meta's limits on interactive bodies hold
        (sent,) = interactive(run)
        assert sent["type"] == "button" and "Werktage" in sent["body"]["text"]
        up, down = (b["reply"] for b in sent["action"]["buttons"])
        assert (up["title"], down["title"]) == ("Hilfreich", "Nicht hilfreich")

        conversation_id = await conversation_of(run)
        before = await run.messages(conversation_id)
        answered = len(run.fake.texts_to(WA_ID))
        for _ in range(2):  # Meta delivers a webhook again when it misses our answer
            response = await run.whatsapp(press(down))
            assert response.status_code == 200
            assert response.json() == {"received": 0, "duplicates": 0, "statuses": 0}
        await settle(run.services)
        assert await run.messages(conversation_id) == before, "no turn, nothing stored"
        assert len(run.fake.texts_to(WA_ID)) == answered, "nothing sent back"
        (rating,) = await ratings_of(run.services, conversation_id)
        assert (rating.rating, rating.source, rating.channel) == (-1, "customer", "whatsapp")
        assert rating.message_id == up["id"].split(":")[-1]


async def test_a_press_naming_another_customers_answer_is_dropped(tmp_path, caplog):
    workspace = {"answer_feedback": {"whatsapp": True}}
    async with running(tmp_path, workspace=workspace) as run:
        await run.whatsapp(whatsapp_webhook([wa_text(QUESTION)]))
        await settle(run.services)
        await wait_for(lambda: interactive(run), what="the answer with its buttons")
        up = interactive(run)[0]["action"]["buttons"][0]["reply"]
        other = "16505559999"
        await run.whatsapp(whatsapp_webhook([wa_text("Hallo", wa_id=other)], wa_id=other))
        await settle(run.services)
        response = await run.whatsapp(press(up, wa_id=other))
        assert response.status_code == 200
        assert await ratings_of(run.services, await conversation_of(run)) == []
        assert await ratings_of(run.services, await conversation_of(run, other)) == []
        assert "thumbs press" in caplog.text


async def test_whatsapp_answers_carry_no_buttons_by_default(tmp_path):
    async with running(tmp_path) as run:
        await run.whatsapp(whatsapp_webhook([wa_text(QUESTION)]))
        await settle(run.services)
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the answer")
        assert interactive(run) == []
        assert "Werktage" in run.fake.texts_to(WA_ID)[0]["text"]["body"]


async def test_the_widgets_thumbs_are_recorded_as_the_web_channel(tmp_path):
    async with served(Settings(data_dir=tmp_path, secret_key="k" * 32)) as (app, http):
        started = (await http.post("/api/v1/conversations", json={"workspace": "demo"})).json()
        auth = {"Authorization": f"Bearer {started['token']}"}
        base = f"/api/v1/conversations/{started['id']}/messages"
        turn = await http.post(base, json={"text": QUESTION, "client_id": "q"}, headers=auth)
        (answer,) = [m for m in turn.json()["replies"] if m["citations"]]
        rated = await http.post(f"{base}/{answer['id']}/feedback", json={"rating": 1}, headers=auth)
        assert rated.status_code == 201, rated.text
        (rating,) = await ratings_of(app.state.services, started["id"])
        assert rating.channel == "web"
