"""Conversation tests as data: YAML scripts of customer turns and expected bot behaviour.

    name: cancel an order, then change my mind
    identity: cust-maria          # optional: an identified (signed-in) customer
    shop: ok                      # ok | timeout | garbage | error | wrong-shape | flaky |
                                  # unauthorized | unreachable  (how the shop API behaves)
    turns:
      - user: I want to cancel my order
        expect:
          intent: cancel_order    # what the NLU understood
          flow: cancel_order      # the active flow, or the one that ended this turn
          status: waiting         # waiting | completed | cancelled | failed | handoff | none
          slots: {order_id: ORD-10235}
          action: get_order       # called this turn (a name or a list)
          says: [ORD-10235, "can't be undone"]   # case-insensitive substrings of the replies
          not_says: [ORD-10236]
          quick_replies: ["Yes, cancel it"]
          handoff: false          # did the turn hand the conversation to a person?
          fallthrough: false      # True: no flow took the turn (knowledge answers would)

The runner (``run_scripts``) starts the demo shop's real HTTP API and a misbehaving server on
free ports, builds a fresh ``DialogueManager`` per script, understands each turn with the NLU
engine (or, until a workspace has one, the keyword stand-in in ``script_nlu``), and round-
trips the session context through JSON after every turn, as the conversation path does.
Both ``pytest`` (tests/test_conversation_scripts.py) and ``smartsupport test-conversations``
use it.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartsupport.context import ConversationContext
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.servers import BadServer, ShopServer, free_port
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Entity,
    Message,
    Understanding,
)
from smartsupport.errors import ConfigurationError
from smartsupport.turn import Turn
from smartsupport.workspaces import WorkspaceConfig

SHOP_TOKEN = "test-shop-token-7f3a9c"  # the shop API's key in scripts; must never leak
Understander = Callable[[WorkspaceConfig, str], Awaitable[Understanding]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntityIn(_Strict):
    type: str
    value: Any
    text: str | None = None


class UnderstandingIn(_Strict):
    intent: str | None = None
    confidence: float = 0.95
    entities: list[EntityIn] = Field(default_factory=list)


class Expect(_Strict):
    intent: str | None = None
    flow: str | None = None
    status: Literal["waiting", "completed", "cancelled", "failed", "handoff", "none"] | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    action: str | list[str] | None = None
    no_action: bool = False
    says: list[str] = Field(default_factory=list)
    not_says: list[str] = Field(default_factory=list)
    quick_replies: list[str] = Field(default_factory=list)
    handoff: bool | None = None
    fallthrough: bool | None = None


class ScriptTurn(_Strict):
    user: str = Field(min_length=1)
    understanding: UnderstandingIn | None = None  # pin the NLU result for this turn
    expect: Expect = Field(default_factory=Expect)

    @field_validator("user", mode="before")
    @classmethod
    def _yaml_words(cls, value: Any) -> Any:
        # YAML reads a bare yes / no / on / off as a boolean and 42 as a number.
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value) if isinstance(value, int | float) else value


class Script(_Strict):
    name: str
    description: str = ""
    workspace: str = "demo"
    identity: str | None = None
    segment: str | None = None
    shop: Literal[
        "ok", "timeout", "garbage", "error", "wrong-shape", "flaky", "unauthorized", "unreachable"
    ] = "ok"
    turns: list[ScriptTurn] = Field(min_length=1)
    path: str = ""


@dataclass
class ScriptResult:
    script: Script
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_scripts(path: Path) -> list[Script]:
    """One YAML file, or every ``*.yaml``/``*.yml`` in a directory (sorted)."""
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    if not files:
        raise ConfigurationError(f"{path}: no conversation scripts (*.yaml) found")
    scripts = []
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
            scripts.append(Script.model_validate({**(data or {}), "path": str(file)}))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"{file}: cannot read the script: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigurationError(f"{file}: invalid conversation script: {problems}") from exc
    return scripts


class ScriptHarness:
    """The servers and the NLU for running scripts; reusable across many scripts.

    async with ScriptHarness(workspaces) as harness:
        result = await harness.run(script)      # fresh shop data and breakers per script
    """

    def __init__(
        self, workspaces: dict[str, WorkspaceConfig], understand: Understander | None = None
    ) -> None:
        self.workspaces = workspaces
        self.understand = understand
        self._stack = AsyncExitStack()
        self._previous_token: str | None = None

    async def __aenter__(self) -> ScriptHarness:
        if self.understand is None:
            from smartsupport.dialogue.script_nlu import default_understander

            self.understand = await default_understander(self.workspaces)
        self._previous_token = os.environ.get("DEMO_SHOP_TOKEN")
        os.environ["DEMO_SHOP_TOKEN"] = SHOP_TOKEN  # what the flows' backend auth reads
        try:
            self.shop = await self._stack.enter_async_context(
                ShopServer(_shop_file(self.workspaces), api_key=SHOP_TOKEN)
            )
            self.bad = await self._stack.enter_async_context(BadServer(self.shop.url))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._stack.aclose()
        finally:
            if self._previous_token is None:
                os.environ.pop("DEMO_SHOP_TOKEN", None)
            else:
                os.environ["DEMO_SHOP_TOKEN"] = self._previous_token

    async def run(self, script: Script) -> ScriptResult:
        self.shop.reset()
        self.bad.reset()
        url = _shop_url(script.shop, self.shop.url, self.bad.url)
        assert self.understand is not None
        return await run_script(script, self.workspaces, self.understand, url)


async def run_scripts(
    scripts: list[Script],
    workspaces: dict[str, WorkspaceConfig],
    understand: Understander | None = None,
) -> list[ScriptResult]:
    """Run every script against the real demo shop API (and the misbehaving server)."""
    async with ScriptHarness(workspaces, understand) as harness:
        return [await harness.run(script) for script in scripts]


def _shop_file(workspaces: dict[str, WorkspaceConfig]) -> Path:
    for workspace in workspaces.values():
        shop_file = (workspace.model_extra or {}).get("shop_file")
        if shop_file and workspace.source_dir:
            return Path(workspace.source_dir) / shop_file
    from smartsupport.workspaces import DEMO_DIR

    return DEMO_DIR / "shop.json"


def _shop_url(mode: str, shop_url: str, bad_url: str) -> str:
    if mode == "ok":
        return shop_url
    if mode == "unreachable":
        return f"http://127.0.0.1:{free_port()}"  # nothing listens there
    return f"{bad_url}/{mode}"


async def run_script(
    script: Script, workspaces: dict[str, WorkspaceConfig], understand: Understander, shop_url: str
) -> ScriptResult:
    result = ScriptResult(script)
    workspace = workspaces.get(script.workspace)
    if workspace is None:
        result.failures.append(f"unknown workspace {script.workspace!r}")
        return result
    manager = DialogueManager(workspaces, None, None, backend_urls={"shop": shop_url})
    for engine in manager.engines.values():  # keep failure scripts fast: short timeouts
        for backend in engine.backends.values():
            backend.spec = backend.spec.model_copy(update={"timeout": 0.5, "backoff": 0.01})
    identity = {"user_id": script.identity, "segment": script.segment} if script.identity else None
    conversation = Conversation(
        "conv-script",
        workspace.id,
        "customer-script",
        metadata={"identity": identity} if identity else {},
    )
    context = ConversationContext(conversation.id)
    try:
        for number, turn in enumerate(script.turns, 1):
            await _run_turn(
                number, turn, workspace, conversation, context, manager, understand, result
            )
            context = ConversationContext.from_json(context.to_json())  # as the session store does
    except Exception:  # noqa: BLE001 - a crash is a script failure with its traceback
        result.failures.append("crashed:\n" + traceback.format_exc())
    finally:
        await manager.aclose()
    return result


async def _run_turn(
    number: int,
    turn: ScriptTurn,
    workspace: WorkspaceConfig,
    conversation: Conversation,
    context: ConversationContext,
    manager: DialogueManager,
    understand: Understander,
    result: ScriptResult,
) -> None:
    if turn.understanding is not None:
        understanding = _pinned(turn.understanding, turn.user)
    else:
        understanding = await understand(workspace, turn.user)
    message = Message(f"m{number}", conversation.id, number, Author.CUSTOMER, turn.user)

    async def stream(_: str) -> None:
        return None

    decision = await manager.handle(
        Turn(workspace, conversation, message, context, understanding, stream)
    )
    replies = list(decision.replies) if decision else []
    events = list(decision.events) if decision else []
    if decision is None:
        reminder = await manager.followup(
            Turn(workspace, conversation, message, context, understanding, stream)
        )
        if reminder is not None:
            replies.append(reminder)
    handoff = decision is not None and decision.status is ConversationStatus.WAITING
    if decision is not None and decision.status is not None:
        conversation.status = decision.status
    result.transcript.append(f"  {number}. customer: {turn.user}")
    result.transcript.append(
        f"       (intent {understanding.intent}, "
        f"entities {[e.type for e in understanding.entities]})"
    )
    for reply in replies:
        buttons = f"  [{' | '.join(reply.quick_replies)}]" if reply.quick_replies else ""
        result.transcript.append(f"     bot: {reply.text}{buttons}")
    if decision is None and not replies:
        result.transcript.append("     (no flow took this turn)")
    if handoff:
        result.transcript.append(f"     -> handed over: {decision.reason if decision else ''}")
    state = context.data.get("dialogue") or {}
    observed = _observe(state, events, decision is None)
    problems = _check(
        turn.expect, understanding, replies, events, observed, handoff, decision is None
    )
    leaked = SHOP_TOKEN in json.dumps(
        [[r.text for r in replies], events, context.data], default=str
    )
    if leaked:
        problems.append("the shop API's secret token appears in a reply, event or state")
    result.failures += [f"turn {number} ({turn.user!r}): {p}" for p in problems]


def _pinned(spec: UnderstandingIn, text: str) -> Understanding:
    entities = []
    for e in spec.entities:
        shown = e.text or str(e.value)
        start = text.find(shown)
        entities.append(Entity(e.type, e.value, max(start, 0), max(start, 0) + len(shown), shown))
    return Understanding(
        intent=spec.intent,
        confidence=spec.confidence if spec.intent else 0.0,
        entities=entities,
        out_of_scope=spec.intent is None,
        source="script",
    )


def _observe(
    state: dict[str, Any], events: list[tuple[str, dict[str, Any]]], fallthrough: bool
) -> dict[str, Any]:
    """Which flows this turn touched and where each stands (a turn can end one flow and
    resume another): {"flows": {name: status}, "flow": .., "status": .., "slots": ..}."""
    flows: dict[str, str] = {}
    for kind, data in events:
        if kind in ("flow.completed", "flow.cancelled", "flow.failed"):
            flows.setdefault(data["flow"], data["status"])
    active = state.get("active")
    last = state.get("last") or {}
    if active is not None:
        flows[active["flow"]] = "waiting"
    if not flows:
        return {"flows": {}, "flow": None, "status": "none", "slots": {}}
    first = next(iter(flows))
    slots = (
        active["slots"]
        if active is not None and active["flow"] == first
        else (last.get("slots", {}) if last.get("flow") == first else {})
    )
    return {"flows": flows, "flow": first, "status": flows[first], "slots": slots}


def _check(
    expect: Expect,
    understanding: Understanding,
    replies: list[Any],
    events: list[tuple[str, dict[str, Any]]],
    observed: dict[str, Any],
    handoff: bool,
    fallthrough: bool,
) -> list[str]:
    problems = []
    text = "\n".join(r.text for r in replies)
    low = text.casefold()
    if expect.intent is not None and understanding.intent != expect.intent:
        problems.append(f"intent: expected {expect.intent}, understood {understanding.intent}")
    if expect.flow is not None and expect.flow not in observed["flows"]:
        problems.append(f"flow: expected {expect.flow}, got {observed['flow']}")
    status = observed["flows"].get(expect.flow or "", observed["status"])
    if expect.status is not None and status != expect.status:
        problems.append(f"status: expected {expect.status}, got {status}")
    for name, value in expect.slots.items():
        got = observed["slots"].get(name)
        if got != value:
            problems.append(f"slot {name}: expected {value!r}, got {got!r}")
    called = [data.get("action") for kind, data in events if kind == "action.called"]
    wanted = [expect.action] if isinstance(expect.action, str) else list(expect.action or [])
    for action in wanted:
        if action not in called:
            problems.append(f"action {action} was not called (called: {called or 'none'})")
    if expect.no_action and called:
        problems.append(f"expected no action, called {called}")
    for fragment in expect.says:
        if fragment.casefold() not in low:
            problems.append(f"reply lacks {fragment!r}; replies were: {text!r}")
    for fragment in expect.not_says:
        if fragment.casefold() in low:
            problems.append(f"reply must not contain {fragment!r}; replies were: {text!r}")
    buttons = [q for r in replies for q in r.quick_replies]
    for button in expect.quick_replies:
        if button not in buttons:
            problems.append(f"quick reply {button!r} missing (got {buttons})")
    if expect.handoff is not None and handoff != expect.handoff:
        problems.append(f"handoff: expected {expect.handoff}, got {handoff}")
    if expect.fallthrough is not None and fallthrough != expect.fallthrough:
        problems.append(f"fallthrough: expected {expect.fallthrough}, got {fallthrough}")
    return problems


def report(results: list[ScriptResult], *, verbose: bool = False) -> str:
    """A readable report: one line per script, and the transcript of each failure."""
    lines = []
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"{mark}  {r.script.name}  ({Path(r.script.path).name})")
        if not r.passed or verbose:
            lines += r.transcript
        for failure in r.failures:
            lines.append(f"    ✗ {failure}")
    passed = sum(r.passed for r in results)
    lines.append(
        f"\n{passed} of {len(results)} conversation scripts passed"
        + ("" if passed == len(results) else f", {len(results) - passed} failed")
    )
    return "\n".join(lines)
