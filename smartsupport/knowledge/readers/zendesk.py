"""A Zendesk Help Center export: the JSON their articles API returns
(``GET /api/v2/help_center/articles.json``), i.e. ``{"articles": [{"id", "title", "body"
(HTML), "html_url", "locale", "draft", ...}], ...}``. Pages of it may be concatenated into a
JSON list of such objects. Drafts are left out: the bot must not cite unpublished text."""

from __future__ import annotations

from typing import Any

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers.base import SourceFile, UnreadableFile
from smartsupport.knowledge.readers.html import html_to_body


def looks_like_export(value: Any) -> bool:
    pages = value if isinstance(value, list) else [value]
    return bool(pages) and all(isinstance(p, dict) and "articles" in p for p in pages)


def from_json_value(file: SourceFile, value: Any) -> list[Document]:
    pages = value if isinstance(value, list) else [value]
    docs: list[Document] = []
    seen: set[str] = set()
    for page in pages:
        articles = page.get("articles")
        if not isinstance(articles, list):
            raise UnreadableFile("'articles' must be a list")
        for number, item in enumerate(articles, start=1):
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise UnreadableFile(f"article {number} has no id")
            article_id = str(item["id"])
            if article_id in seen:
                raise UnreadableFile(f"article id {article_id} appears twice")
            seen.add(article_id)
            if item.get("draft"):
                continue
            title = str(item.get("title") or "").strip()
            if not title:
                raise UnreadableFile(f"article {article_id} has no title")
            body = html_to_body(str(item.get("body") or ""))[0]
            docs.append(
                Document(
                    external_id=f"zendesk:{article_id}",
                    title=title,
                    body=body,
                    source=file.source,
                    url=item.get("html_url") or None,
                    locale=file.locale(item.get("locale")),
                )
            )
    return docs
