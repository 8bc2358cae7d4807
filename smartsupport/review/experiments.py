"""A/B tests of an intent's response or of the flow it starts: variants, a split sticky by
conversation, figures per variant with a significance test, and a winner promoted by hand.

    experiment = await create(store, workspace, "Friendlier returns", "return_item",
                              [Variant("A", None), Variant("B", "Sure! Returns are free...")])
    report = await results(store, experiment)     per variant: conversations, resolved,
                                                  escalated, thumbs up/down; p-values
    await promote(store, workspace.id, experiment.id, "B")

A variant's ``text`` None keeps the intent's configured response (the control, listed
first). A flow experiment's variants name a ``flow`` of the workspace instead (``kind``
"flow"); its control starts the flow the intent starts by configuration, and
``LiveExperiments.choose_flow`` (handed to the dialogue manager by the assistant) picks the
conversation's flow when one would start. A conversation's variant is a hash of the
experiment and conversation ids, so it sees the same wording (or flow) on every turn and in
every process. The live part (``LiveExperiments``) changes the reply (or picks the flow)
inside the turn's decision and adds an ``experiment.exposure`` event, which the conversation
path records with the turn: deciding stays free of writes.

Figures per variant, over the conversations that were shown it:
    escalated   handed to people after the variant was first shown
    resolved    not escalated and no thumbs down on the variant's answer
    thumbs      ratings of the variant's answers (answer_feedback, analytics' table)
    flows       flow experiments: the variant's flows that ended completed, failed, cancelled
                or handed off (the flow end events, marked with the variant)
Significance: resolution rate of each variant against the control, two-proportion z test;
Fisher's exact test when an expected count is below 5.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from smartsupport.dialogue.choice import Chosen
from smartsupport.domain import utcnow
from smartsupport.errors import BackendError, InvalidInput, NotFound
from smartsupport.ids import new_id
from smartsupport.storage.base import SqlDatabase
from smartsupport.turn import Decision, Turn

REFRESH_SECONDS = 5.0  # how soon another process sees a started, promoted or stopped test
MAX_TEXT = 2000


@dataclass(slots=True)
class Variant:
    name: str
    text: str | None  # None: the intent's configured response
    weight: float = 1.0
    flow: str | None = None  # a flow experiment's variant: the flow it starts

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "text": self.text, "weight": self.weight, "flow": self.flow}


@dataclass(slots=True)
class Experiment:
    id: str
    workspace_id: str
    name: str
    intent: str
    variants: list[Variant]
    status: str
    winner: str | None
    created_by: str | None
    created_at: datetime
    ended_at: datetime | None
    kind: str = "response"  # or "flow": which flow the intent starts

    def variant_for(self, conversation_id: str) -> Variant:
        """The conversation's variant: the same on every turn, in every process."""
        if self.status == "promoted":
            return next(v for v in self.variants if v.name == self.winner)
        digest = hashlib.sha256(f"{self.id}:{conversation_id}".encode()).hexdigest()
        point = int(digest[:12], 16) / float(16**12) * sum(v.weight for v in self.variants)
        for variant in self.variants:
            point -= variant.weight
            if point < 0:
                return variant
        return self.variants[-1]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "intent": self.intent,
            "kind": self.kind,
            "variants": [v.as_json() for v in self.variants],
            "status": self.status,
            "winner": self.winner,
            "created_at": self.created_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }


def _experiment(row: dict[str, Any]) -> Experiment:
    row = dict(row)
    row["variants"] = [Variant(**v) for v in row["variants"]]
    return Experiment(**row)


def _db(store: object) -> SqlDatabase:
    return cast(SqlDatabase, store)


async def create(
    store: object,
    workspace_id: str,
    name: str,
    intent: str,
    variants: list[Variant],
    *,
    known_intents: list[str],
    known_flows: list[str] | None = None,
    intent_flow: str | None = None,
    staff_id: str | None = None,
) -> Experiment:
    """Start an experiment. ``known_flows``: the workspace's flows; ``intent_flow``: the flow
    ``intent`` starts today (a flow experiment needs one)."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("an experiment needs a name of 1 to 120 characters")
    if intent not in known_intents:
        raise InvalidInput(
            f"intent {intent!r} does not exist in workspace {workspace_id!r}; "
            f"choose one of {', '.join(known_intents) or 'none'}",
            code="unknown_intent",
        )
    if len(variants) < 2:
        raise InvalidInput("an experiment needs at least two variants")
    names = [v.name.strip() for v in variants]
    if any(not n or len(n) > 40 for n in names) or len(set(names)) != len(names):
        raise InvalidInput("variant names must be distinct, 1 to 40 characters")
    for variant in variants:
        if variant.text is not None and not 0 < len(variant.text.strip()) <= MAX_TEXT:
            raise InvalidInput(f"variant {variant.name!r}: a response of 1 to {MAX_TEXT} chars")
        if not 0 < variant.weight <= 1000 or math.isnan(variant.weight):
            raise InvalidInput(f"variant {variant.name!r}: weight must be above 0")
    kind = _kind(workspace_id, intent, variants, known_flows or [], intent_flow)
    experiment = Experiment(
        id=new_id(),
        workspace_id=workspace_id,
        name=name,
        intent=intent,
        variants=[
            Variant(n, v.text and v.text.strip(), v.weight, v.flow)
            for n, v in zip(names, variants, strict=True)
        ],
        status="running",
        winner=None,
        created_by=staff_id,
        created_at=utcnow(),
        ended_at=None,
        kind=kind,
    )
    await _db(store).execute(
        "INSERT INTO experiments (id, workspace_id, name, intent, variants, status, created_by,"
        " created_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        experiment.id, workspace_id, name, intent,
        [v.as_json() for v in experiment.variants], "running", staff_id, experiment.created_at,
        kind,
    )  # fmt: skip
    return experiment


def _kind(
    workspace_id: str,
    intent: str,
    variants: list[Variant],
    known_flows: list[str],
    intent_flow: str | None,
) -> str:
    """ "response" or "flow", or InvalidInput naming what is wrong: every variant after the
    control gives a response text or names a flow (exactly one), all of one kind."""
    control, *others = variants
    for variant in others:
        if (variant.text is None) == (variant.flow is None):
            raise InvalidInput(
                f"variant {variant.name!r}: give either a response text or a flow, not "
                + ("both" if variant.text is not None else "neither"),
                code="invalid_variant",
            )
    if control.flow is not None:
        raise InvalidInput(
            f"the control {control.name!r} keeps what the intent does today: no flow",
            code="invalid_variant",
        )
    flows = [v for v in others if v.flow is not None]
    if not flows:
        return "response"
    if len(flows) != len(others) or control.text is not None:
        raise InvalidInput(
            "an experiment tests either response texts or flows, not both",
            code="invalid_variant",
        )
    available = ", ".join(known_flows) or "none"
    for variant in flows:
        if variant.flow not in known_flows:
            raise InvalidInput(
                f"variant {variant.name!r}: flow {variant.flow!r} does not exist in workspace"
                f" {workspace_id!r}; choose one of {available}",
                code="unknown_flow",
            )
    if intent_flow is None:
        raise InvalidInput(
            f"intent {intent!r} starts no flow in workspace {workspace_id!r}, so a flow"
            " experiment has no control; give the variants response texts, or add the intent"
            " to a flow's intents in flows.yaml",
            code="intent_starts_no_flow",
        )
    return "flow"


async def list_experiments(store: object, workspace_id: str) -> list[Experiment]:
    rows = await _db(store).fetch(
        "SELECT * FROM experiments WHERE workspace_id = ? ORDER BY created_at DESC, id",
        workspace_id,
    )
    return [_experiment(row) for row in rows]


async def get(store: object, workspace_id: str, experiment_id: str) -> Experiment:
    row = await _db(store).fetchrow(
        "SELECT * FROM experiments WHERE workspace_id = ? AND id = ?", workspace_id, experiment_id
    )
    if row is None:
        raise NotFound(f"no experiment {experiment_id!r} in workspace {workspace_id!r}")
    return _experiment(row)


async def promote(store: object, workspace_id: str, experiment_id: str, winner: str) -> Experiment:
    """Every conversation gets ``winner`` from now on (copy it into intents.yaml to keep it)."""
    experiment = await get(store, workspace_id, experiment_id)
    if winner not in [v.name for v in experiment.variants]:
        raise InvalidInput(f"experiment {experiment.name!r} has no variant {winner!r}")
    if experiment.status != "running":
        raise InvalidInput(f"experiment {experiment.name!r} is {experiment.status}, not running")
    await _db(store).execute(
        "UPDATE experiments SET status = 'promoted', winner = ?, ended_at = ? WHERE id = ?",
        winner, utcnow(), experiment_id,
    )  # fmt: skip
    return await get(store, workspace_id, experiment_id)


async def stop(store: object, workspace_id: str, experiment_id: str) -> Experiment:
    """Back to the configured response for everyone; the figures stay."""
    await get(store, workspace_id, experiment_id)
    await _db(store).execute(
        "UPDATE experiments SET status = 'stopped', ended_at = ? WHERE id = ?",
        utcnow(), experiment_id,
    )  # fmt: skip
    return await get(store, workspace_id, experiment_id)


# -- figures -------------------------------------------------------------------------------
async def results(store: object, experiment: Experiment) -> dict[str, Any]:
    """Per variant: conversations shown it, escalated, resolved, thumbs; p-values against
    the control (the first variant)."""
    db = _db(store)
    shown = await db.fetch(
        "SELECT x.variant, x.conversation_id, EXISTS (SELECT 1 FROM events s"
        "  WHERE s.conversation_id = x.conversation_id AND s.type = 'conversation.status'"
        "  AND s.data->>'status' = 'waiting_for_agent' AND s.id > x.first_id) AS escalated"
        " FROM (SELECT e.data->>'variant' AS variant, e.conversation_id, MIN(e.id) AS first_id"
        "  FROM events e WHERE e.workspace_id = ? AND e.type = 'experiment.exposure'"
        "  AND e.data->>'experiment' = ? GROUP BY e.data->>'variant', e.conversation_id) x",
        experiment.workspace_id,
        experiment.id,
    )
    ratings: list[dict[str, Any]] = []
    try:
        ratings = await db.fetch(
            "SELECT m.meta->>'variant' AS variant, m.conversation_id, f.rating"
            " FROM answer_feedback f JOIN messages m ON m.id = f.message_id"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.workspace_id = ? AND m.meta->>'experiment' = ?",
            experiment.workspace_id,
            experiment.id,
        )
    except BackendError:
        pass  # no answer_feedback table (analytics' migration 0020) in this database
    figures: dict[str, dict[str, Any]] = {
        v.name: {"conversations": 0, "escalated": 0, "resolved": 0, "thumbs_up": 0,
                 "thumbs_down": 0}
        for v in experiment.variants
    }  # fmt: skip
    unhappy = {(r["variant"], r["conversation_id"]) for r in ratings if r["rating"] < 0}
    for row in ratings:
        if row["variant"] in figures:
            figures[row["variant"]]["thumbs_up" if row["rating"] > 0 else "thumbs_down"] += 1
    for row in shown:
        found = figures.get(row["variant"])
        if found is None:
            continue
        found["conversations"] += 1
        if row["escalated"]:
            found["escalated"] += 1
        elif (row["variant"], row["conversation_id"]) not in unhappy:
            found["resolved"] += 1
    if experiment.kind == "flow":
        await _flow_outcomes(db, experiment, figures)
    control = experiment.variants[0].name
    variants = []
    for variant in experiment.variants:
        found = figures[variant.name]
        n = found["conversations"]
        found["resolution_rate"] = round(found["resolved"] / n, 4) if n else None
        found["escalation_rate"] = round(found["escalated"] / n, 4) if n else None
        if variant.name != control:
            base = figures[control]
            found["versus_control"] = significance(
                found["resolved"], n, base["resolved"], base["conversations"]
            )
        variants.append({"name": variant.name, "text": variant.text, "flow": variant.flow, **found})
    return {"experiment": experiment.as_json(), "control": control, "variants": variants}


async def _flow_outcomes(
    db: SqlDatabase, experiment: Experiment, figures: dict[str, dict[str, Any]]
) -> None:
    """How the flows a flow experiment started ended, per variant: the flow end events
    carry the variant (dialogue/manager.py ``_end``); a handoff is a ``flow.failed``
    with status "handoff"."""
    rows = await db.fetch(
        "SELECT data->>'variant' AS variant, type, data->>'status' AS status,"
        " COUNT(*) AS n FROM events WHERE workspace_id = ?"
        " AND type IN ('flow.completed', 'flow.failed', 'flow.cancelled')"
        " AND data->>'experiment' = ? GROUP BY data->>'variant', type, data->>'status'",
        experiment.workspace_id,
        experiment.id,
    )
    for found in figures.values():
        found["flows"] = {"completed": 0, "failed": 0, "cancelled": 0, "handed_off": 0}
    for row in rows:
        if row["variant"] not in figures:
            continue
        if row["type"] == "flow.failed":
            outcome = "handed_off" if row["status"] == "handoff" else "failed"
        else:
            outcome = row["type"].removeprefix("flow.")
        figures[row["variant"]]["flows"][outcome] += int(row["n"])


def significance(successes_a: int, n_a: int, successes_b: int, n_b: int) -> dict[str, Any]:
    """Is rate a different from rate b? Two-proportion z test (pooled, two-sided), or
    Fisher's exact test when an expected cell count is below 5."""
    if not n_a or not n_b:
        return {"test": None, "p_value": None, "significant": False, "difference": None}
    difference = round(successes_a / n_a - successes_b / n_b, 4)
    pooled = (successes_a + successes_b) / (n_a + n_b)
    expected = [n * p for n in (n_a, n_b) for p in (pooled, 1 - pooled)]
    if min(expected) < 5:
        from scipy.stats import fisher_exact

        table = [[successes_a, n_a - successes_a], [successes_b, n_b - successes_b]]
        p_value = float(fisher_exact(table)[1])
        test = "fisher"
    else:
        se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        z = (successes_a / n_a - successes_b / n_b) / se
        p_value = math.erfc(abs(z) / math.sqrt(2))
        test = "z"
    return {
        "test": test,
        "p_value": round(p_value, 6),
        "significant": p_value < 0.05,
        "difference": difference,
    }


# -- the live part -----------------------------------------------------------------------------
class LiveExperiments:
    """Changes an intent's response, or the flow it starts, for conversations in a variant.
    Reads the workspace's live experiments at most every ``REFRESH_SECONDS``; never writes
    (the exposure is an event of the turn's decision)."""

    def __init__(self, store: object) -> None:
        self.store = store
        self._live: dict[str, tuple[float, dict[str, Experiment]]] = {}

    def forget(self, workspace_id: str) -> None:
        """Read again at the next turn (this process just changed an experiment)."""
        self._live.pop(workspace_id, None)

    async def _experiments(self, workspace_id: str) -> dict[str, Experiment]:
        kept = self._live.get(workspace_id)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        rows = await _db(self.store).fetch(
            "SELECT * FROM experiments"
            " WHERE workspace_id = ? AND status IN ('running', 'promoted')",
            workspace_id,
        )
        live = {row["intent"]: _experiment(row) for row in rows}
        self._live[workspace_id] = (time.monotonic() + REFRESH_SECONDS, live)
        return live

    async def choose_flow(self, turn: Turn, flow: str) -> Chosen:
        """The flow that starts where the turn's intent starts ``flow`` by configuration:
        the conversation's variant's (the control keeps ``flow``); while the experiment
        runs, marked with the variant and with an exposure event for the turn."""
        live = await self._experiments(turn.workspace.id)
        experiment = live.get(str(turn.understanding.intent))
        if experiment is None or experiment.kind != "flow":
            return Chosen(flow)
        variant = experiment.variant_for(turn.conversation.id)
        chosen = Chosen(variant.flow or flow)
        if experiment.status == "running":
            chosen.meta = {"experiment": experiment.id, "variant": variant.name}
            exposure = {
                "experiment": experiment.id,
                "variant": variant.name,
                "intent": experiment.intent,
                "flow": chosen.flow,
                "message_id": turn.message.id,
            }
            chosen.events.append(("experiment.exposure", exposure))
        return chosen

    async def apply(self, turn: Turn, decision: Decision) -> None:
        answers = [r for r in decision.replies if r.meta.get("step") == "intent_response"]
        if not answers:
            return
        live = await self._experiments(turn.workspace.id)
        for reply in answers:
            experiment = live.get(str(reply.meta.get("intent")))
            if experiment is None or experiment.kind != "response":
                continue
            variant = experiment.variant_for(turn.conversation.id)
            if variant.text is not None:
                reply.text = variant.text
            if experiment.status == "running":
                reply.meta.update(experiment=experiment.id, variant=variant.name)
                decision.events.append(
                    (
                        "experiment.exposure",
                        {
                            "experiment": experiment.id,
                            "variant": variant.name,
                            "intent": experiment.intent,
                            "message_id": turn.message.id,
                        },
                    )  # fmt: skip
                )
