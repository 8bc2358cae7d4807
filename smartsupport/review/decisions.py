"""The review queue as reviewers see it, and what they decide about it.

    clusters = await review_queue(store, workspace)      misunderstood messages grouped
    await decide(store, workspace, ids, "assign", intent="order_status", staff_id=...)

A reviewer assigns a cluster (all its message ids) or one message to an existing intent,
creates a new intent from them, marks them "needs an article", or dismisses them. The
decisions wait in ``review_decisions`` until the next retraining (``retrain.py``) turns the
labelled ones into training examples and test cases.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from smartsupport.errors import Conflict, InvalidInput, NotFound
from smartsupport.nlu.schema import NluSpec, parse_nlu_section
from smartsupport.review.clusters import MAX_TEXTS, group
from smartsupport.review.queue import Misunderstood, misunderstood
from smartsupport.review.store import ACTIONS, ReviewStore
from smartsupport.workspaces import WorkspaceConfig

SHOWN_EXAMPLES = 5
MAX_DECIDED = 2000  # message ids in one decision
INTENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")  # as nlu/schema.py


@dataclass(slots=True)
class Cluster:
    key: str  # the id of its most central message: stable while the cluster is
    title: str
    items: list[Misunderstood]
    suggested_intent: str | None

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def reasons(self) -> dict[str, int]:
        counts = Counter(reason for item in self.items for reason in item.reasons)
        return dict(sorted(counts.items()))

    @property
    def message_ids(self) -> list[str]:
        return [item.message_id for item in self.items]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "size": self.size,
            "reasons": self.reasons,
            "suggested_intent": self.suggested_intent,
            "examples": [item.as_json() for item in self.items[:SHOWN_EXAMPLES]],
            "message_ids": self.message_ids,
        }


def nlu_spec(workspace: WorkspaceConfig) -> NluSpec:
    where = f"{workspace.source_dir or workspace.id}/intents.yaml"
    return workspace.parsed("nlu", lambda data: parse_nlu_section(data, where=where))


async def known_intents(store: object, workspace: WorkspaceConfig) -> list[str]:
    """The intents a message can be assigned to: intents.yaml's and those reviewers made."""
    learned = await ReviewStore(store).learned_intents(workspace.id)
    return sorted(set(nlu_spec(workspace).intents) | learned)


async def review_queue(
    store: object, workspace: WorkspaceConfig, *, days: int = 30, low_confidence: float = 0.5
) -> list[Cluster]:
    """The workspace's undecided misunderstood messages in clusters, largest first."""
    if not 1 <= days <= 366:
        raise InvalidInput(f"days must be between 1 and 366, not {days}")
    await ReviewStore(store).forget_erased(workspace.id)
    items = (await misunderstood(store, workspace.id, days=days, low_confidence=low_confidence))[
        :MAX_TEXTS
    ]
    groups = await asyncio.to_thread(group, [item.text for item in items])
    clusters = []
    for indexes in groups:
        members = [items[i] for i in indexes]
        guesses = Counter(m.intent for m in members if m.intent)
        clusters.append(
            Cluster(
                key=members[0].message_id,
                title=members[0].text,
                items=members,
                suggested_intent=guesses.most_common(1)[0][0] if guesses else None,
            )
        )
    return clusters


async def decide(
    store: object,
    workspace: WorkspaceConfig,
    message_ids: list[str],
    action: str,
    *,
    intent: str | None = None,
    staff_id: str | None = None,
) -> int:
    """Record ``action`` for each message; the number of messages decided. ``intent`` is the
    existing intent (assign) or the new intent's name (new_intent)."""
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    ids = list(dict.fromkeys(i for i in message_ids if i))
    if not ids:
        raise InvalidInput("choose at least one message (or a cluster) to decide about")
    if len(ids) > MAX_DECIDED:
        raise InvalidInput(f"at most {MAX_DECIDED} messages per decision, not {len(ids)}")
    intent = (intent or "").strip() or None
    known = await known_intents(store, workspace)
    if action == "assign":
        if intent is None:
            raise InvalidInput("choose the intent to assign the messages to")
        if intent not in known:
            raise InvalidInput(
                f"intent {intent!r} does not exist in workspace {workspace.id!r} (it may have "
                f"been removed from intents.yaml); assign to one of {', '.join(known) or 'none'}"
                " or create a new intent",
                code="unknown_intent",
            )
    elif action == "new_intent":
        if intent is None or not INTENT_NAME.match(intent):
            raise InvalidInput(
                "a new intent needs a name of letters, digits and _ . : - (up to 80), "
                f"starting with a letter or digit, not {intent!r}"
            )
        if intent in nlu_spec(workspace).intents:
            raise Conflict(f"intent {intent!r} already exists; assign the messages to it")
    else:
        intent = None
    review = ReviewStore(store)
    texts = await review.customer_messages(workspace.id, ids)
    missing = [i for i in ids if i not in texts]
    if missing:
        raise NotFound(
            f"{len(missing)} message(s) are not customer messages of workspace "
            f"{workspace.id!r} (deleted, or from another workspace): {', '.join(missing[:5])}"
        )
    return await review.decide(workspace.id, [(i, texts[i]) for i in ids], action, intent, staff_id)
