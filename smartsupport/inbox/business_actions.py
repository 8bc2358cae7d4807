"""The business's API as the inbox calls it: the same HTTP actions the flows use.

Macros (macro_runs.py) and the side panel's order and product cards (order_cards.py) call a
workspace's ``flows.yaml`` actions through ``dialogue.actions.call_action``, with the
backends, credentials, retries and circuit breakers the assistant's flows already hold (one
breaker per backend in a process, so a dead shop API is noticed once, by everyone).

An action's templates see what a flow would: ``slots.order_id`` (the order the customer
mentioned), ``slots.email`` (the customer's, or the contact form's), ``customer.id`` for a
verified customer, the macro's own ``slots``, ``facts``, and ``macro.run_id`` (an
idempotency key a business API can de-duplicate a refund by).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartsupport.dialogue.actions import ActionResult, call_action
from smartsupport.dialogue.engine import Engine
from smartsupport.domain import Conversation
from smartsupport.services import Services


def engine_of(services: Services, workspace_id: str) -> Engine | None:
    """The workspace's flows engine (its actions and backends), None without flows.yaml.
    The assistant owns it; an assistant that runs no flows has none."""
    dialogue = getattr(services.assistant, "dialogue", None)
    engines = getattr(dialogue, "engines", None)
    engine = engines.get(workspace_id) if isinstance(engines, Mapping) else None
    return engine if isinstance(engine, Engine) else None


def action_names(services: Services, workspace_id: str) -> set[str]:
    engine = engine_of(services, workspace_id)
    return set(engine.config.actions) if engine else set()


def scope(
    conversation: Conversation,
    *,
    order_id: str | None,
    email: str | None,
    slots: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    identity = conversation.metadata.get("identity")
    user_id = identity.get("user_id") if isinstance(identity, Mapping) else None
    user_id = user_id if isinstance(user_id, str) else None
    return {
        "slots": {"order_id": order_id, "email": email, **(slots or {})},
        "customer": {"id": user_id} if user_id else None,
        "identified": user_id is not None,
        "user_id": user_id,
        "facts": dict(facts or {}),
        "macro": {"run_id": run_id},
    }


async def call(
    services: Services, workspace_id: str, name: str, values: Mapping[str, Any]
) -> ActionResult:
    """Run one action of the workspace; a missing engine or action is an ``error`` outcome
    like any other failed call (never an exception: the caller reports it)."""
    engine = engine_of(services, workspace_id)
    spec = engine.config.actions.get(name) if engine else None
    if engine is None or spec is None:
        return ActionResult(name, "error", error="action not configured")
    return await call_action(name, spec, engine.backends[spec.backend], values)
