"""The dialogue seam: ``DialogueManager.handle(turn) -> Decision | None`` over the demo flows
and the demo shop's real HTTP API, including the conversation path end to end."""

from __future__ import annotations

import json

import pytest

from smartsupport.context import ConversationContext
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.script_nlu import KeywordNlu
from smartsupport.dialogue.servers import ShopServer
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    IncomingMessage,
    Message,
    Understanding,
)
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

TOKEN = "shop-key-5a1b2c-secret"


@pytest.fixture
async def shop(monkeypatch):
    monkeypatch.setenv("DEMO_SHOP_TOKEN", TOKEN)
    async with ShopServer(DEMO_DIR / "shop.json", api_key=TOKEN) as server:
        yield server


class Chat:
    """One conversation driven through the seam, as the conversation path would."""

    def __init__(self, manager: DialogueManager, identity: str | None = None) -> None:
        self.manager = manager
        self.workspace = load_workspace_dir(DEMO_DIR)
        self.conversation = Conversation(
            "conv-1",
            "demo",
            "cust-1",
            metadata={"identity": {"user_id": identity}} if identity else {},
        )
        self.context = ConversationContext("conv-1")
        self.nlu = KeywordNlu()
        self.seq = 0

    async def say(self, text: str, understanding: Understanding | None = None) -> Decision | None:
        self.seq += 1
        understanding = understanding or await self.nlu(self.workspace, text)
        message = Message(f"m{self.seq}", "conv-1", self.seq, Author.CUSTOMER, text)

        async def stream(_: str) -> None:
            return None

        decision = await self.manager.handle(
            Turn(self.workspace, self.conversation, message, self.context, understanding, stream)
        )
        # The session store keeps JSON: every state must survive the round trip.
        self.context = ConversationContext.from_json(self.context.to_json())
        if decision is not None and decision.status is not None:
            self.conversation.status = decision.status
        return decision

    @property
    def state(self) -> dict:
        return self.context.data["dialogue"]


def manager_for(shop: ShopServer) -> DialogueManager:
    workspace = load_workspace_dir(DEMO_DIR)
    return DialogueManager({"demo": workspace}, None, None, backend_urls={"shop": shop.url})


async def test_messages_that_start_no_flow_fall_through(shop):
    chat = Chat(manager_for(shop))
    assert await chat.say("hello") is None
    assert await chat.say("what payment methods do you accept?") is None
    assert chat.context.data.get("dialogue", {}).get("active") is None
    await chat.manager.aclose()


async def test_a_flow_runs_over_turns_with_events_and_json_state(shop):
    chat = Chat(manager_for(shop), identity="cust-maria")
    first = await chat.say("cancel ORD-10235")
    assert first is not None and first.status is None
    assert "Cancel order ORD-10235" in first.replies[-1].text
    assert first.replies[-1].quick_replies == ["Yes, cancel it", "No, keep it"]
    kinds = [kind for kind, _ in first.events]
    assert kinds == ["action.called", "flow.started", "action.called"]
    assert chat.state["active"]["flow"] == "cancel_order"
    assert chat.state["profile"]["segment"] == "vip"
    second = await chat.say("yes")
    assert second is not None
    assert "ORD-10235 is cancelled" in second.replies[-1].text
    assert [k for k, _ in second.events] == ["action.called", "flow.completed"]
    called = dict(second.events)["action.called"]
    assert called["action"] == "cancel_order" and called["outcome"] == "ok"
    assert dict(second.events)["flow.completed"]["segment"] == "vip"
    assert chat.state["active"] is None and chat.state["last"]["status"] == "completed"
    assert shop.app.state.shop.orders["ORD-10235"]["status"] == "cancelled"
    text = json.dumps([chat.context.data, [r.text for r in second.replies], second.events])
    assert TOKEN not in text
    await chat.manager.aclose()


async def test_an_agent_holding_the_conversation_silences_flows(shop):
    chat = Chat(manager_for(shop))
    chat.conversation.status = ConversationStatus.WITH_AGENT
    assert await chat.say("where is ORD-10234") is None
    await chat.manager.aclose()


async def test_failure_hands_over_with_status_and_reason(monkeypatch):
    monkeypatch.setenv("DEMO_SHOP_TOKEN", TOKEN)
    workspace = load_workspace_dir(DEMO_DIR)
    manager = DialogueManager(
        {"demo": workspace}, None, None, backend_urls={"shop": "http://127.0.0.1:9"}
    )  # nothing there
    for engine in manager.engines.values():
        for backend in engine.backends.values():
            backend.spec = backend.spec.model_copy(update={"backoff": 0.0})
    chat = Chat(manager)
    await chat.say("where is ORD-10234")
    decision = await chat.say("maria@example.com")
    assert decision is not None
    assert decision.status is ConversationStatus.WAITING
    assert decision.reason and "track_order" in decision.reason
    failed = dict(decision.events)["flow.failed"]
    assert failed["handoff"] is True and failed["status"] == "handoff"
    assert "member of our team" in decision.replies[-1].text
    await manager.aclose()


async def test_a_digression_returns_none_and_followup_reminds(shop):
    chat = Chat(manager_for(shop))
    await chat.say("where is my order?")
    assert await chat.say("what payment methods do you accept?") is None
    message = Message("mx", "conv-1", 99, Author.CUSTOMER, "x")
    reminder = await chat.manager.followup(
        Turn(chat.workspace, chat.conversation, message, chat.context, Understanding(), _noop)
    )
    assert reminder is not None and "back to where we were" in reminder.text
    assert "order number" in reminder.text
    assert (
        await chat.manager.followup(
            Turn(chat.workspace, chat.conversation, message, chat.context, Understanding(), _noop)
        )
        is None
    )
    await chat.manager.aclose()


async def _noop(_: str) -> None:
    return None


async def test_a_resolved_conversation_reopens_when_a_flow_starts(shop):
    chat = Chat(manager_for(shop), identity="cust-maria")
    chat.conversation.status = ConversationStatus.RESOLVED
    decision = await chat.say("where is ORD-10234")
    assert decision is not None and decision.status is ConversationStatus.BOT
    await chat.manager.aclose()


async def test_a_python_hook_can_add_data_and_words(tmp_path):
    (tmp_path / "workspace.yaml").write_text("id: hooked\nname: Hooked\n")
    (tmp_path / "flows.yaml").write_text(
        "flows:\n"
        "  loyalty:\n"
        "    intents: [account]\n"
        "    steps:\n"
        "      - hook: tests.test_dialogue_manager:discount\n"
        "        as: discount\n"
        "      - say: 'Your discount: {{ discount.percent }}%'\n"
    )
    workspace = load_workspace_dir(tmp_path)
    manager = DialogueManager({"hooked": workspace}, None, None)
    chat = Chat(manager)
    chat.workspace = workspace
    chat.conversation.workspace_id = "hooked"
    decision = await chat.say("my account", Understanding(intent="account", confidence=1.0))
    assert decision is not None
    assert [r.text for r in decision.replies] == ["Hello from a hook", "Your discount: 5%"]
    await manager.aclose()


async def discount(ctx):
    return {"percent": 15 if ctx.segment == "vip" else 5, "say": "Hello from a hook"}


async def test_the_conversation_path_saves_dialogue_state_and_stores_replies(tmp_path, shop):
    """handle_message -> a policy that asks the dialogue manager first -> stored replies with
    quick replies, the context saved between turns, events in the log, no secret anywhere."""
    from smartsupport.conversation import handle_message, start_conversation
    from smartsupport.settings import Settings
    from smartsupport.wiring import assemble

    services = await assemble(Settings(data_dir=tmp_path, secret_key="k" * 32))
    manager = manager_for(shop)
    fallback = services.assistant
    nlu = KeywordNlu()

    class Composed:
        async def understand(self, workspace, text, context):
            return await nlu(workspace, text)

        async def decide(self, turn):
            return await manager.handle(turn) or await fallback.decide(turn)

        def recorded(self, workspace, message, understanding):
            pass

        async def close(self):
            await manager.aclose()

    services.assistant = Composed()  # type: ignore[assignment]
    try:
        conversation, _ = await start_conversation(services, "demo")
        first = await handle_message(services, IncomingMessage(conversation.id, "track ORD-10234"))
        assert "email address" in first.replies[0].text
        saved = await services.contexts.load(conversation.id)
        assert saved.data["dialogue"]["active"]["slots"] == {"order_id": "ORD-10234"}
        second = await handle_message(
            services, IncomingMessage(conversation.id, "maria@example.com")
        )
        assert "1Z999AA10123456784" in second.replies[0].text
        assert second.replies[0].meta["quick_replies"] == [
            "Change delivery address",
            "Talk to a person",
        ]
        events = await services.store.list_events("demo", conversation_id=conversation.id)
        types = [e.type for e in events]
        assert "flow.started" in types and "flow.completed" in types
        assert "action.called" in types
        messages = await services.store.list_messages(conversation.id)
        everything = json.dumps(
            [[m.text, m.meta] for m in messages] + [[e.type, e.data] for e in events], default=str
        )
        assert TOKEN not in everything
    finally:
        await services.close()


async def test_a_bug_in_a_flow_resets_the_dialogue_instead_of_failing_the_turn(shop, caplog):
    chat = Chat(manager_for(shop))
    await chat.say("where is my order?")

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    chat.manager.engines["demo"].run = broken  # type: ignore[method-assign]
    assert await chat.say("ORD-10234") is None
    assert chat.state == {"active": None, "stack": []}
    assert "dialogue failed" in caplog.text
    await chat.manager.aclose()


async def test_the_mounted_demo_api_and_the_flows_share_one_shop(monkeypatch):
    """With the default base URL the flows call the bundled shop in-process; what they
    change is what GET on the mounted /demo-shop/api shows."""
    import httpx

    from smartsupport.demo_shop import Shops, demo_app

    monkeypatch.delenv("DEMO_SHOP_URL", raising=False)
    monkeypatch.delenv("DEMO_SHOP_TOKEN", raising=False)
    workspace = load_workspace_dir(DEMO_DIR)
    shops = Shops()  # one copy of the demo data, as create_app shares it
    manager = DialogueManager({"demo": workspace}, None, None, shops=shops)
    chat = Chat(manager, identity="cust-aisha")
    await chat.say("change the address of ORD-10241")
    await chat.say("9 Mill Lane, Leeds LS1 4AB")
    done = await chat.say("yes")
    assert done is not None and "9 Mill Lane" in done.replies[-1].text
    transport = httpx.ASGITransport(app=demo_app(shops))
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        order = (await client.get("/orders/ORD-10241", params={"customer_id": "cust-aisha"})).json()
    assert order["address"] == "9 Mill Lane, Leeds LS1 4AB"
    await manager.aclose()


def _workspace(tmp_path, flows: str):
    (tmp_path / "workspace.yaml").write_text("id: small\nname: Small\n")
    (tmp_path / "flows.yaml").write_text(flows)
    workspace = load_workspace_dir(tmp_path)
    manager = DialogueManager({"small": workspace}, None, None)
    chat = Chat(manager)
    chat.workspace = workspace
    chat.conversation.workspace_id = "small"
    return chat


SMALL = """
flows:
  survey:
    intents: [feedback]
    retries: 2
    handoff_when_stuck: false
    slots:
      score: {extract: '\\b([1-5])\\b', ask: "From 1 to 5?", invalid: "{{ value }}?"}
    steps:
      - hook: tests.test_dialogue_manager:explode
      - say: never reached
"""


async def explode(ctx):
    raise ValueError("hook failed")


async def test_without_handoff_a_stuck_flow_ends_politely(tmp_path):
    chat = _workspace(tmp_path, SMALL)
    feedback = Understanding(intent="feedback", confidence=1.0)
    await chat.say("feedback", feedback)
    first = await chat.say("purple")
    assert first is not None and first.replies[-1].text == "From 1 to 5?"
    second = await chat.say("green")
    assert second is not None and second.status is None
    assert "stopped there" in second.replies[-1].text
    assert dict(second.events)["flow.cancelled"]["flow"] == "survey"
    await chat.manager.aclose()


async def test_a_failing_hook_fails_the_flow_honestly(tmp_path):
    chat = _workspace(
        tmp_path, SMALL.replace("handoff_when_stuck: false", "handoff_on_error: false")
    )
    await chat.say("feedback", Understanding(intent="feedback", confidence=1.0))
    decision = await chat.say("4")
    assert decision is not None and decision.status is None
    assert "can't reach" in decision.replies[-1].text
    assert "hook failed" in dict(decision.events)["flow.error"]["error"]
    assert dict(decision.events)["flow.failed"]["status"] == "failed"
    await chat.manager.aclose()


async def test_too_many_digressions_count_as_unhelpful_answers(tmp_path):
    chat = _workspace(tmp_path, SMALL)
    await chat.say("feedback", Understanding(intent="feedback", confidence=1.0))
    faq = Understanding(intent="shipping_info", confidence=0.9)
    for _ in range(3):  # max_digressions defaults to 3: each falls through
        assert await chat.say("shipping?", faq) is None
    decision = await chat.say("shipping?", faq)
    assert decision is not None and "From 1 to 5?" in decision.replies[-1].text
    await chat.manager.aclose()


# A resolved conversation starts fresh (issue 11). A flow that was waiting when a person
# took over (an agent's takeover, or a handoff rule's transfer, neither of which ends the
# flow) used to survive the resolve in the session context, so the customer who came back
# days later was asked the stale question (a "yes" meant for something else would have
# cancelled the order). ``conversation.take_turn`` starts from a fresh
# ``ConversationContext`` when the loaded conversation is RESOLVED.
async def test_a_customer_returning_after_a_resolve_starts_fresh(tmp_path, monkeypatch):
    from smartsupport.conversation import handle_message, set_status, start_conversation
    from smartsupport.settings import Settings
    from smartsupport.wiring import assemble

    monkeypatch.delenv("DEMO_SHOP_URL", raising=False)
    monkeypatch.delenv("DEMO_SHOP_TOKEN", raising=False)
    services = await assemble(Settings(data_dir=tmp_path, secret_key="k" * 32))
    try:
        conversation, _ = await start_conversation(services, "demo", identity="cust-maria")
        asked = await handle_message(services, IncomingMessage(conversation.id, "cancel ORD-10235"))
        assert "Cancel order ORD-10235" in asked.replies[-1].text
        # An agent takes over mid-flow, helps, and resolves the conversation.
        await set_status(services, conversation.id, ConversationStatus.WITH_AGENT, "taken over")
        await set_status(services, conversation.id, ConversationStatus.RESOLVED, "resolved")

        back = await handle_message(services, IncomingMessage(conversation.id, "hello again"))
        said = " ".join(r.text for r in back.replies)
        assert "Cancel order ORD-10235" not in said, said
        saved = await services.contexts.load(conversation.id)
        assert (saved.data.get("dialogue") or {}).get("active") is None
        assert back.conversation.status is ConversationStatus.BOT  # reopened by the customer
    finally:
        await services.close()
