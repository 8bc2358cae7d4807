"""The review features' hook in a live turn, kept to two calls in ``assistant.decide``:

    live.observe(turn)               shadow mode: hand the message to the candidate model;
                                     and, at most every ``MODEL_CHECK_SECONDS``, look (in the
                                     background) for a model another process deployed
    await live.apply(turn, decision) experiments: the conversation's variant of an intent's
                                     response, and the exposure as an event of the decision

``observe`` never waits: no I/O on the turn's path.
"""

from __future__ import annotations

import asyncio
import logging
import time

from smartsupport.nlu.engine import NluEngine
from smartsupport.review.experiments import LiveExperiments
from smartsupport.review.retrain import restore_deployed
from smartsupport.review.shadow import Shadow
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger("smartsupport.review")

# How soon a model deployed by another server (or `smartsupport review retrain`) answers here.
MODEL_CHECK_SECONDS = 30.0


class LiveReview:
    def __init__(self, store: object, engine: NluEngine | None = None) -> None:
        self.store = store
        self.engine = engine
        self.experiments = LiveExperiments(store)
        self.shadow = Shadow(store)
        self._next_check: dict[str, float] = {}
        self._checks: set[asyncio.Task[None]] = set()

    def observe(self, turn: Turn) -> None:
        self.shadow.observe(
            turn.workspace.id, turn.message.id, turn.message.text, turn.understanding
        )
        self._check_model(turn.workspace)

    async def apply(self, turn: Turn, decision: Decision) -> None:
        await self.experiments.apply(turn, decision)

    def _check_model(self, workspace: WorkspaceConfig) -> None:
        now = time.monotonic()
        if self.engine is None or self._next_check.get(workspace.id, 0.0) > now:
            return
        self._next_check[workspace.id] = now + MODEL_CHECK_SECONDS
        task = asyncio.get_running_loop().create_task(self._load_deployed(workspace))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _load_deployed(self, workspace: WorkspaceConfig) -> None:
        assert self.engine is not None
        try:
            found = await restore_deployed(self.store, self.engine, workspace, warn=False)
        except Exception:  # noqa: BLE001 - the live model simply stays
            log.exception("review: looking for a newly deployed model of %s", workspace.id)
            return
        if found is not None:
            log.info("review: model %s of %s deployed elsewhere now answers here", found.id,
                     workspace.id)  # fmt: skip

    async def close(self) -> None:
        for task in list(self._checks):
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)
        await self.shadow.close()
