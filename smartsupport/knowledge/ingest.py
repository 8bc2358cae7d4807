"""Finding and reading the files of one ingest run, and its report.

A folder is walked recursively; hidden files and files of unknown formats inside it are
skipped (and listed), while a file named explicitly in an unknown format is an error. A
folder also marks a scope: articles that came from a file under it which no longer exists
are removed by the run; a file named explicitly scopes only itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from smartsupport.knowledge.documents import Document
from smartsupport.knowledge.readers import (
    SourceFile,
    UnreadableFile,
    read_file,
    supported,
    unsupported,
)

MAX_FILE_BYTES = 20 * 1024 * 1024

# progress(files done, files in total, the file just finished)
Progress = Callable[[int, int, str], None]


@dataclass(slots=True)
class FileError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did. Files with errors changed nothing; the rest were applied."""

    files: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    passages: int = 0
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        text = (
            f"{self.files} file(s): {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.removed} removed, {self.passages} passages "
            f"embedded in {self.seconds:.1f}s"
        )
        if self.skipped:
            text += f"; {len(self.skipped)} skipped (unsupported format)"
        if self.errors:
            text += f"; {len(self.errors)} file(s) failed"
        return text


@dataclass(slots=True)
class Plan:
    files: list[SourceFile] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # absolute paths, for pruning
    _named: set[str] = field(default_factory=set)  # sources of the files read

    def in_scope(self, source: str) -> bool:
        """True when ``source`` (an article's file) lies under a folder or is a named file
        of this run, so its absence this time means the article was deleted."""
        if source in self._named:
            return True
        return any(source.startswith(folder + os.sep) for folder in self.folders)


def plan(paths: Iterable[str | Path], default_locale: str = "en") -> Plan:
    result = Plan()
    seen: set[Path] = set()

    def add(path: Path, key: str) -> None:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            file = SourceFile(path, key, default_locale)
            result.files.append(file)
            result._named.add(file.source)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            result.folders.append(str(path.resolve()))
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if not child.is_file() or any(p.startswith(".") for p in relative.parts):
                    continue
                if supported(child.suffix):
                    add(child, relative.as_posix())
                else:
                    result.skipped.append(str(child))
        elif path.is_file():
            if supported(path.suffix):
                add(path, path.name)
            else:
                result.errors.append(FileError(str(path), unsupported(path.suffix)))
        else:
            result.errors.append(FileError(str(path), "no such file or folder"))
    return result


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} KB"


async def read_documents(file: SourceFile, max_bytes: int = MAX_FILE_BYTES) -> list[Document]:
    """The articles of one file, read and parsed off the event loop."""
    try:
        size = file.path.stat().st_size
    except OSError as exc:
        raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise UnreadableFile(
            f"is {_size(size)}, over the {_size(max_bytes)} limit for one file; "
            "split it into several articles"
        )
    if size == 0:
        raise UnreadableFile("is empty")

    def work() -> list[Document]:
        try:
            data = file.path.read_bytes()
        except OSError as exc:
            raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from exc
        return read_file(file, data)

    return await asyncio.to_thread(work)
