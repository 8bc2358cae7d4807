"""Shadow mode: a candidate intent model runs on live turns without answering.

The turn only hands the message over (``observe``: a put into a bounded queue, no I/O, no
waiting); one background task per process classifies it with the workspace's shadow model
and records what each model said in ``shadow_results``. A full queue drops the observation
(counted in ``dropped``) rather than slow a turn down. Only turns the live *model* decided
are compared (a rule or keyword match says nothing about the model).

    report = await agreement(store, workspace_id, model_id)   agreement rate, and the most
                                                              frequent disagreements with
                                                              examples
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, cast

from smartsupport import stopping
from smartsupport.domain import Understanding, utcnow
from smartsupport.ids import new_id
from smartsupport.nlu import training
from smartsupport.nlu.classifier import IntentModel
from smartsupport.review.store import ReviewStore, cipher
from smartsupport.storage.base import SqlDatabase

log = logging.getLogger("smartsupport.review")

QUEUE_SIZE = 1000
REFRESH_SECONDS = 30.0  # how soon a shadow model started elsewhere is picked up
MODEL_SOURCES = ("model", "none")  # the live understanding came from the intent model


class Shadow:
    def __init__(self, store: object) -> None:
        self.store = store
        self.dropped = 0
        self._queue: asyncio.Queue[tuple[str, str, str, str | None]] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        # workspace -> (refresh after, model id, model)
        self._models: dict[str, tuple[float, str | None, IntentModel | None]] = {}

    def observe(self, workspace_id: str, message_id: str, text: str, nlu: Understanding) -> None:
        """Hand a live turn to the shadow model; returns at once."""
        if nlu.source not in MODEL_SOURCES:
            return
        live = None if nlu.out_of_scope else nlu.intent
        try:
            self._queue.put_nowait((workspace_id, message_id, text, live))
        except asyncio.QueueFull:
            self.dropped += 1
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def forget(self, workspace_id: str) -> None:
        self._models.pop(workspace_id, None)

    async def _model(self, workspace_id: str) -> tuple[str | None, IntentModel | None]:
        kept = self._models.get(workspace_id)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1], kept[2]
        found = await ReviewStore(self.store).with_status(workspace_id, "shadow")
        model = None
        if found is not None:
            if kept is not None and kept[1] == found.id:
                model = kept[2]
            else:
                try:
                    model = await asyncio.to_thread(training.load, Path(found.path))
                except Exception as exc:  # noqa: BLE001 - shadowing must never break a turn
                    log.warning("shadow model %s cannot be loaded: %s", found.id, exc)
        model_id = found.id if found is not None and model is not None else None
        self._models[workspace_id] = (time.monotonic() + REFRESH_SECONDS, model_id, model)
        return model_id, model

    async def _run(self) -> None:
        while True:
            workspace_id, message_id, text, live = await self._queue.get()
            try:
                await self._compare(workspace_id, message_id, text, live)
            except Exception:  # noqa: BLE001 - one bad observation must not stop the rest
                log.exception("shadow comparison failed for message %s", message_id)
            finally:
                self._queue.task_done()

    async def _compare(
        self, workspace_id: str, message_id: str, text: str, live: str | None
    ) -> None:
        model_id, model = await self._model(workspace_id)
        if model is None:
            return
        prediction = await asyncio.to_thread(model.predict_one, text)
        said = None if prediction.out_of_scope else prediction.ranking[0][0]
        row_id = new_id()
        sealed = cipher(self.store).seal("shadow_results", "text", row_id, text)
        await cast(SqlDatabase, self.store).execute(
            "INSERT INTO shadow_results (id, workspace_id, model_id, message_id, text,"
            " live_intent, shadow_intent, agree, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row_id, workspace_id, model_id, message_id, sealed, live, said, int(said == live),
            utcnow(),
        )  # fmt: skip

    async def drain(self) -> None:
        """Wait until every observation so far is compared (tests, shutdown)."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            await stopping.stop(self._task)


EXAMPLES = 3
TOP_DISAGREEMENTS = 10


async def agreement(store: object, workspace_id: str, model_id: str) -> dict[str, Any]:
    """How often the shadow model agreed with the live one, and where it did not."""
    rows = await cast(SqlDatabase, store).fetch(
        "SELECT id, live_intent, shadow_intent, agree, text FROM shadow_results"
        " WHERE workspace_id = ? AND model_id = ? ORDER BY created_at DESC LIMIT 100000",
        workspace_id,
        model_id,
    )
    fields = cipher(store)
    pairs: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row["agree"]:
            continue
        pair = (row["live_intent"] or "(out of scope)", row["shadow_intent"] or "(out of scope)")
        pairs[pair] += 1
        if len(examples[pair]) < EXAMPLES:
            examples[pair].append(fields.open("shadow_results", "text", row["id"], row["text"]))
    agreed = sum(1 for row in rows if row["agree"])
    return {
        "model_id": model_id,
        "turns": len(rows),
        "agreed": agreed,
        "agreement": round(agreed / len(rows), 4) if rows else None,
        "disagreements": [
            {"live": live, "shadow": shadow, "count": n, "examples": examples[(live, shadow)]}
            for (live, shadow), n in pairs.most_common(TOP_DISAGREEMENTS)
        ],
    }
