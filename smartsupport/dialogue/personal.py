"""Personalisation: who the customer is, for flows that should not ask what they know.

An identified customer is ``conversation.metadata["identity"]["user_id"]``, stored only after
``smartsupport.identity.verify`` accepted the business's signed token. When a flow starts,
the workspace's ``profile`` action fetches that customer's profile and order history from the
business's API; templates see it as ``customer`` (with ``identified``) and ``segment`` (e.g.
``vip``), and the flows pass ``customer.id`` to every order call so the API only ever answers
about that customer's own orders. If the profile cannot be fetched the flows carry on as for
a visitor (asking for an order number and email) rather than failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartsupport.dialogue.actions import call_action
from smartsupport.dialogue.engine import Engine, RunResult
from smartsupport.turn import Turn


def identified_user(turn: Turn) -> str | None:
    identity = (turn.conversation.metadata or {}).get("identity")
    if isinstance(identity, Mapping) and isinstance(identity.get("user_id"), str):
        return str(identity["user_id"])
    return None


def segment_of(state: dict[str, Any], turn: Turn) -> str | None:
    """The profile's segment, else one the verified identity carried, else None."""
    profile = state.get("profile") or {}
    identity = (turn.conversation.metadata or {}).get("identity") or {}
    return profile.get("segment") or (
        identity.get("segment") if isinstance(identity, Mapping) else None
    )


async def load_profile(
    engine: Engine, state: dict[str, Any], turn: Turn, out: RunResult
) -> dict[str, Any] | None:
    """The identified customer's profile (refreshed at each flow start, since orders change),
    kept in the dialogue state; None for visitors or when the API cannot answer."""
    user_id = identified_user(turn)
    if user_id is None or engine.config.profile is None:
        state["profile"] = None
        return None
    name = engine.config.profile.action
    spec = engine.config.actions[name]
    result = await call_action(name, spec, engine.backends[spec.backend], {"user_id": user_id})
    out.events.append(("action.called", {"flow": None, **result.event()}))
    if not result.ok:
        state["profile"] = None
        return None
    profile = {**result.data, "id": result.data.get("id") or user_id}
    state["profile"] = profile
    return profile
