"""Reading inbound mail, without servers: what the customer wrote (quoted replies and
signatures cut, HTML turned into text), the thread it belongs to, its attachments, which
mails must never be answered, and the settings that name the mailboxes."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from smartsupport.channels.email import EmailChannel, reply_subject, thread_references
from smartsupport.channels.email_config import email_accounts
from smartsupport.channels.email_parsing import html_to_text, ignore_reason, new_text, parse_mail
from smartsupport.domain import Author, Conversation, Message
from smartsupport.errors import ConfigurationError
from smartsupport.settings import Settings
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

OWN = {"support@acme.example"}


def raw(text: str = "Hello", html: str | None = None, **headers: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = headers.pop("From", "Ana <ana@example.com>")
    mail["To"] = "support@acme.example"
    mail["Subject"] = headers.pop("Subject", "Help")
    mail["Message-ID"] = headers.pop("Message_ID", "<m1@example.com>")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return bytes(mail)


def test_gmail_style_quote_and_signature_are_cut():
    body = (
        "Yes, the blue one please.\n\nThanks!\n-- \nAna Lima\nAcme fan since 2019\n\n"
        "On Tue, 2 Dec 2026 at 09:12, Acme Support <support@acme.example> wrote:\n"
        "> Which colour would you like?\n"
    )
    assert new_text(body) == "Yes, the blue one please.\n\nThanks!"


@pytest.mark.parametrize(
    "quote",
    [
        "-----Original Message-----\nFrom: Acme\nSent: Monday\n",
        "From: Acme Support <support@acme.example>\nSent: Monday, 1 December 2026\n",
        "Am 01.12.2026 um 10:00 schrieb Acme Support <support@acme.example>:\n> Hallo",
        "Le lun. 1 déc. 2026 à 10:00, Acme <support@acme.example> a écrit :\n> Bonjour",
        "El lun, 1 dic 2026 a las 10:00, Acme (<support@acme.example>) escribió:\n> Hola",
    ],
)
def test_quotes_of_common_clients_and_languages_are_cut(quote):
    assert new_text(f"Where is my refund?\n\n{quote}\nold text") == "Where is my refund?"


def test_interleaved_quote_lines_and_phone_footers_are_dropped():
    body = "> did it arrive?\nNo, it did not.\n\nSent from my iPhone"
    assert new_text(body) == "No, it did not."


def test_an_html_only_mail_becomes_readable_text_without_its_quote():
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>My order <b>ORD-10234</b>"
        "<br>never came.</p><div class='gmail_quote'>On Mon wrote: old</div>"
        "<blockquote>older</blockquote></body></html>"
    )
    mail = EmailMessage()
    mail["From"] = "ana@example.com"
    mail["Message-ID"] = "<h@example.com>"
    mail.set_content(html, subtype="html")
    assert parse_mail(bytes(mail)).text == "My order ORD-10234\nnever came."
    assert html_to_text("") == ""


def test_thread_ids_put_the_nearest_mail_first():
    data = raw(In_Reply_To="<c@x>", References="<a@x> <b@x> <c@x>", Subject="Re:  Help  me")
    parsed = parse_mail(data.replace(b"<b@x> <c@x>", b"<b@x>\r\n <c@x>"))  # folded
    assert parsed.thread_ids == ["<c@x>", "<b@x>", "<a@x>"]
    assert parsed.subject == "Re: Help me"
    assert parsed.sender == "ana@example.com" and parsed.sender_name == "Ana"


def test_reply_to_is_where_answers_go_and_a_missing_message_id_is_made_stable():
    mail = EmailMessage()
    mail["From"] = "Ana <ana@example.com>"
    mail["Reply-To"] = "Ana Lima <Ana.Lima@Example.com>"
    mail.set_content("Hi")
    parsed = parse_mail(bytes(mail))
    assert parsed.sender == "ana.lima@example.com"
    assert parsed.message_id == parse_mail(bytes(mail)).message_id
    assert parsed.message_id.endswith("@missing-message-id>")


def test_attachments_are_collected_with_names_and_types():
    mail = EmailMessage()
    mail["From"] = "ana@example.com"
    mail.set_content("See attached")
    mail.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="bill.pdf")
    mail.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="photo.png")
    parsed = parse_mail(bytes(mail))
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("bill.pdf", "application/pdf", b"%PDF-1.4"),
        ("photo.png", "image/png", b"\x89PNG"),
    ]
    assert parsed.text == "See attached"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto-submitted: auto-replied"),
        ({"Auto_Submitted": "auto-generated"}, "auto-submitted: auto-generated"),
        ({"Precedence": "bulk"}, "precedence: bulk"),
        ({"Precedence": "junk"}, "precedence: junk"),
        ({"Precedence": "list"}, "precedence: list"),
        ({"X_Autoreply": "yes"}, "auto-reply header"),
        ({"List_Id": "<deals.shop.example>"}, "mailing list"),
        ({"Return_Path": "<>"}, "bounce (empty return path)"),
        ({"From": "MAILER-DAEMON@mx.example.com"}, "mail system sender"),
        ({"From": "postmaster@mx.example.com"}, "mail system sender"),
        ({"From": "Acme <support@acme.example>"}, "our own mail"),
    ],
)
def test_machines_and_our_own_mails_are_never_answered(headers, reason):
    assert ignore_reason(parse_mail(raw(**headers)), OWN) == reason


def test_a_person_is_answered_even_with_auto_submitted_no():
    assert ignore_reason(parse_mail(raw(Auto_Submitted="no")), OWN) is None


def test_a_delivery_report_is_a_bounce():
    report = raw(From="ana@example.com").replace(
        b"Content-Type: text/plain", b'Content-Type: multipart/report; report-type="x"', 1
    )
    assert ignore_reason(parse_mail(report), OWN) == "delivery report"


def test_one_reply_mail_per_turn_threaded_on_the_customers_last_mail():
    conversation = Conversation(
        id="c1",
        workspace_id="acme",
        customer_id="u1",
        channel="email",
        metadata={
            "email": {
                "address": "ana@example.com",
                "name": "Ana",
                "subject": "Help",
                "domain": "acme.example",
                "last": "<m2@example.com>",
                "thread": ["<m1@example.com>", "<r1@acme.example>", "<m2@example.com>"],
            }
        },
    )
    replies = [
        Message(
            "r2",
            "c1",
            0,
            Author.BOT,
            "Order ORD-1 has shipped.",
            meta={"quick_replies": ["Talk to a person"]},
        ),
        Message("r3", "c1", 0, Author.SYSTEM, "(notice)"),
        Message("r4", "c1", 0, Author.BOT, "Anything else?"),
    ]
    (item,) = EmailChannel().deliveries(conversation, replies)
    payload = item.payload
    assert item.kind == "email.send" and item.idempotency_key == "email.send:r2"
    assert payload["message_ids"] == ["r2", "r4"] and payload["automatic"] is True
    assert payload["message_id"] == "<r2@acme.example>"
    assert payload["in_reply_to"] == "<m2@example.com>"
    assert payload["references"][-1] == "<m2@example.com>"
    assert payload["subject"] == "Re: Help"
    assert "Order ORD-1 has shipped.\n\n  - Talk to a person\n\nAnything else?" in payload["text"]
    assert "<li>Talk to a person</li>" in payload["html"]
    web = Conversation(id="c2", workspace_id="acme", customer_id="u1")
    assert EmailChannel().deliveries(web, replies) == []


def test_subjects_and_long_reference_chains():
    assert reply_subject("Help") == "Re: Help"
    assert reply_subject("RE: Help") == "RE: Help"
    assert reply_subject("") == "Re: Your message"
    chain = [f"<{i}@x>" for i in range(30)]
    kept = thread_references(chain)
    assert len(kept) == 20 and kept[0] == "<0@x>" and kept[-1] == "<29@x>"


def _settings(tmp_path, **values) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k" * 32, **values)


def test_mailbox_urls_are_read_and_wrong_ones_name_the_fix(tmp_path):
    demo = [load_workspace_dir(DEMO_DIR)]
    good = {
        "email_imap_url": "imaps://sup%40acme.example:p%40ss@mail.acme.example/Support",
        "email_smtp_url": "smtp+starttls://sup@mail.acme.example",
        "email_from": "Acme Support <Support@Acme.Example>",
    }
    (account,) = email_accounts(_settings(tmp_path, **good), demo)
    assert account.workspace_id == "demo" and account.address == "support@acme.example"
    assert (account.imap.port, account.imap.path, account.imap.username) == (
        993,
        "Support",
        "sup@acme.example",
    )
    assert account.imap.password.get_secret_value() == "p@ss"
    assert "p@ss" not in repr(account)
    assert account.smtp.port == 587
    assert email_accounts(_settings(tmp_path), demo) == []

    with pytest.raises(ConfigurationError, match="imaps://"):
        email_accounts(_settings(tmp_path, **{**good, "email_imap_url": "pop3://x@y"}), demo)
    with pytest.raises(ConfigurationError, match="SMARTSUPPORT_EMAIL_SMTP_URL"):
        email_accounts(_settings(tmp_path, **{**good, "email_smtp_url": None}), demo)
    with pytest.raises(ConfigurationError, match="From address"):
        email_accounts(_settings(tmp_path, **{**good, "email_from": ""}), demo)
    with pytest.raises(ConfigurationError, match="no workspace 'acme'"):
        email_accounts(_settings(tmp_path, **good, email_workspace="acme"), demo)


def test_a_workspace_names_its_own_mailbox_by_environment_variables(tmp_path, monkeypatch):
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "workspace.yaml").write_text(
        "id: acme\nname: Acme\nemail:\n  imap_url_env: ACME_IMAP\n  smtp_url_env: ACME_SMTP\n"
        '  from: "Acme <help@acme.example>"\n  poll_seconds: 5\n'
    )
    acme = load_workspace_dir(folder)
    settings = _settings(tmp_path)
    with pytest.raises(ConfigurationError, match="set the environment variable ACME_IMAP"):
        email_accounts(settings, [acme])
    monkeypatch.setenv("ACME_IMAP", "imap://help:pw@mail.acme.example/INBOX")
    monkeypatch.setenv("ACME_SMTP", "smtps://help:pw@mail.acme.example")
    (account,) = email_accounts(settings, [acme])
    assert (account.workspace_id, account.poll_seconds, account.domain) == (
        "acme",
        5.0,
        "acme.example",
    )
    assert (account.imap.port, account.smtp.port, account.smtp.scheme) == (143, 465, "smtps")
