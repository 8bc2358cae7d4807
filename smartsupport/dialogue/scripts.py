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

A customer who comes back (customer memory, docs/dialogue.md "What is remembered of them"):

    identity: cust-li             # this visit carries the signed identity (leave it out:
                                  # the same record, reached without proof)
    earlier:                      # the customer's conversations before this one, oldest first
      - days_ago: 6               # each ends resolved this long ago and is then remembered
        identity: cust-li         # optional; the script's identity by default
        turns: [...]              # played and checked like ``turns``
        agent: ["I've asked the warehouse ..."]   # optional: then handed to a person, who
                                  # wrote this (the case continued later, previous_case.py)
        ticket: {id: "4711", status: open}        # optional: the helpdesk ticket it left
    erased: true                  # optional: the customer was erased after those visits

Such a script runs on a throw-away database through the product's own memory code
(dialogue/visits.py); ``memory=False`` in ``run_script`` plays it with the look-ups off (the
flows' ``remembered`` and the earlier case a message refers to, previous_case.py).

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
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from smartsupport.context import ConversationContext
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.script_play import Player, Understander
from smartsupport.dialogue.servers import BadServer, ShopServer, free_port
from smartsupport.dialogue.visits import Visits
from smartsupport.domain import (
    Author,
    Conversation,
    Customer,
    Entity,
    Understanding,
)
from smartsupport.errors import ConfigurationError
from smartsupport.workspaces import WorkspaceConfig
from smartsupport.yaml_text import load_yaml

SHOP_TOKEN = "test-shop-token-7f3a9c"  # the shop API's key in scripts; must never leak


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


class EarlierVisit(_Strict):
    days_ago: float = Field(gt=0)
    identity: str | None = None  # None: the script's
    turns: list[ScriptTurn] = Field(min_length=1)
    agent: list[str] = Field(default_factory=list)  # a person's messages, after a handoff
    ticket: dict[str, str] | None = None  # the helpdesk ticket the visit left: id, status


class Script(_Strict):
    name: str
    description: str = ""
    workspace: str = "demo"
    identity: str | None = None
    segment: str | None = None
    shop: Literal[
        "ok", "timeout", "garbage", "error", "wrong-shape", "flaky", "unauthorized", "unreachable"
    ] = "ok"
    earlier: list[EarlierVisit] = Field(default_factory=list)
    erased: bool = False
    turns: list[ScriptTurn] = Field(min_length=1)
    path: str = ""

    @model_validator(mode="after")
    def _someone_comes_back(self) -> Script:
        who = [v.identity or self.identity for v in self.earlier]
        if self.earlier and not all(who):
            raise ValueError("each earlier visit needs an identity (its own or the script's)")
        if self.erased and not self.earlier:
            raise ValueError("erased: true needs earlier visits to erase")
        return self


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
            data = load_yaml(file.read_text(encoding="utf-8"))
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
    script: Script,
    workspaces: dict[str, WorkspaceConfig],
    understand: Understander,
    shop_url: str,
    *,
    memory: bool = True,
) -> ScriptResult:
    """Play the script and check every turn; ``memory=False`` plays a return visit with the
    remembered look-ups off (what the benchmark compares, bench/memory_effect.py)."""
    result = ScriptResult(script)
    workspace = workspaces.get(script.workspace)
    if workspace is None:
        result.failures.append(f"unknown workspace {script.workspace!r}")
        return result
    manager = DialogueManager(workspaces, None, None, backend_urls={"shop": shop_url})
    for engine in manager.engines.values():  # keep failure scripts fast: short timeouts
        for backend in engine.backends.values():
            backend.spec = backend.spec.model_copy(update={"timeout": 0.5, "backoff": 0.01})
    player = Player(workspace, manager, understand)
    try:
        if script.earlier:
            async with Visits(workspace) as visits:
                if memory:
                    manager.recall = visits.recall
                    player.cases = visits.case
                conversation = await come_back(script, player, visits, result)
                await _play_all(script.turns, player, conversation, result, visits)
        else:
            identity = (
                {"user_id": script.identity, "segment": script.segment} if script.identity else None
            )
            conversation = Conversation(
                "conv-script",
                workspace.id,
                "customer-script",
                metadata={"identity": identity} if identity else {},
            )
            await _play_all(script.turns, player, conversation, result)
    except Exception:  # noqa: BLE001 - a crash is a script failure with its traceback
        result.failures.append("crashed:\n" + traceback.format_exc())
    finally:
        await manager.aclose()
    return result


async def come_back(
    script: Script, player: Player, visits: Visits, result: ScriptResult
) -> Conversation:
    """Play the earlier visits (each resolved, aged and remembered), erase the customer if
    the script says so, and open the conversation of the visit ``turns`` play. One record
    per identity; a visit without the script's identity is the first record, unverified."""
    records: dict[str, Customer] = {}
    for number, visit in enumerate(script.earlier, 1):
        who = visit.identity or script.identity or ""
        if who not in records:
            records[who] = await visits.customer(who, None)
        result.transcript.append(f"  -- earlier visit {number} ({visit.days_ago:g} days ago)")
        conversation = await visits.conversation(
            records[who], verified=True, segment=script.segment
        )
        await _play_all(visit.turns, player, conversation, result, visits, f"earlier {number}, ")
        if visit.agent or visit.ticket:
            await visits.handed_over(conversation, visit.ticket)
            for text in visit.agent:
                await visits.record(conversation, Author.AGENT, text, {})
                result.transcript.append(f"     agent: {text}")
        await visits.resolved(conversation, days_ago=visit.days_ago)
    await visits.remember()
    if script.erased:
        for customer in records.values():
            await visits.erase(customer)
        records = {}
        result.transcript.append("  -- the customer was erased")
    result.transcript.append("  -- this visit")
    first = script.earlier[0].identity or script.identity or ""
    who = script.identity or first
    if who not in records:
        records[who] = await visits.customer(who, None)
    verified = script.identity is not None
    return await visits.conversation(records[who], verified=verified, segment=script.segment)


async def _play_all(
    turns: list[ScriptTurn],
    player: Player,
    conversation: Conversation,
    result: ScriptResult,
    visits: Visits | None = None,
    where: str = "",
) -> None:
    context = ConversationContext(conversation.id)
    for number, turn in enumerate(turns, 1):
        pinned = _pinned(turn.understanding, turn.user) if turn.understanding else None
        played = await player.play(number, turn.user, conversation, context, pinned)
        if visits is not None:
            await played.store(visits, conversation)
        result.transcript += played.transcript(number)
        problems = _check(
            turn.expect,
            played.understanding,
            played.replies,
            played.events,
            played.observed,
            played.handoff,
            played.fallthrough,
        )
        leaked = SHOP_TOKEN in json.dumps(
            [[r.text for r in played.replies], played.events, context.data], default=str
        )
        if leaked:
            problems.append("the shop API's secret token appears in a reply, event or state")
        result.failures += [f"{where}turn {number} ({turn.user!r}): {p}" for p in problems]
        context = ConversationContext.from_json(context.to_json())  # as the session store does


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
