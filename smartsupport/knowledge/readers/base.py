"""The reader contract: a reader turns one file's bytes into ``Document``s or raises
``UnreadableFile`` with a message that says what is wrong (the caller adds the file name)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from smartsupport.errors import InvalidInput
from smartsupport.knowledge.documents import normalise_locale


class UnreadableFile(InvalidInput):
    """The file cannot be turned into articles: corrupt, encrypted, malformed, empty..."""


@dataclass(slots=True, frozen=True)
class SourceFile:
    """A file being ingested.

    ``key`` is its path relative to the folder that was ingested (or its name), which makes
    article ids stable when the whole folder moves; ``source`` is the absolute path, which
    lets a re-ingest find the articles whose file disappeared."""

    path: Path
    key: str
    default_locale: str = "en"

    @property
    def source(self) -> str:
        return str(self.path.resolve())

    def locale(self, value: object) -> str:
        return normalise_locale(value if isinstance(value, str) else None, self.default_locale)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a BOM); anything else is refused rather than guessed."""
    if b"\x00" in data[:4096]:
        raise UnreadableFile("looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"is not UTF-8 text (byte {exc.start})") from exc


def title_from_name(path: Path) -> str:
    """``how-to_return-items.md`` -> ``How to return items``."""
    words = re.sub(r"[-_]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name
