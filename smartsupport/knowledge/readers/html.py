"""HTML help pages. Scripts, styles, forms and navigation are dropped before any text is
taken, so nothing executable or decorative reaches an answer."""

from __future__ import annotations

import re
import warnings

from bs4 import (
    BeautifulSoup,
    Comment,
    Declaration,
    Doctype,
    MarkupResemblesLocatorWarning,
    ProcessingInstruction,
)

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers.base import SourceFile, UnreadableFile, decode_text

_DROP = [
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "object",
    "embed",
    "head",
    "title",
    "form",
    "nav",
    "button",
    "select",
    "canvas",
]
_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
_BLOCKS = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "ul",
    "ol",
    "table",
    "tr",
    "pre",
    "blockquote",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "hr",
]


def html_to_body(html: str) -> tuple[str, str | None, str | None]:
    """(light-Markdown body, the page's title, its ``lang``) of an HTML document."""
    with warnings.catch_warnings():
        # A short fragment ("<p>See below</p>" or a bare URL) makes bs4 warn; it is fine here.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    root = soup.find("html")
    lang = root.get("lang") if root is not None else None
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag is not None else None
    for tag in soup.find_all(_DROP):
        tag.decompose()
    markup = (Comment, Declaration, Doctype, ProcessingInstruction)
    for comment in soup.find_all(string=lambda s: isinstance(s, markup)):
        comment.extract()
    for string in soup.find_all(string=True):
        if string.find_parent("pre") is None:
            string.replace_with(re.sub(r"\s+", " ", str(string)))
    for heading in soup.find_all(_HEADINGS):
        level = int(heading.name[1])
        text = heading.get_text(" ", strip=True)
        heading.replace_with(f"\n\n{'#' * level} {text}\n\n" if text else "")
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(" | ")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    lines = [line.strip().rstrip("|").strip() for line in soup.get_text().split("\n")]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    body = re.sub(r"^- *\n+(?=\S)", "- ", body, flags=re.MULTILINE)
    return body, title, lang if isinstance(lang, str) else None


def first_heading(body: str) -> str | None:
    match = re.search(r"^#{1,2} (.+)$", body, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def read(file: SourceFile, data: bytes) -> list[Document]:
    body, title, lang = html_to_body(decode_text(data))
    title = title or first_heading(body)
    if not title:
        raise UnreadableFile("has no <title> and no <h1>/<h2> heading to name the article")
    meta_url = re.search(rb'<link[^>]+rel=["\']canonical["\'][^>]*href=["\']([^"\']+)', data)
    return [
        Document(
            external_id=file.key,
            title=title,
            body=body,
            source=file.source,
            url=meta_url.group(1).decode("utf-8", "replace") if meta_url else None,
            locale=file.locale(lang),
        )
    ]
