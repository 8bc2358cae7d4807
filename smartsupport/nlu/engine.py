"""The NLU engine: what the conversation path calls to understand a customer message.

    engine = NluEngine(settings.data_dir, backplane)
    await engine.prepare(workspace)            # at start-up, and again when the config changes
    understanding = await engine.understand(workspace.id, "where is ORD-10234?")

``prepare`` trains the workspace's intent model or loads it from
``DATA_DIR/models/<workspace>/<hash of the training data>/``, so restarts are instant and a
changed ``intents.yaml`` retrains. ``understand`` runs, in order: language detection,
entities, the cache, ``override`` rules, the model (with its out-of-scope threshold),
``fallback`` rules when the model is unsure, and sentiment. The message's vector comes from
the process's ``SentenceEncoder`` (batched with other turns' texts, off the event loop); the
rest of the classification is a few small matrix products, done in place.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartsupport.backplane.base import Backplane
from smartsupport.domain import Understanding
from smartsupport.encoding import InThread, Scored, SentenceEncoder
from smartsupport.errors import NotFound
from smartsupport.nlu import training
from smartsupport.nlu.cache import UnderstandingCache, cache_key
from smartsupport.nlu.classifier import USE_DIM, IntentModel, Prediction
from smartsupport.nlu.entities import EntityExtractor
from smartsupport.nlu.language import detect_language
from smartsupport.nlu.language import remember as remember_language
from smartsupport.nlu.progress import ProgressBar
from smartsupport.nlu.rules import RuleSet
from smartsupport.nlu.schema import NluSpec, parse_nlu_section
from smartsupport.nlu.sentiment import read as read_message
from smartsupport.nlu.sentiment import sentiment
from smartsupport.workspaces import WorkspaceConfig

MAX_MODEL_CHARS = 1000  # the intent is in the first lines; the rest only costs time
MAX_ENTITY_CHARS = 20_000
_WORD_CHAR = re.compile(r"[^\W_]", re.UNICODE)
# A fallback rule gives way to the model when the model puts at least this much of its
# calibrated belief on one intent (it was unsure only against its out-of-scope bar).
FALLBACK_MAJORITY = 0.5


@dataclass
class _Prepared:
    spec: NluSpec
    default_language: str
    rules: RuleSet
    extractor: EntityExtractor
    model: IntentModel | None
    model_hash: str


class NluEngine:
    def __init__(
        self,
        data_dir: Path,
        backplane: Backplane | None = None,
        *,
        models_dir: Path | None = None,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self._models_dir = Path(models_dir) if models_dir else Path(data_dir) / "models"
        self.encoder = encoder or SentenceEncoder(InThread())
        self._cache = UnderstandingCache(backplane)
        self._workspaces: dict[str, _Prepared] = {}

    async def prepare(self, workspace: WorkspaceConfig, *, progress: bool = False) -> None:
        """Validate the workspace's ``nlu`` section and train or load its intent model."""
        where = str(Path(workspace.source_dir or ".") / "intents.yaml")
        spec = parse_nlu_section(workspace.section("nlu"), where=where)
        texts, labels = spec.training_pairs()
        model: IntentModel | None = None
        model_hash = "rules-only"
        if len(set(labels)) >= 2:
            if spec.mode == "accurate":
                # Fails now, naming the extra to install, rather than on the first message.
                from smartsupport.nlu.minilm import get_minilm

                await asyncio.to_thread(get_minilm)
            model_hash = training.training_hash(
                texts, labels, spec.out_of_scope.threshold, spec.mode
            )
            model = await asyncio.to_thread(
                self._load_or_train, workspace.id, texts, labels, spec, model_hash, progress
            )
        self._workspaces[workspace.id] = _Prepared(
            spec=spec,
            default_language=workspace.default_locale.split("-")[0].lower(),
            rules=RuleSet(spec.rules),
            extractor=EntityExtractor(spec.entities),
            model=model,
            model_hash=model_hash,
        )

    def _load_or_train(
        self,
        workspace_id: str,
        texts: list[str],
        labels: list[str],
        spec: NluSpec,
        model_hash: str,
        progress: bool,
    ) -> IntentModel:
        root = self._models_dir / workspace_id
        directory = root / model_hash[:24]
        if (directory / "meta.json").is_file():
            try:
                model = training.load(directory)
                if model.meta.get("hash") == model_hash:
                    return model
            except Exception:  # an unreadable cache entry is simply rebuilt
                pass
        bar = None
        if progress:
            bar = ProgressBar()
        model = training.train(
            texts, labels, threshold=spec.out_of_scope.threshold, progress=bar, mode=spec.mode
        )
        training.save(model, directory)
        # Older models of this workspace are dead weight once the new one is written.
        for old in root.iterdir():
            if old != directory and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        # What is served is what is stored: the encoder process scores the stored model.
        return training.load(directory)

    def model(self, workspace_id: str) -> IntentModel | None:
        """The intent model answering for a prepared workspace (None: rules only)."""
        return self._get(workspace_id).model

    def install(self, workspace_id: str, model: IntentModel) -> None:
        """Answer with ``model`` from now on: one trained from more than intents.yaml (the
        review queue's retraining, review/retrain.py). Cached answers of the old model are
        keyed by its hash, so none of them is served for the new one."""
        prepared = self._get(workspace_id)
        prepared.model = model
        prepared.model_hash = str(model.meta.get("hash") or id(model))

    async def close(self) -> None:
        """Finish sharing what this process understood (``UnderstandingCache.put``)."""
        await self._cache.close()

    def spec(self, workspace_id: str) -> NluSpec:
        """The validated ``nlu`` section of a prepared workspace (intents, responses, ...)."""
        return self._get(workspace_id).spec

    def responses(self, workspace_id: str, intent: str, language: str) -> list[str]:
        """The configured responses of ``intent`` in ``language`` (or the default language)."""
        prepared = self._get(workspace_id)
        found = prepared.spec.intents.get(intent)
        return found.responses_for(language, prepared.default_language) if found else []

    def _get(self, workspace_id: str) -> _Prepared:
        prepared = self._workspaces.get(workspace_id)
        if prepared is None:
            raise NotFound(f"workspace {workspace_id!r} has no prepared NLU model")
        return prepared

    async def understand(self, workspace_id: str, text: str) -> Understanding:
        """Language, intent (or out of scope), calibrated confidence, entities, sentiment."""
        prepared = self._get(workspace_id)
        text = text or ""
        entities = prepared.extractor.extract(text[:MAX_ENTITY_CHARS])
        head = " ".join(text[:MAX_MODEL_CHARS].split())
        if not _WORD_CHAR.search(head):
            # Empty, emoji-only or punctuation: nothing to classify, but emoji carry sentiment.
            return Understanding(
                language=prepared.default_language,
                intent=None,
                confidence=0.0,
                out_of_scope=True,
                entities=entities,
                sentiment=sentiment(head, "en") if head else 0.0,
                source="no_text",
            )
        key = cache_key(workspace_id, prepared.model_hash, head)
        cached = self._cache.local(key)
        if cached is None:
            cached = await self._understood(prepared, key, head)
        else:
            self.encoder.flush()  # the turn's other texts (prefetched)
        return Understanding(
            language=cached["language"],
            intent=cached["intent"],
            confidence=cached["confidence"],
            out_of_scope=cached["out_of_scope"],
            entities=entities,
            sentiment=cached["sentiment"],
            source=cached["source"],
            ranking=[(name, score) for name, score in cached["ranking"]],
        )

    async def _understood(self, prepared: _Prepared, key: str, head: str) -> dict[str, Any]:
        """The understanding of a message this process has not cached: the shared cache's
        copy, or the model's and rules' reading, shared behind the turn."""
        read = prepared.spec.masked(head)  # as the model was trained (NluSpec.masked)
        model = prepared.model
        if model is not None and read and model.mode == "standard" and model.directory is not None:
            # Scored where the text is encoded (the encoder process), if it can.
            ask = (model.directory, str(model.meta.get("hash")), head, prepared.default_language)
            if self._cache.shared:
                # The batch goes out while the shared cache is read, not after: a message
                # another process understood is rare, and waiting for the read first added a
                # Redis round trip to every other turn. On a hit the batch's answer is unused.
                encoding = asyncio.ensure_future(self.encoder.vector_and_intent(read, ask))
                try:
                    found = await self._cache.shared_get(key)
                except BaseException:
                    encoding.add_done_callback(_unused)
                    raise
                if found is not None:
                    encoding.add_done_callback(_unused)
                    return found
                vector, scored = await encoding
            else:
                vector, scored = await self.encoder.vector_and_intent(read, ask)
            cached = self._classify(prepared, head, read, vector[None, :], scored)
        else:
            found = await self._cache.shared_get(key)
            if found is not None:
                self.encoder.flush()
                return found
            if model is not None and read and model.mode == "standard":
                vectors = await self.encoder.vectors([read])
                cached = self._classify(prepared, head, read, vectors, None)
            else:  # rules only, or the accurate mode's second model: in a thread
                self.encoder.flush()  # the turn's other texts (prefetched) meanwhile
                cached = await asyncio.to_thread(self._classify, prepared, head, read, None)
        self._cache.put(key, cached)  # shared behind the turn
        return cached

    def _classify(
        self,
        prepared: _Prepared,
        text: str,
        read: str,
        vectors: np.ndarray | None,
        scored: Scored | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "language": prepared.default_language,  # read with the sentiment, below
            "intent": None,
            "confidence": 0.0,
            "out_of_scope": True,
            "source": "none",
            "ranking": [],
        }
        vector = None
        rule = prepared.rules.match(text, "override")
        if prepared.model is not None and read:
            if vectors is None:
                vectors = prepared.model.encode([read])
            vector = vectors[0, :USE_DIM]  # the multilingual embedding, for sentiment
            if scored is None:
                prediction = prepared.model.predict_vectors(vectors, [read])[0]
            else:
                prediction = Prediction(
                    list(scored.ranking),
                    scored.confidence,
                    scored.out_of_scope,
                    vectors[0],
                    scored.in_scope,
                )
            result["ranking"] = [[name, round(p, 4)] for name, p in prediction.ranking]
            if rule is None and not prediction.out_of_scope:
                result.update(
                    intent=prediction.ranking[0][0],
                    confidence=prediction.confidence,
                    out_of_scope=False,
                    source="model",
                )
            else:
                result["confidence"] = prediction.confidence
        if rule is None and result["out_of_scope"]:
            rule = prepared.rules.match(text, "fallback")
            ranking = result["ranking"]
            if rule is not None and ranking and ranking[0][1] >= FALLBACK_MAJORITY:
                # The rule's match shows the message is in scope ("... ORD-10240"), and the
                # model, unsure only against its out-of-scope bar, gives one intent most of
                # its belief ("I returned them and still no money" -> refund_status): the
                # model says which intent, not the rule's default.
                result.update(
                    intent=ranking[0][0], confidence=ranking[0][1], out_of_scope=False,
                    source="model",
                )  # fmt: skip
                rule = None
        if rule is not None:
            # A rule is an explicit instruction from the workspace owner, not a guess.
            result.update(intent=rule.intent, confidence=1.0, out_of_scope=False, source="rule")
        if scored is None:
            _, result["language"], result["sentiment"] = read_message(
                text, prepared.default_language, vector
            )
        else:  # the encoder process read them beside the intent, as ``read`` does here
            remember_language(text, scored.languages)  # the reply's language asks again
            result["language"] = detect_language(text, prepared.default_language).language
            result["sentiment"] = scored.sentiment
        return result


def _unused(encoding: asyncio.Future[Any]) -> None:
    if not encoding.cancelled():
        encoding.exception()  # retrieved, so asyncio does not log a failed batch nobody awaits
