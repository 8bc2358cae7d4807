"""Training and evaluation data: ``text,label`` CSV files, checked before any training.

A broken file must fail with a message that says what is wrong and where (which line, which
column), never with a traceback from deep inside a classifier.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from smartsupport.errors import InvalidInput

MAX_TEXT_CHARS = 2000


@dataclass(slots=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))


def read_csv(path: Path) -> LabelledTexts:
    """Read a ``text,label`` CSV (UTF-8, header row, extra columns ignored)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{path}: not valid UTF-8 (byte {exc.start}, line {line}); save the file as UTF-8"
        ) from exc
    if not content.strip():
        raise InvalidInput(f"{path}: the file is empty; expected a header 'text,label'")
    try:
        reader = csv.DictReader(io.StringIO(content, newline=""), strict=True)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("text", "label") if c not in header]
        if missing:
            raise InvalidInput(
                f"{path}: missing column(s) {', '.join(missing)}; the header must contain "
                f"'text,label' (found: {','.join(reader.fieldnames or []) or 'nothing'})"
            )
        reader.fieldnames = header
        texts: list[str] = []
        labels: list[str] = []
        for row in reader:
            text, label = row.get("text"), row.get("label")
            if text is None or label is None:
                raise InvalidInput(f"{path}, line {reader.line_num}: row has too few columns")
            text, label = " ".join(text.split()), label.strip()
            if not text and not label:
                continue  # a blank line
            if not text or not label:
                raise InvalidInput(f"{path}, line {reader.line_num}: empty text or label")
            texts.append(text[:MAX_TEXT_CHARS])
            labels.append(label)
    except csv.Error as exc:
        raise InvalidInput(f"{path}: malformed CSV: {exc}") from exc
    if not texts:
        raise InvalidInput(f"{path}: no data rows after the header")
    return LabelledTexts(texts, labels)


def check_trainable(data: LabelledTexts, *, source: str, oos_label: str | None = None) -> None:
    """Refuse data a classifier cannot learn from, with a reason."""
    classes = {label for label in data.labels if label != oos_label}
    if len(classes) < 2:
        only = next(iter(classes), "none")
        raise InvalidInput(
            f"{source}: needs at least 2 different labels to learn from (found only: {only})"
        )
