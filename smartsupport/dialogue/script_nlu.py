"""How conversation scripts understand customer turns.

``default_understander`` uses the NLU engine (``smartsupport.nlu.engine.NluEngine``) when it
is installed in this tree, so scripts test the real pipeline end to end. ``KeywordNlu`` is a
small stand-in with the demo shop's vocabulary, for running the dialogue scripts without the
NLU engine (``--nlu keyword``); it is deliberately simple and never used by the server.
"""

from __future__ import annotations

import importlib.util
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from smartsupport.domain import Entity, Understanding
from smartsupport.workspaces import WorkspaceConfig

INTENTS: list[tuple[str, str]] = [
    ("human_agent", r"\b(agent|human|real person|a person|representative|operator)\b"),
    ("refund_status", r"\brefund"),
    ("cancel_order", r"\bcancel\b"),
    ("return_item", r"\b(return|send (it |them )?back)\b"),
    ("change_address", r"\b(address|deliver (it|them) to|ship (it|them) to)\b"),
    ("stock_check", r"\b(in stock|stock|available in|do you have|in size)\b"),
    (
        "order_status",
        r"\b(where|track|tracking|order status|my order|package|parcel|"
        r"hasn'?t arrived|shipped)\b|\bORD-?\d+",
    ),
    ("shipping_info", r"\b(shipping|delivery (time|cost)|how long does delivery)\b"),
    ("payment", r"\b(pay|payment|card|paypal|apple pay)\b"),
    ("account", r"\b(account|password|log ?in|sign ?in)\b"),
    ("greeting", r"^(hi|hello|hey|good (morning|afternoon|evening))\b"),
    ("thanks", r"\b(thanks|thank you|cheers)\b"),
    ("goodbye", r"\b(bye|goodbye|see you)\b"),
    ("complaint", r"\b(terrible|awful|angry|complain|complaint|unacceptable)\b"),
]
Understander = Callable[[WorkspaceConfig, str], Awaitable[Understanding]]
ENTITIES: list[tuple[str, str]] = [
    ("order_id", r"(?i)\bORD-?\d{3,8}\b"),
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("product_id", r"(?i)\bSKU-\d{4}\b"),
]


class KeywordNlu:
    """Regular expressions over the demo vocabulary: enough to drive the flows."""

    def __init__(self) -> None:
        self._intents = [(name, re.compile(p, re.IGNORECASE)) for name, p in INTENTS]
        self._entities = [(name, re.compile(p)) for name, p in ENTITIES]

    async def __call__(self, workspace: WorkspaceConfig, text: str) -> Understanding:
        entities = []
        for name, pattern in self._entities:
            for m in pattern.finditer(text):
                value: Any = m.group(0)
                if name == "order_id":
                    value = re.sub(r"(?i)^ORD-?", "ORD-", value).upper()
                elif name == "email":
                    value = value.lower()
                else:
                    value = value.upper()
                entities.append(Entity(name, value, m.start(), m.end(), m.group(0)))
        intent = next((name for name, p in self._intents if p.search(text)), None)
        return Understanding(
            language=workspace.default_locale,
            intent=intent,
            confidence=0.9 if intent else 0.0,
            out_of_scope=intent is None,
            entities=entities,
            source="keyword",
        )


async def default_understander(
    workspaces: dict[str, WorkspaceConfig], mode: str = "auto", data_dir: Path | None = None
) -> Understander:
    """``engine``: the NLU engine for every workspace; ``keyword``: the stand-in; ``auto``:
    the engine for workspaces with an ``nlu`` section (intents.yaml) when it is installed,
    the stand-in for the rest. Trained models are kept under ``data_dir`` (default: a
    folder in the system's temporary directory, so repeated runs do not retrain)."""
    keyword = KeywordNlu()
    if mode == "keyword" or (mode == "auto" and not _engine_installed()):
        return keyword
    from smartsupport.nlu.engine import NluEngine

    engine = NluEngine(data_dir or Path(tempfile.gettempdir()) / "smartsupport-script-nlu")
    prepared = set()
    for workspace in workspaces.values():
        if mode == "engine" or workspace.section("nlu"):
            await engine.prepare(workspace)
            prepared.add(workspace.id)

    async def understand(workspace: WorkspaceConfig, text: str) -> Understanding:
        if workspace.id in prepared:
            return await engine.understand(workspace.id, text)
        return await keyword(workspace, text)

    return understand


def _engine_installed() -> bool:
    try:
        return importlib.util.find_spec("smartsupport.nlu.engine") is not None
    except ModuleNotFoundError:  # no smartsupport.nlu package at all
        return False
