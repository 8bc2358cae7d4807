"""The keyword bot: greetings, the workspace's FAQ by keywords, order look-ups in the demo
shop, a fallback, and a request for a person. Fully offline and rule-based.

It is the whole intent model of a workspace that defines no intents, and the assistant's last
fallback everywhere (``assistant.Assistant`` asks it when nothing better answers). Like every
``turn.Responder`` it only decides; the conversation path records.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from smartsupport import messages, reply_language
from smartsupport.context import ConversationContext
from smartsupport.demo_shop import Shop, Shops
from smartsupport.domain import ConversationStatus, Reply, Understanding
from smartsupport.nlu.rules import just_a_greeting
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import FaqEntry, WorkspaceConfig

# The words the fallback text tells customers to type (``fallback`` in locales/*.yaml) are
# among these, in every shipped language; scripts without spaces between words (Chinese,
# Japanese) match inside a message.
HUMAN_WORDS = re.compile(
    r"\b(agent|human|person|representative|operator|someone real|real person|staff|"
    r"agente|humano|persona|humain|conseiller|mensch|mitarbeiter|atendente|pessoa|"
    r"operatore|موظف|إنسان)\b"
    r"|人工|真人|オペレーター|担当者"
)
GREETING_WORDS = re.compile(
    r"^(hi|hello|hey|good (morning|afternoon|evening)|hola|bonjour|salut|hallo|ol[aá]|oi)\b"
)
ORDER_ID = re.compile(r"(?<![a-z0-9])ORD-?\d{4,6}(?![0-9])", re.IGNORECASE)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text).strip()


class KeywordBot:
    """The rule-based responder."""

    def __init__(self, shops: dict[str, Shop]) -> None:
        self._shops = shops

    async def understand(
        self, workspace: WorkspaceConfig, text: str, context: ConversationContext
    ) -> Understanding:
        norm = normalize(text)
        intent, confidence = None, 0.0
        if HUMAN_WORDS.search(norm) or norm in _buttons(workspace):
            intent, confidence = "human_agent", 1.0
        elif GREETING_WORDS.search(norm) and just_a_greeting(text):
            intent, confidence = "greeting", 1.0
        elif ORDER_ID.search(text) or "order" in norm:
            intent, confidence = "order_status", 0.8
        elif _faq_match(workspace, norm) is not None:
            intent, confidence = "faq", 0.7
        return Understanding(
            language=workspace.default_locale,
            intent=intent,
            confidence=confidence,
            out_of_scope=intent is None,
            source="keyword",
        )

    async def decide(self, turn: Turn) -> Decision:
        status = turn.conversation.status
        if status is ConversationStatus.WITH_AGENT:
            return Decision()  # a person holds the conversation: the bot stays silent
        intent = turn.understanding.intent
        workspace = turn.workspace
        language = reply_language.for_turn(turn)
        if intent == "human_agent":
            if status is ConversationStatus.WAITING:
                return Decision([Reply(messages.text(workspace, "handoff.queued", language))])
            return Decision(
                [Reply(messages.text(workspace, "handoff.message", language))],
                status=ConversationStatus.WAITING,
                reason="customer asked for a human",
            )
        if status is ConversationStatus.RESOLVED:
            status_change: ConversationStatus | None = ConversationStatus.BOT
        else:
            status_change = None
        reply = self._answer(turn)
        if reply is None:
            turn.context.counters["fallbacks"] = turn.context.counters.get("fallbacks", 0) + 1
            offer = (
                [messages.text(workspace, "handoff.offer_button", language)]
                if turn.context.counters["fallbacks"] >= 2
                else []
            )
            fallback = messages.text(workspace, "fallback", language)
            return Decision(
                [Reply(fallback, quick_replies=offer, meta={"step": "fallback"})],
                status=status_change,
            )
        turn.context.counters["fallbacks"] = 0
        return Decision([reply], status=status_change)

    def _answer(self, turn: Turn) -> Reply | None:
        workspace, text = turn.workspace, turn.message.text
        intent, language = turn.understanding.intent, reply_language.for_turn(turn)
        if intent == "greeting":
            return Reply(
                messages.text(workspace, "greeting", language),
                quick_replies=messages.quick_replies(workspace, language),
            )
        shop = self._shops.get(workspace.id)
        if intent == "order_status" and shop is not None:
            match = ORDER_ID.search(text)
            if match is None:
                return Reply(messages.text(workspace, "order.ask_number", language))
            return Reply(shop.describe_order(match.group(0)), meta={"step": "shop"})
        faq = _faq_match(workspace, normalize(text))
        if faq is None:
            return None
        answer = faq.translations.get(language)
        if answer is None and language != messages.normalise(workspace.default_locale):
            # The rule of article answers: only in the default language, and said so.
            name = messages.language_name(workspace.default_locale, language)
            note = messages.text(workspace, "knowledge.other_language", language, language=name)
            answer = f"{note}\n\n{faq.answer}"
        return Reply(answer or faq.answer, meta={"step": "faq"})

    async def close(self) -> None:
        return None


def _buttons(workspace: WorkspaceConfig) -> set[str]:
    """Our "talk to a person" button in every language, as ``normalize`` writes it."""
    return workspace.parsed(
        "keywords:buttons",
        lambda _: {
            normalize(b) for b in messages.translations(workspace, "handoff.offer_button").values()
        },
    )


def _faq_match(workspace: WorkspaceConfig, norm: str) -> FaqEntry | None:
    words = set(re.findall(r"\w+", norm))
    best, best_hits = None, 0
    for entry in workspace.faq:
        hits = sum(1 for k in entry.keywords if k.casefold() in words)
        if hits > best_hits:
            best, best_hits = entry, hits
    return best


def build_keyword_bot(workspaces: Iterable[WorkspaceConfig], shops: Shops) -> KeywordBot:
    found = {}
    for workspace in workspaces:
        shop_file = (workspace.model_extra or {}).get("shop_file")
        if shop_file and workspace.source_dir is not None:
            found[workspace.id] = shops.get(workspace.source_dir / shop_file)
    return KeywordBot(found)
