"""The knowledge base over real SQLite and PostgreSQL: ingestion, change detection, bad
files in a batch, persistence without re-embedding, locale filtering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from knowledge_samples import CountingEmbedder, make_pdf

from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.storage import open_store

DEMO_ARTICLES = Path(__file__).parent.parent / "smartsupport" / "demo" / "articles"
BACKENDS = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}


@pytest.fixture(params=list(BACKENDS))
def url(request) -> str:
    return request.getfixturevalue(BACKENDS[request.param])


@pytest.fixture
async def store(url):
    store = open_store(url)
    await store.connect()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def article(path: Path, title: str, *sections: tuple[str, str], locale: str = "en") -> None:
    body = "\n\n".join(f"## {heading}\n\n{text}" for heading, text in sections)
    path.write_text(f"---\ntitle: {title}\nlocale: {locale}\n---\n{body}\n", encoding="utf-8")


async def test_search_survives_a_restart_without_re_embedding(url, store):
    first = CountingEmbedder()
    report = await KnowledgeBase(store, embedder=first).ingest("demo", [DEMO_ARTICLES])
    assert report.ok and report.added == 99 and report.passages > 300  # 11 articles x 9 languages
    assert first.texts == report.passages + report.added  # passages plus titles, once each

    await store.close()
    reopened = open_store(url)
    await reopened.connect()
    try:
        second = CountingEmbedder()
        kb = KnowledgeBase(reopened, embedder=second)
        results = await kb.search("demo", "How much does express shipping cost?", locale="en")
        assert second.texts == 1  # only the query: stored vectors were loaded
        assert results[0].title == "Shipping options, costs and delivery times"
        assert results[0].section == "Express shipping"
        assert "$12" in results[0].text
        assert results[0].url == "https://help.northwind-outfitters.example/shipping"
        again = await KnowledgeBase(reopened, embedder=second).ingest("demo", [DEMO_ARTICLES])
        assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 99, 0)
        assert second.texts == 1  # unchanged content hashes: nothing re-embedded
    finally:
        await reopened.close()


async def test_reingest_updates_what_changed_and_removes_what_disappeared(store, tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    article(
        folder / "a.md",
        "Gift cards",
        ("Expiry", "Gift cards never expire."),
        ("Balance", "Your balance is in your account."),
    )
    article(folder / "b.md", "Warranty", ("Cover", "Products have a one-year warranty."))
    article(folder / "c.md", "Loyalty points", ("Earning", "Earn one point per dollar."))
    embedder = CountingEmbedder()
    kb = KnowledgeBase(store, embedder=embedder)
    assert (await kb.ingest("ws", [folder])).added == 3
    await kb.search("ws", "warranty")  # loads the index, so unchanged sections are reused

    article(
        folder / "a.md",
        "Gift cards",
        ("Expiry", "Gift cards expire after five years."),
        ("Balance", "Your balance is in your account."),
    )
    (folder / "c.md").unlink()
    article(folder / "d.md", "Store pickup", ("Pickup", "Collect orders in our Boston store."))
    embedder.texts = 0
    report = await kb.ingest("ws", [folder])
    assert (report.added, report.updated, report.unchanged, report.removed) == (1, 1, 1, 1)
    # Only the edited section and the new article (1 passage + title) were embedded.
    assert embedder.texts == 3

    hits = await kb.search("ws", "do gift cards expire")
    assert hits[0].text == "Gift cards expire after five years."
    assert all(h.title != "Loyalty points" for h in await kb.search("ws", "loyalty points", k=10))
    titles = {a.title for a in await kb.list_articles("ws")}
    assert titles == {"Gift cards", "Warranty", "Store pickup"}
    # A fresh process sees the same thing as the one that wrote it.
    fresh = await KnowledgeBase(store, embedder=embedder).search("ws", "do gift cards expire")
    assert [(h.id, h.text) for h in fresh[:2]] == [(h.id, h.text) for h in hits[:2]]


async def test_bad_files_are_named_and_the_rest_of_the_batch_is_ingested(store, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    article(folder / "good.md", "Returns", ("Window", "Return items within 30 days."))
    (folder / "manual.pdf").write_bytes(make_pdf(["Care guide", "Wash merino cold."], "Care"))
    kb = KnowledgeBase(store, embedder=CountingEmbedder(), max_file_bytes=50_000)
    assert (await kb.ingest("ws", [folder])).added == 2

    # Now the PDF is damaged, plus new problems arrive next to a new good file.
    (folder / "manual.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (folder / "huge.txt").write_text("Big\n\n" + "x" * 60_000)
    (folder / "broken.jsonl").write_text('{"q": "Fine?", "a": "Yes"}\nnot json\n')
    (folder / "dupe.md").write_text("---\nid: good.md\ntitle: Clash\n---\nSame id.\n")
    (folder / "script.html").write_text("<title>X</title><script>steal()</script>")
    (folder / "image.png").write_bytes(b"\x89PNG")
    article(folder / "new.md", "Exchanges", ("How", "Exchange a size from your order page."))

    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")  # named explicitly: an error
    report = await kb.ingest("ws", [folder, tmp_path / "notes.docx", tmp_path / "missing.md"])
    problems = {Path(e.path).name: e.message for e in report.errors}
    assert set(problems) == {
        "manual.pdf",
        "huge.txt",
        "broken.jsonl",
        "dupe.md",
        "script.html",
        "notes.docx",
        "missing.md",
    }
    assert "unsupported format '.docx'" in problems["notes.docx"]
    assert problems["missing.md"] == "no such file or folder"
    assert "corrupt or unreadable PDF" in problems["manual.pdf"]
    assert "is 59 KB, over the 49 KB limit for one file" in problems["huge.txt"]
    assert "line 2 is not valid JSON" in problems["broken.jsonl"]
    assert "'good.md'" in problems["dupe.md"] and "also defines" in problems["dupe.md"]
    assert "is empty" in problems["script.html"]
    assert [Path(p).name for p in report.skipped] == ["image.png"]
    assert (report.added, report.removed) == (1, 0)

    titles = {a.title for a in await kb.list_articles("ws")}
    # The damaged PDF keeps its last good version instead of vanishing.
    assert titles == {"Returns", "Care", "Exchanges"}
    assert (await kb.search("ws", "how should I wash merino"))[0].title == "Care"


async def test_a_failure_mid_run_writes_nothing(store, tmp_path):
    class FailingEmbedder(CountingEmbedder):
        def encode(self, texts):
            if self.calls == 1:
                raise RuntimeError("model crashed")
            return super().encode(texts)

    for name in ("a", "b", "c"):
        article(tmp_path / f"{name}.md", f"Article {name}", ("S", f"Text of {name}."))
    kb = KnowledgeBase(store, embedder=FailingEmbedder())
    with pytest.raises(RuntimeError, match="model crashed"):
        await kb.ingest("ws", [tmp_path])
    assert await kb.list_articles("ws") == []
    assert await kb.search("ws", "article") == []


async def test_locale_filter_and_cross_language_articles(store):
    kb = KnowledgeBase(store, embedder=CountingEmbedder())
    await kb.ingest("demo", [DEMO_ARTICLES])
    spanish = await kb.search("demo", "¿Cuánto tarda el envío?", locale="es", k=3)
    assert spanish and all(p.locale == "es" for p in spanish)
    assert spanish[0].title == "Opciones de envío, costes y plazos de entrega"
    french = await kb.search("demo", "Comment retourner un article ?", locale="fr-CA", k=3)
    assert french[0].title == "Retours et échanges"
    english = await kb.search("demo", "How do I return an item?", locale="en", k=5)
    assert english[0].title == "Returns and exchanges"
    assert all(p.locale == "en" for p in english)
    assert await kb.search("demo", "returns", locale="ko") == []  # no Korean articles
    # Workspaces never see each other's articles.
    assert await kb.search("other", "returns") == []


async def test_changes_made_by_another_process_are_picked_up(store):
    writer = KnowledgeBase(store, embedder=CountingEmbedder())
    reader = KnowledgeBase(store, embedder=CountingEmbedder(), recheck_seconds=0)
    await writer.create_article("ws", title="Warranty", body="One year on everything.")
    assert (await reader.search("ws", "warranty"))[0].title == "Warranty"
    created = await writer.create_article(
        "ws",
        title="Store pickup",
        body="Collect your order at our Boston store.",
        url="https://h.example/pickup",
    )
    hits = await reader.search("ws", "can I pick up my order in the store")
    assert hits[0].article_id == created.id and hits[0].url == "https://h.example/pickup"
    await writer.delete_article("ws", created.id)
    assert all(h.article_id != created.id for h in await reader.search("ws", "store pickup"))


async def test_vectors_from_another_model_are_re_embedded_once(store):
    old = CountingEmbedder(name="old-model")
    await KnowledgeBase(store, embedder=old).create_article(
        "ws", title="Payment", body="We accept Visa and PayPal."
    )
    new = CountingEmbedder(name="new-model")
    await KnowledgeBase(store, embedder=new).search("ws", "paypal")
    assert new.texts == 2 + 1  # title and passage re-embedded, plus the query
    newer = CountingEmbedder(name="new-model")
    await KnowledgeBase(store, embedder=newer).search("ws", "paypal")
    assert newer.texts == 1


async def test_faq_and_zendesk_files_become_searchable_articles(store, tmp_path):
    (tmp_path / "faq.csv").write_text(
        "question,answer\nDo you sell gift cards?,Yes: e-gift cards from $10 to $500.\n"
    )
    (tmp_path / "zendesk.json").write_text(
        json.dumps(
            {
                "articles": [
                    {
                        "id": 9,
                        "title": "Cancel an order",
                        "locale": "en-us",
                        "html_url": "https://acme.zendesk.com/hc/articles/9",
                        "body": "<p>You can cancel while the order is <b>Processing</b>.</p>",
                    }
                ]
            }
        )
    )
    kb = KnowledgeBase(store, embedder=CountingEmbedder())
    report = await kb.ingest("ws", [tmp_path / "faq.csv", tmp_path / "zendesk.json"])
    assert report.ok and report.added == 2
    hit = (await kb.search("ws", "how do I cancel my order"))[0]
    assert (hit.title, hit.url) == ("Cancel an order", "https://acme.zendesk.com/hc/articles/9")
    # Removing the FAQ entry from its file removes the article on the next run.
    (tmp_path / "faq.csv").write_text("question,answer\nDo you ship abroad?,Yes.\n")
    report = await kb.ingest("ws", [tmp_path / "faq.csv"])
    assert (report.added, report.removed) == (1, 1)
    assert {a.title for a in await kb.list_articles("ws")} == {
        "Do you ship abroad?",
        "Cancel an order",
    }
