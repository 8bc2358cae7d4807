"""Every ingestion format read for real, and the bad inputs each must refuse clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from knowledge_samples import encrypt_pdf, make_pdf, zendesk_export

from smartsupport.knowledge.documents import split_passages
from smartsupport.knowledge.readers import SourceFile, UnreadableFile, read_file


def read(name: str, data: bytes | str, locale: str = "en"):
    raw = data.encode() if isinstance(data, str) else data
    return read_file(SourceFile(Path("/kb") / name, name, locale), raw)


def test_markdown_front_matter_sets_title_url_locale_and_id():
    [doc] = read(
        "returns.md",
        "---\ntitle: Returns\nurl: https://help.example/returns\nlocale: es_MX\nid: ret\n---\n"
        "# Returns\n\nSend items back within **30 days**.\n\n## Refunds\n\nWithin 5 days.\n",
    )
    assert (doc.external_id, doc.title, doc.url, doc.locale) == (
        "ret",
        "Returns",
        "https://help.example/returns",
        "es-mx",
    )
    chunks = split_passages(doc.title, doc.body)
    assert [(c.section, c.text) for c in chunks] == [
        (None, "Send items back within 30 days."),
        ("Refunds", "Within 5 days."),
    ]


def test_markdown_without_front_matter_uses_first_heading_and_path_as_id():
    [doc] = read("faq/shipping-times.md", "# Shipping times\n\nThree to five days.\n")
    assert doc.title == "Shipping times"
    assert doc.external_id == "faq/shipping-times.md"
    assert doc.locale == "en"


def test_html_drops_scripts_styles_and_navigation():
    html = """<!doctype html><html lang="fr"><head><title>Livraison</title>
    <style>body { color: red }</style><script>alert("steal cookies")</script></head>
    <body><nav>Home | Shop</nav><h1>Livraison</h1>
    <p>Nous livrons en <b>4 à 7</b> jours.</p><script>track()</script>
    <h2>Frais</h2><ul><li>Gratuit dès 50 €</li><li>Express : 12 €</li></ul>
    <noscript>enable js</noscript><!-- a comment --></body></html>"""
    [doc] = read("livraison.html", html)
    assert doc.title == "Livraison" and doc.locale == "fr"
    for junk in ("alert", "steal", "color", "track", "Home", "enable js", "comment"):
        assert junk not in doc.body
    chunks = split_passages(doc.title, doc.body)
    assert [(c.section, c.text) for c in chunks] == [
        (None, "Nous livrons en 4 à 7 jours."),
        ("Frais", "- Gratuit dès 50 €\n- Express : 12 €"),
    ]


def test_plain_text_title_and_underlined_headings():
    text = "Gift cards\n\nThey never expire.\n\nBalance\n-------\nSee your account page.\n"
    [doc] = read("gift.txt", text)
    assert doc.title == "Gift cards"
    chunks = split_passages(doc.title, doc.body)
    assert [(c.section, c.text) for c in chunks] == [
        (None, "They never expire."),
        ("Balance", "See your account page."),
    ]


def test_pdf_text_is_extracted():
    data = make_pdf(
        ["Every product has a one-year warranty.", "Trail Runner shoes have two years."],
        title="Warranty policy",
    )
    [doc] = read("warranty.pdf", data)
    assert doc.title == "Warranty policy"
    assert "one-year warranty" in doc.body and "Trail Runner shoes have two years." in doc.body


def test_faq_csv_json_and_jsonl():
    csv_docs = read(
        "faq.csv",
        'Question,Answer,URL\nDo gift cards expire?,"No, never.",https://h.example/gc\n'
        "Can I pay with PayPal?,Yes.,\n",
    )
    assert [(d.title, d.body, d.url) for d in csv_docs] == [
        ("Do gift cards expire?", "No, never.", "https://h.example/gc"),
        ("Can I pay with PayPal?", "Yes.", None),
    ]
    json_docs = read(
        "faq.json",
        json.dumps({"faq": [{"id": 7, "question": "Q1?", "answer": "A1", "locale": "de"}]}),
    )
    assert [(d.external_id, d.locale) for d in json_docs] == [("faq.json#7", "de")]
    jsonl_docs = read("faq.jsonl", '{"q": "Q1?", "a": "A1"}\n\n{"q": "Q1?", "a": "A2"}\n')
    # The same question twice without ids: two answers to one question, merged.
    assert [(d.title, d.body) for d in jsonl_docs] == [("Q1?", "A1\n\nA2")]


def test_zendesk_export_skips_drafts_and_keeps_locale_and_url():
    export = zendesk_export(
        [
            {
                "id": 101,
                "title": "Returns",
                "body": "<p>30 days.</p><script>x()</script>",
                "html_url": "https://acme.zendesk.com/hc/en-us/articles/101",
                "locale": "en-us",
                "draft": False,
            },
            {"id": 102, "title": "Secret draft", "body": "<p>not yet</p>", "draft": True},
            {
                "id": 103,
                "title": "Envíos",
                "body": "<h2>Plazos</h2><p>3 a 5 días.</p>",
                "html_url": "https://acme.zendesk.com/hc/es/articles/103",
                "locale": "es",
            },
        ]
    )
    docs = read("zendesk.json", json.dumps(export))
    assert [(d.external_id, d.title, d.locale) for d in docs] == [
        ("zendesk:101", "Returns", "en-us"),
        ("zendesk:103", "Envíos", "es"),
    ]
    assert docs[0].body == "30 days." and docs[0].url.endswith("/101")


def test_long_sections_are_cut_at_paragraphs():
    body = "## Long\n\n" + "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(10))
    chunks = split_passages("Title", body)
    assert len(chunks) > 1
    assert all(c.section == "Long" and len(c.text) <= 1200 for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("broken.pdf", make_pdf(["hello"])[:200], "corrupt or unreadable PDF"),
        ("locked.pdf", encrypt_pdf(make_pdf(["secret"]), "pw"), "password-protected"),
        ("fake.pdf", b"GIF89a not a pdf", "is not a PDF"),
        ("notes.docx", b"PK\x03\x04", "unsupported format '.docx'"),
        ("empty.md", "---\ntitle: Empty\n---\n\n   \n", "is empty"),
        ("scripts-only.html", "<html><title>T</title><script>x()</script></html>", "is empty"),
        ("bad.jsonl", '{"q": "a", "a": "b"}\n{"q": "broken", \n', "line 2 is not valid JSON"),
        (
            "dupes.json",
            json.dumps([{"id": 1, "q": "A?", "a": "a"}, {"id": 1, "q": "B?", "a": "b"}]),
            "repeats the id '1'",
        ),
        (
            "zd.json",
            json.dumps(
                zendesk_export(
                    [{"id": 5, "title": "A", "body": "x"}, {"id": 5, "title": "B", "body": "y"}]
                )
            ),
            "article id 5 appears twice",
        ),
        ("noanswer.csv", "question,answer\nWhat?,\n", "row 2 has an empty answer"),
        ("nocolumns.csv", "foo,bar\n1,2\n", "needs a header row with 'question' and 'answer'"),
        ("latin1.txt", "caf\xe9 ol\xe9".encode("latin-1"), "is not UTF-8 text"),
        ("binary.md", b"\x00\x01\x02\x03", "binary file"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(name, data, problem):
    with pytest.raises(UnreadableFile) as caught:
        read(name, data)
    assert problem in caught.value.message
