"""Readers, one per file family, chosen by file extension.

.md .markdown   markdown.py    front matter + Markdown
.html .htm      html.py        scripts and styles stripped
.txt            text.py        plain text
.pdf            pdf.py         pypdf; encrypted or corrupt files are refused
.csv .jsonl     faq.py         question-answer pairs
.json           zendesk.py when it is a Help Center articles export, else faq.py
"""

from __future__ import annotations

import json
from collections.abc import Callable

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers import faq, html, markdown, pdf, text, zendesk
from smartsupport.knowledge.readers.base import (
    SourceFile,
    UnreadableFile,
    decode_text,
)

__all__ = ["READERS", "SourceFile", "UnreadableFile", "read_file", "supported", "unsupported"]


def _read_json(file: SourceFile, data: bytes) -> list[Document]:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"is not valid JSON: {exc}") from exc
    if zendesk.looks_like_export(value):
        return zendesk.from_json_value(file, value)
    return faq.from_json_value(file, value)


READERS: dict[str, Callable[[SourceFile, bytes], list[Document]]] = {
    ".md": markdown.read,
    ".markdown": markdown.read,
    ".html": html.read,
    ".htm": html.read,
    ".txt": text.read,
    ".pdf": pdf.read,
    ".csv": faq.read_csv,
    ".jsonl": faq.read_jsonl,
    ".json": _read_json,
}


def supported(suffix: str) -> bool:
    return suffix.lower() in READERS


def unsupported(suffix: str) -> str:
    """The error message for a file whose format no reader knows."""
    return f"has an unsupported format {suffix or '(no extension)'!r}; supported: " + " ".join(
        sorted(READERS)
    )


def read_file(file: SourceFile, data: bytes) -> list[Document]:
    """The articles in one file. Raises UnreadableFile (without the file name)."""
    reader = READERS.get(file.path.suffix.lower())
    if reader is None:
        raise UnreadableFile(unsupported(file.path.suffix))
    docs = reader(file, data)
    if not docs:
        raise UnreadableFile("contains no articles")
    for doc in docs:
        if not doc.body.strip():
            raise UnreadableFile(f"article {doc.title!r} is empty")
    return docs
