"""Which flow a message starts, when that is an A/B test's to decide (review/experiments.py).

The dialogue manager does not know the review features: the wiring hands it a
``FlowChoice``, asked with the turn and the flow the intent starts by configuration. It
returns a ``Chosen`` flow with its marks (the variant: on the flow's replies and its
start and end events) and the events to record when it starts (the exposure).

The choice is made once per message and kept in the dialogue state (``choice``), so the
assistant's "would this start a flow?" and the start itself agree even when the experiment
changes in between; an offer to start the flow, accepted on the next message, starts the
flow chosen for the message that asked about it (``offered``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from smartsupport.turn import Turn

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Chosen:
    """The flow a message starts, what marks it (``meta`` on its replies and in its
    events) and the events recorded when it starts (an experiment's exposure)."""

    flow: str
    meta: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


# Given the turn and the flow its intent starts by configuration: the flow that starts.
FlowChoice = Callable[[Turn, str], Awaitable[Chosen]]


async def choose(
    state: dict[str, Any],
    turn: Turn,
    configured: str,
    flows: Collection[str],
    flow_choice: FlowChoice | None,
) -> Chosen:
    """The flow this message starts instead of ``configured``: asked once per message."""
    kept = _kept(state)
    if kept is not None and state["choice"].get("message") == turn.message.id:
        return kept
    chosen = Chosen(configured)
    if flow_choice is not None:
        chosen = await flow_choice(turn, configured)
    if chosen.flow not in flows:
        # flows.yaml changed under a running experiment (it was checked when it began).
        log.warning("flow %r of an experiment is gone; %r starts", chosen.flow, configured)
        chosen = Chosen(configured)
    state["choice"] = {
        "message": turn.message.id, "flow": chosen.flow, "meta": chosen.meta,
        "events": [list(event) for event in chosen.events],
    }  # fmt: skip
    return chosen


def offered(state: dict[str, Any], name: str) -> Chosen | None:
    """The choice an accepted offer of flow ``name`` came from (the previous message's)."""
    kept = _kept(state)
    state.pop("choice", None)
    return kept if kept is not None and kept.flow == name else None


def _kept(state: dict[str, Any]) -> Chosen | None:
    kept = state.get("choice")
    if not isinstance(kept, dict):
        return None
    return Chosen(kept["flow"], kept["meta"], [(k, d) for k, d in kept["events"]])
