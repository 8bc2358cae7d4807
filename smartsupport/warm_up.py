"""What the first turns after start-up would build on first use, built before they come.

Many parts of a turn load or compile once per process, when a turn first needs them: the
shipped reply texts of each language (YAML), the language detector's model, the sentiment
lexicon, the small-words vocabulary of the dialogue, each workspace's handoff patterns (the
"asks for a person" pattern alone takes ~90 ms to compile), the knowledge path's tables; and
answerability needs the vectors of every sentence of the passages a question retrieves,
~50 ms of the encoder's time for each question that meets new passages. Paid by the first
turns of a busy start, the first second of a 100 messages/s run had a p95 of 300-400 ms
against 30-40 ms after it (docs/benchmarks.md, "Stop 29").

    seconds = await warm_up(assistant)      before the server says it is ready: the
                                            per-process tables, ~0.3 s, once
    await encode_passages(assistant)        then in the background: every passage's
                                            sentences through the encoder's process, a
                                            few at a time

Nothing is stored and no remote model is asked: the sample questions go through the intent
model, the handoff patterns and the knowledge search, never an LLM, a flow or the database.
"""

from __future__ import annotations

import logging
import time

from smartsupport import messages
from smartsupport.assistant import Assistant
from smartsupport.dialogue import small_words
from smartsupport.encoder_process import EncoderProcess
from smartsupport.errors import BackendError
from smartsupport.handoff import rules
from smartsupport.knowledge import places
from smartsupport.pacing import Pace

log = logging.getLogger(__name__)
# Questions in three scripts and detector answers, so each language path is built once.
SAMPLES = (
    "How long does delivery to Germany take?",
    "¿Dónde está mi pedido?",
    "Je voudrais retourner ma commande",
)
PASSAGES_PER_BATCH = 8  # ~25 texts: the encoder is free again for turns within ~25 ms
ENCODER_SHARE = 0.8  # of the wall clock, at most: done within ~2 s of start-up on the demo


async def warm_up(assistant: Assistant) -> float:
    """Build every per-process table a turn uses; the seconds it took."""
    began = time.perf_counter()
    for language in messages.LANGUAGES:
        messages.catalog(language)
    small_words.clauses(SAMPLES[0])
    places.places_in(SAMPLES[0])  # the place names (CLDR), gathered once per process
    for workspace in assistant.services.workspaces.values():
        rules.prepare(workspace)
        for text in SAMPLES:
            understanding = await assistant.nlu.understand(workspace.id, text)
            if assistant.knowledge.may_search(workspace.id):
                language = understanding.language or workspace.default_locale
                await assistant.articles.retrieve(
                    workspace.id, text, language, workspace.default_locale
                )
    return time.perf_counter() - began


async def encode_passages(assistant: Assistant) -> int:
    """Every workspace's passages and their sentences through the encoder, in small batches
    that leave it to the turns' own texts; how many passages. Only with the encoder in its own
    process, on a core the server's turns do not use (in the server's thread it would take
    that core from the first turns, for sentences most of which no question may need). Stops
    early when answerability's cache would be more than half full
    (``Answerability.encode_ahead``), or when the encoder fails (then a question encodes its
    passages when it needs them, as without this)."""
    if not isinstance(assistant.knowledge.encoder.backend, EncoderProcess):
        return 0
    try:
        return await _encode_passages(assistant)
    except BackendError as exc:
        log.warning("encoding the passages ahead stopped (%s); each is encoded when asked", exc)
        return 0


async def _encode_passages(assistant: Assistant) -> int:
    answerability = assistant.articles.answerability
    pace, done = Pace(ENCODER_SHARE), 0
    for workspace in assistant.services.workspaces.values():
        if not assistant.knowledge.may_search(workspace.id):
            continue
        passages = await assistant.knowledge.passages(workspace.id)
        for start in range(0, len(passages), PASSAGES_PER_BATCH):
            await pace.rest()
            batch = passages[start : start + PASSAGES_PER_BATCH]
            if not await answerability.encode_ahead(batch):
                return done
            if start == 0:  # and one ranking, so that its own tables are built too
                idf = await assistant.knowledge.idf(workspace.id)
                answerability.rank(SAMPLES[0], batch, idf)
            done += len(batch)
    return done
