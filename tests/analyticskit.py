"""A seeded data set for the analytics tests, with the answers known in advance.

Rows are written with plain SQL (the store's shared-SQL door), exactly as the product stores
them: customer messages carry ``meta.nlu``, the assistant's replies ``meta.step`` and
``meta.citations``, handoffs are ``conversation.status`` events, the inbox row holds the
assignment, resolution and CSAT, ``answer_feedback`` the thumbs and flags. Timestamps are
set, so every timing KPI has one right answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from smartsupport.ids import new_id

DAY = datetime(2026, 11, 10, tzinfo=UTC)
WORKSPACE = "demo"


@dataclass
class Seed:
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    conversations: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    inbox: list[tuple[Any, ...]] = field(default_factory=list)
    feedback: list[tuple[Any, ...]] = field(default_factory=list)

    def conversation(
        self,
        start: datetime,
        *,
        channel: str = "web",
        customer: str | None = None,
        status: str = "bot",
        usage: dict[str, Any] | None = None,
        workspace: str = WORKSPACE,
    ) -> str:
        customer_id = customer or new_id()
        if not any(c[0] == customer_id for c in self.customers):
            self.customers.append((customer_id, workspace, channel, start))
        conversation_id = new_id()
        metadata: dict[str, Any] = {"locale": "en"}
        if usage:
            metadata["llm_usage"] = usage
        self.conversations.append(
            (conversation_id, workspace, customer_id, channel, status, metadata, start, start)
        )
        self.say(conversation_id, "bot", "Hello! How can I help?", start, {"step": "greeting"})
        return conversation_id

    def say(
        self,
        conversation_id: str,
        author: str,
        text: str,
        at: datetime,
        meta: dict[str, Any] | None = None,
        reply_to: str | None = None,
    ) -> str:
        seq = sum(1 for m in self.messages if m[1] == conversation_id) + 1
        message_id = new_id()
        self.messages.append(
            (message_id, conversation_id, seq, author, text, reply_to, meta or {}, at)
        )
        return message_id

    def ask(
        self,
        conversation_id: str,
        text: str,
        at: datetime,
        *,
        intent: str | None,
        confidence: float,
        language: str = "en",
        out_of_scope: bool = False,
    ) -> str:
        nlu = {"language": language, "intent": intent, "confidence": confidence,
               "out_of_scope": out_of_scope, "entities": [], "sentiment": 0.0}  # fmt: skip
        return self.say(conversation_id, "customer", text, at, {"nlu": nlu, "channel": "web"})

    def answer(
        self,
        conversation_id: str,
        question: str,
        at: datetime,
        step: str,
        *,
        article: tuple[str, str] | None = None,
    ) -> str:
        meta: dict[str, Any] = {"step": step}
        if article:
            meta["citations"] = [{"article_id": article[0], "title": article[1], "url": None}]
            meta["answer_step"] = step
        return self.say(conversation_id, "bot", "Here is what I found.", at, meta, question)

    def status(
        self,
        conversation_id: str,
        status: str,
        reason: str,
        at: datetime,
        workspace: str = WORKSPACE,
    ) -> None:
        data = {"status": status, "reason": reason}
        self.events.append((workspace, conversation_id, "conversation.status", data, at))

    def rate(
        self, conversation_id: str, message_id: str, rating: int, source: str = "customer"
    ) -> None:
        staff = "staff-1" if source == "agent" else None
        self.feedback.append(
            (new_id(), WORKSPACE, conversation_id, message_id, rating, None, source, staff, DAY)
        )

    def inbox_row(self, conversation_id: str, **columns: Any) -> None:
        self.inbox.append((conversation_id, columns))

    async def write(self, db: Any) -> None:
        await db.execute(
            "INSERT INTO workspaces (id, name, config, created_at) VALUES ('other', 'Other', "
            "'{}', ?) ON CONFLICT (id) DO NOTHING",
            DAY,
        )
        await db.executemany(
            "INSERT INTO customers (id, workspace_id, channel, metadata, created_at) "
            "VALUES (?, ?, ?, '{}', ?)",
            self.customers,
        )
        last_seq: dict[str, int] = {}
        for m in self.messages:
            last_seq[m[1]] = max(last_seq.get(m[1], 0), m[2])
        await db.executemany(
            "INSERT INTO conversations (id, workspace_id, customer_id, channel, status, "
            "metadata, created_at, updated_at, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*c, last_seq.get(c[0], 0)) for c in self.conversations],
        )
        # Texts sealed as the store seals them when field encryption is on (the suite's
        # default, tests/conftest.py): analytics must open them.
        sealed = [(m[0], m[1], m[2], m[3], db.fields.seal("messages", "text", m[0], m[4]), *m[5:])
                  for m in self.messages]  # fmt: skip
        await db.executemany(
            "INSERT INTO messages (id, conversation_id, seq, author, text, reply_to, meta, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            sealed,
        )
        if self.events:
            await db.executemany(
                "INSERT INTO events (workspace_id, conversation_id, type, data, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                self.events,
            )
        for conversation_id, columns in self.inbox:
            names = ["conversation_id", "workspace_id", "updated_at", *columns]
            await db.execute(
                f"INSERT INTO inbox_conversations ({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)})",
                conversation_id,
                WORKSPACE,
                DAY,
                *columns.values(),
            )
        if self.feedback:
            await db.executemany(
                "INSERT INTO answer_feedback (id, workspace_id, conversation_id, message_id, "
                "rating, reason, source, staff_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.feedback,
            )


def known_data_set() -> tuple[Seed, dict[str, str]]:
    """The data set of docs/analytics.md's worked example: ten conversations on DAY, one
    the day before, one in another workspace... (names -> conversation ids)."""
    s, ids = Seed(), {}
    t = DAY + timedelta(hours=8)
    sec = timedelta(seconds=1)
    ship, ret = ("art-ship", "Shipping times"), ("art-ret", "Returns")

    # A: answered from an article, thumbs up, rated 5 after the bot resolved it.
    a = ids["A"] = s.conversation(t)
    q = s.ask(a, "How long does shipping take?", t + 10 * sec, intent="shipping", confidence=0.9)
    reply = s.answer(a, q, t + 12 * sec, "extractive", article=ship)
    s.rate(a, reply, 1)
    s.inbox_row(a, csat_requested_at=t + 20 * sec, csat_rating=5, csat_at=t + 30 * sec)
    s.say(a, "system", "Glad that helped.", t + 12 * sec, {"csat": "bot"})
    # B: an intent's response, nothing else: resolved.
    b = ids["B"] = s.conversation(t + 60 * sec)
    q = s.ask(b, "Can I return shoes?", t + 70 * sec, intent="returns", confidence=0.7)
    s.answer(b, q, t + 71 * sec, "intent_response")
    # C: German, answered from the article, thumbs down: not resolved.
    c = ids["C"] = s.conversation(t + 120 * sec)
    q = s.ask(c, "Wie lange dauert der Versand?", t + 130 * sec, intent="shipping",
              confidence=0.55, language="de")  # fmt: skip
    reply = s.answer(c, q, t + 133 * sec, "extractive", article=ship)
    s.rate(c, reply, -1)
    # D: out of scope, the keyword fallback.
    d = ids["D"] = s.conversation(t + 180 * sec)
    q = s.ask(d, "Do you sell gift cards?", t + 190 * sec, intent=None, confidence=0.1,
              out_of_scope=True)  # fmt: skip
    s.answer(d, q, t + 191 * sec, "fallback")
    # E: email, asks for a person; an agent answers a minute later, resolves, CSAT 2.
    e = ids["E"] = s.conversation(t + 240 * sec, channel="email", status="resolved")
    q = s.ask(e, "I want a refund now", t + 250 * sec, intent="refund", confidence=0.8)
    s.answer(e, q, t + 251 * sec, "handoff")
    s.status(e, "waiting_for_agent", "customer asked for a human", t + 255 * sec)
    s.status(e, "with_agent", "claimed by Ana", t + 300 * sec)
    s.say(e, "agent", "Hi, I am Ana. Let me help.", t + 315 * sec)
    s.status(e, "resolved", "resolved by Ana", t + 840 * sec)
    s.inbox_row(e, assigned_at=t + 300 * sec, resolved_at=t + 840 * sec, resolved_by="ana",
                csat_requested_at=t + 840 * sec, csat_rating=2, csat_at=t + 900 * sec)  # fmt: skip
    # F: handed over on negative sentiment; nobody ever answered (abandoned).
    f = ids["F"] = s.conversation(t + 300 * sec, status="waiting_for_agent")
    q = s.ask(f, "This is useless", t + 310 * sec, intent=None, confidence=0.3)
    s.answer(f, q, t + 311 * sec, "handoff")
    s.status(f, "waiting_for_agent", "negative sentiment", t + 311 * sec)
    # G and H: one identified customer asks about shipping twice within 72 h (re-contact);
    # an agent flags H's answer.
    g = ids["G"] = s.conversation(t + 360 * sec, customer="cust-g")
    q = s.ask(g, "Where is my parcel?", t + 370 * sec, intent="shipping", confidence=0.95)
    s.answer(g, q, t + 371 * sec, "extractive", article=ship)
    h = ids["H"] = s.conversation(t + timedelta(hours=10), customer="cust-g")
    q = s.ask(h, "Still no parcel", t + timedelta(hours=10, seconds=10), intent="shipping",
              confidence=0.9)  # fmt: skip
    reply = s.answer(h, q, t + timedelta(hours=10, seconds=11), "intent_response")
    s.rate(h, reply, -1, source="agent")
    # I: opened, never written in (not engaged).
    ids["I"] = s.conversation(t + 420 * sec)
    # J: a generated answer citing the returns article; the LLM usage of the conversation.
    j = ids["J"] = s.conversation(
        t + 480 * sec, usage={"input_tokens": 100, "output_tokens": 50, "cost": 0.002, "calls": 1}
    )
    q = s.ask(j, "How do refunds for returns work?", t + 490 * sec, intent="returns",
              confidence=0.85)  # fmt: skip
    s.answer(j, q, t + 492 * sec, "llm:primary", article=ret)
    # Outside the range (the day before) and outside the workspace: never counted.
    k = ids["before"] = s.conversation(DAY - timedelta(hours=2))
    s.ask(k, "Hello?", DAY - timedelta(hours=2) + sec, intent=None, confidence=0.2)
    s.customers.append(("cust-other", "other", "web", t))
    s.conversations.append((new_id(), "other", "cust-other", "web", "bot", {"locale": "en"}, t, t))
    return s, ids


# What the report must say for DAY (docs/analytics.md works through the same numbers).
EXPECTED_TOTALS = {
    "conversations": 10,
    "engaged": 9,
    "evaluated": 9,
    "automated_resolutions": 3,  # A, B, J
    "pending": 0,
    "contained": 7,  # all but E and F
    "escalated": 2,
    "abandoned": 1,  # F
    "turns": 9,
    "fallback_turns": 1,  # D
    "out_of_scope_turns": 1,  # D
    "bot_answers": 6,  # A, B, C, G, H, J
    "thumbs_up": 1,
    "thumbs_down": 1,
    "agent_flags": 1,
    "csat_ratings": 2,
    "csat_sum": 7,
    "llm_input_tokens": 100,
    "llm_output_tokens": 50,
    "llm_cost": 0.002,
    "automated_resolution_rate": 0.3333,
    "containment_rate": 0.7778,
    "escalation_rate": 0.2222,
    "abandonment_rate": 0.5,
    "fallback_rate": 0.1111,
    "out_of_scope_rate": 0.1111,
    "thumbs_up_rate": 0.5,
    "csat_average": 3.5,
    "llm_cost_per_conversation": 0.000222,
    "llm_tokens_per_conversation": 16.7,
}
