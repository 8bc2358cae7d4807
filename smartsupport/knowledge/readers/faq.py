"""FAQ files: question-answer pairs as CSV, JSON or JSON Lines. Each question becomes one
short article (title = question).

    CSV     a header row with ``question`` and ``answer`` (also ``q``/``a``), optionally
            ``id``, ``url``, ``locale``
    JSON    a list of such objects, or ``{"faq": [...]}`` / ``{"questions": [...]}``
    JSONL   one such object per line

Rows that repeat a question (and carry no id) are alternative answers to it and are merged
into one article, one paragraph each.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers.base import SourceFile, UnreadableFile, decode_text

_QUESTION = ("question", "q", "title")
_ANSWER = ("answer", "a", "text", "body")


def read_csv(file: SourceFile, data: bytes) -> list[Document]:
    text = decode_text(data)
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [name.strip().lower() for name in reader.fieldnames or []]
        reader.fieldnames = header
        rows = [(number, dict(row)) for number, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise UnreadableFile(f"is not valid CSV: {exc}") from exc
    if not any(n in header for n in _QUESTION) or not any(n in header for n in _ANSWER):
        raise UnreadableFile(
            f"needs a header row with 'question' and 'answer' columns (found: {', '.join(header)})"
        )
    return _documents(file, [(f"row {n}", row) for n, row in rows])


def read_json(file: SourceFile, data: bytes) -> list[Document]:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"is not valid JSON: {exc}") from exc
    return from_json_value(file, value)


def from_json_value(file: SourceFile, value: Any) -> list[Document]:
    if isinstance(value, dict):
        for key in ("faq", "faqs", "questions", "items"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
    if not isinstance(value, list):
        raise UnreadableFile(
            "must hold a list of {question, answer} objects (or a Zendesk articles export)"
        )
    return _documents(file, [(f"item {i}", item) for i, item in enumerate(value, start=1)])


def read_jsonl(file: SourceFile, data: bytes) -> list[Document]:
    items: list[tuple[str, Any]] = []
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UnreadableFile(f"line {number} is not valid JSON: {exc.msg}") from exc
    return _documents(file, items)


def _field(row: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = row.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _documents(file: SourceFile, items: list[tuple[str, Any]]) -> list[Document]:
    if not items:
        raise UnreadableFile("holds no questions")
    docs: dict[str, Document] = {}
    explicit_ids: set[str] = set()
    for where, row in items:
        if not isinstance(row, dict):
            raise UnreadableFile(f"{where} is not an object with question and answer")
        row = {str(k).strip().lower(): v for k, v in row.items()}
        question, answer = _field(row, _QUESTION), _field(row, _ANSWER)
        if not question or not answer:
            missing = "question" if not question else "answer"
            raise UnreadableFile(f"{where} has an empty {missing}")
        given_id = _field(row, ("id", "_id"))
        if given_id:
            if given_id in explicit_ids:
                raise UnreadableFile(f"{where} repeats the id {given_id!r}")
            explicit_ids.add(given_id)
            external_id = f"{file.key}#{given_id}"
        else:
            external_id = f"{file.key}#{' '.join(question.casefold().split())}"
        existing = docs.get(external_id)
        if existing is not None and not given_id:
            existing.body += f"\n\n{answer}"
            continue
        docs[external_id] = Document(
            external_id=external_id,
            title=question,
            body=answer,
            source=file.source,
            url=_field(row, ("url", "link")) or None,
            locale=file.locale(_field(row, ("locale", "language", "lang")) or None),
        )
    return list(docs.values())
