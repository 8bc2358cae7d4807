"""Markdown help articles with optional YAML front matter::

    ---
    title: Returns and exchanges
    url: https://help.example.com/returns
    locale: en
    id: returns            # optional: a stable id; default is the file's path
    ---
    # Returns and exchanges
    ...

The Markdown is rendered to HTML and read by the HTML reader, so raw HTML inside Markdown
(including ``<script>``) is cleaned the same way.
"""

from __future__ import annotations

import re

import yaml
from markdown_it import MarkdownIt

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers.base import (
    SourceFile,
    UnreadableFile,
    decode_text,
    title_from_name,
)
from smartsupport.knowledge.readers.html import first_heading, html_to_body
from smartsupport.yaml_text import load_yaml

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)


def split_front_matter(text: str) -> tuple[dict[str, object], str]:
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    try:
        meta = load_yaml(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise UnreadableFile(f"has invalid YAML front matter: {exc}") from exc
    if not isinstance(meta, dict):
        raise UnreadableFile("front matter must be a mapping (title: ..., url: ...)")
    return meta, text[match.end() :]


def markdown_to_body(text: str) -> str:
    html = MarkdownIt("commonmark").enable("table").render(text)
    return html_to_body(html)[0]


def read(file: SourceFile, data: bytes) -> list[Document]:
    meta, text = split_front_matter(decode_text(data))
    body = markdown_to_body(text)
    title = str(meta.get("title") or first_heading(body) or title_from_name(file.path))
    url = meta.get("url")
    return [
        Document(
            external_id=str(meta.get("id") or file.key),
            title=title.strip(),
            body=body,
            source=file.source,
            url=str(url) if url else None,
            locale=file.locale(meta.get("locale") or meta.get("lang")),
        )
    ]
