"""A one-line progress bar for training on a terminal (``nlu train`` and the first start of
``serve``, which trains the demo's model)."""

from __future__ import annotations

import sys
from typing import Any


class ProgressBar:
    """A one-line progress bar on a terminal; silent when output is redirected."""

    def __init__(self, stream: Any = None, width: int = 30) -> None:
        # Looked up now, not at import: sys.stderr may have been replaced since.
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.active = self.stream.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.active or total == 0:
            return
        filled = round(self.width * done / total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{stage:<12} [{bar}] {done}/{total}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()
