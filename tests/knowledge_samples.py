"""Sample files for the knowledge-base tests, made on the spot (no network, no fixtures
checked in): a real text PDF written by hand, an encrypted copy made with pypdf, and a
counting wrapper around the real embedding model."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A valid one-page PDF showing ``lines`` in Helvetica, with a correct xref table."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    shown = " ".join(f"({escape(line)}) '" for line in lines)
    content = f"BT /F1 12 Tf 72 740 Td 16 TL {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (%s) >>" % escape(title or "").encode("latin-1"),
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R" % (len(objects) + 1)
    if title:
        trailer += b" /Info 6 0 R"
    out.write(trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def encrypt_pdf(data: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class CountingEmbedder:
    """The real packaged model, counting how many texts it was asked to embed."""

    def __init__(self, name: str | None = None) -> None:
        from smartsupport.embeddings import get_embedder

        self._real = get_embedder()
        self.name = name or self._real.name
        self.dim = self._real.dim
        self.calls = 0
        self.texts = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self._real.encode(texts)


def zendesk_export(articles: list[dict[str, Any]]) -> dict[str, Any]:
    return {"articles": articles, "count": len(articles), "next_page": None, "page": 1}
