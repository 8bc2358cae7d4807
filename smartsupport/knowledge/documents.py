"""What ingestion produces and the knowledge base stores: articles and their passages.

Every reader turns its format into ``Document``s whose ``body`` is light Markdown: headings
as ``#`` lines, paragraphs separated by blank lines, list items as ``- `` lines. One
splitter (``split_passages``) then cuts every format the same way, by headings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

# A passage longer than this is cut at paragraph (then sentence) boundaries: long passages
# blur both the embedding and the extractive answer.
MAX_PASSAGE_CHARS = 1200
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")


@dataclass(slots=True)
class Document:
    """One help article as read from a source, before it is stored."""

    external_id: str
    title: str
    body: str
    source: str
    url: str | None = None
    locale: str = "en"

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that reaches the passages or citations changes."""
        digest = hashlib.sha256()
        for part in (self.title, self.url or "", self.locale, self.body):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        return digest.hexdigest()


@dataclass(slots=True)
class Article:
    """A stored article, as the admin API shows it."""

    id: str
    workspace_id: str
    external_id: str
    title: str
    body: str
    source: str
    url: str | None
    locale: str
    content_hash: str
    created_at: datetime
    updated_at: datetime
    passages: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "title": self.title,
            "body": self.body,
            "source": self.source,
            "url": self.url,
            "locale": self.locale,
            "content_hash": self.content_hash,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "passages": self.passages,
        }


@dataclass(slots=True)
class Chunk:
    """A passage before embedding: the section heading it sits under and its text."""

    section: str | None
    text: str
    position: int = 0
    embedding_text: str = field(default="", repr=False)


def normalise_locale(locale: str | None, default: str = "en") -> str:
    """``es_MX`` / ``ES-mx`` -> ``es-mx``; empty -> ``default``."""
    value = (locale or "").strip().replace("_", "-").lower()
    return value or default


def language_of(locale: str) -> str:
    """The primary language subtag: search filters on it, so ``es`` matches ``es-mx``."""
    return locale.split("-", 1)[0]


def split_passages(title: str, body: str) -> list[Chunk]:
    """Cut ``body`` into passages at its headings, then cut long sections at paragraph
    boundaries. A leading heading that repeats the title is dropped."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in body.splitlines():
        match = _HEADING.match(line.strip())
        if match:
            heading = match.group(2).strip()
            if heading.casefold() == title.strip().casefold() and not any(
                "".join(lines).strip() for _, lines in sections
            ):
                continue
            sections.append((heading, []))
        else:
            sections[-1][1].append(line)
    chunks: list[Chunk] = []
    for heading, lines in sections:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
        for text in _pack(paragraphs):
            chunks.append(Chunk(section=heading, text=text))
    for position, chunk in enumerate(chunks):
        chunk.position = position
        chunk.embedding_text = embedding_text(chunk.section, chunk.text)
    return chunks


def embedding_text(section: str | None, text: str) -> str:
    """What a passage is embedded as: its heading gives the text its context."""
    return f"{section}\n{text}" if section else text


def _pack(paragraphs: list[str]) -> list[str]:
    """Greedily join paragraphs into pieces of at most MAX_PASSAGE_CHARS."""
    pieces: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for part in _cut_long(paragraph):
            if current and len(current) + 2 + len(part) > MAX_PASSAGE_CHARS:
                pieces.append(current)
                current = part
            else:
                current = f"{current}\n\n{part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _cut_long(paragraph: str) -> list[str]:
    if len(paragraph) <= MAX_PASSAGE_CHARS:
        return [paragraph]
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > MAX_PASSAGE_CHARS:  # one endless "sentence": hard cut
            parts.append(sentence[:MAX_PASSAGE_CHARS])
            sentence = sentence[MAX_PASSAGE_CHARS:]
        if current and len(current) + 1 + len(sentence) > MAX_PASSAGE_CHARS:
            parts.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        parts.append(current)
    return parts
