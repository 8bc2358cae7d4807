"""Plain-text articles. The first line is the title when it is short and followed by a blank
line or an underline; underlined (=== / ---) and ``#`` lines become section headings."""

from __future__ import annotations

import re

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers.base import SourceFile, decode_text, title_from_name

_UNDERLINE = re.compile(r"^(=+|-+)\s*$")


def read(file: SourceFile, data: bytes) -> list[Document]:
    lines = decode_text(data).replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    title = title_from_name(file.path)
    if (
        lines
        and len(lines[0].strip()) <= 120
        and (len(lines) == 1 or not lines[1].strip() or _UNDERLINE.match(lines[1]))
    ):
        title = lines[0].strip().lstrip("#").strip()
        lines = lines[2:] if len(lines) > 1 and _UNDERLINE.match(lines[1]) else lines[1:]
    out: list[str] = []
    for line in lines:
        if _UNDERLINE.match(line) and out and out[-1].strip() and len(line.strip()) >= 3:
            out[-1] = f"## {out[-1].strip()}"
            out.append("")
        else:
            out.append(line.rstrip())
    return [
        Document(
            external_id=file.key,
            title=title,
            body="\n".join(out).strip(),
            source=file.source,
            locale=file.default_locale,
        )
    ]
