"""PDF manuals and policies, through pypdf. The text of every page is read; PDFs carry no
reliable headings, so the splitter cuts them by paragraph size."""

from __future__ import annotations

import io
import logging
import re
import warnings

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers.base import SourceFile, UnreadableFile, title_from_name


def read(file: SourceFile, data: bytes) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

    if not data.lstrip()[:5] == b"%PDF-":
        raise UnreadableFile("is not a PDF (no %PDF- header)")
    # pypdf reports recoverable damage through warnings and logging; we decide ourselves.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                # Many "protected" PDFs only restrict printing: they open with an empty password.
                try:
                    ok = reader.decrypt("")
                except Exception as exc:  # noqa: BLE001 - unsupported crypto, bad keys, ...
                    raise UnreadableFile("is password-protected (encrypted PDF)") from exc
                if not ok:
                    raise UnreadableFile("is password-protected (encrypted PDF)")
            pages = [page.extract_text() or "" for page in reader.pages]
            meta_title = reader.metadata.title if reader.metadata else None
        except UnreadableFile:
            raise
        except FileNotDecryptedError as exc:
            raise UnreadableFile("is password-protected (encrypted PDF)") from exc
        except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
            raise UnreadableFile(f"is a corrupt or unreadable PDF ({exc})") from exc
    text = "\n\n".join(_tidy(page) for page in pages).strip()
    title = (str(meta_title).strip() if meta_title else "") or title_from_name(file.path)
    return [
        Document(
            external_id=file.key,
            title=title,
            body=text,
            source=file.source,
            locale=file.default_locale,
        )
    ]


def _tidy(page: str) -> str:
    """Join lines that the PDF layout broke mid-sentence; keep blank-line paragraphs."""
    page = re.sub(r"-\n(?=[a-z])", "", page)  # hyphenated line breaks
    page = re.sub(r"(?<![.!?:\n])\n(?!\n)", " ", page)
    return re.sub(r"[ \t]+", " ", page).strip()
