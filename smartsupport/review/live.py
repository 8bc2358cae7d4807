"""The review features' hooks in a live turn: two calls in ``assistant.decide``, one after
the turn is recorded:

    live.observe(turn)               at most every ``MODEL_CHECK_SECONDS``, look (in the
                                     background) for a model another process deployed
    await live.apply(turn, decision) experiments: the conversation's variant of an intent's
                                     response, and the exposure as an event of the decision
    live.experiments.choose_flow     flow experiments: handed to the dialogue manager by the
                                     assistant, it picks the flow a message starts
    live.shadow.observe(...)         shadow mode (``assistant.recorded``, after the commit:
                                     its comparison refers to the stored message): hand the
                                     message to the candidate model

``observe`` never waits: no I/O on the turn's path.

    live.follow(backplane, workspaces)   a model deployed by another process (a retraining
                                     job, retrain_jobs.py) goes in place as soon as it is
                                     announced on ``MODELS_CHANNEL``; the 30 s check above
                                     stays as the safety net for a missed announcement
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from smartsupport import stopping
from smartsupport.backplane.base import Backplane
from smartsupport.nlu.engine import NluEngine
from smartsupport.review.experiments import LiveExperiments
from smartsupport.review.retrain import restore_deployed
from smartsupport.review.shadow import Shadow
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger("smartsupport.review")

# How soon a model deployed by another server (or `smartsupport review retrain`) answers here.
MODEL_CHECK_SECONDS = 30.0
MODELS_CHANNEL = "review.models"  # {"workspace", "model", "status"}: a retraining's outcome


class LiveReview:
    def __init__(self, store: object, engine: NluEngine | None = None) -> None:
        self.store = store
        self.engine = engine
        self.experiments = LiveExperiments(store)
        self.shadow = Shadow(store)
        self._next_check: dict[str, float] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self._follower: asyncio.Task[None] | None = None

    def follow(self, backplane: Backplane, workspaces: Mapping[str, WorkspaceConfig]) -> None:
        """Listen for retraining outcomes announced by any process (until ``close``)."""
        self._follower = asyncio.get_running_loop().create_task(
            self._follow(backplane, workspaces), name="smartsupport-review-models"
        )

    async def _follow(
        self, backplane: Backplane, workspaces: Mapping[str, WorkspaceConfig]
    ) -> None:
        while True:
            try:
                subscription = await backplane.subscribe(MODELS_CHANNEL)
                try:
                    async for message in subscription:
                        named = str(message.get("workspace"))
                        # RESYNC (the backplane came back): an announcement may be lost.
                        for workspace_id in [named] if named in workspaces else list(workspaces):
                            self.shadow.forget(workspace_id)
                            if self.engine is not None:
                                await self._load_deployed(workspaces[workspace_id])
                finally:
                    await subscription.close()
                return  # the backplane closed the subscription: the process is stopping
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the 30 s check still finds new models
                log.exception("review: following deployed models; again in 5 s")
                await asyncio.sleep(5.0)

    def observe(self, turn: Turn) -> None:
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
        await stopping.stop(self._follower, *self._checks)
        await self.shadow.close()
