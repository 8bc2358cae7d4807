"""The assistant: the full "understand, then decide" behind the conversation path's seam.

    understand   the NLU engine: language, intent or out-of-scope, entities, sentiment
    decide       1. a person holds the conversation     -> stay silent
                 2. handoff rules (escalation.yaml)     -> transfer now, or an offer / priority
                 3. an active or newly started flow      -> its question, action result, handoff
                 4. small talk with a configured reply   -> greeting, thanks, goodbye
                 5. the knowledge base                   -> grounded answer with a citation
                    (LLM steps when configured, else extractive; an honest "I don't know"
                    with an offer of a person when the articles do not support an answer)
                 6. the intent's configured response, then the fallback
                 a flow paused by a digression asks its question again afterwards

Deciding is pure: the assistant reads (the NLU cache, the knowledge index, the customer
record) but writes nothing. Every effect (a raised priority, the handoff reason, Slack/Teams
notices, LLM usage) is part of the returned ``Decision``, which the conversation path records
in the turn's one transaction.

Each part is optional per workspace: no intents means rules and keywords only, no articles
means no knowledge answers, no escalation.yaml means asking for a person is the only way out.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from datetime import datetime

from smartsupport import handoff
from smartsupport.answers import Answerer
from smartsupport.context import ConversationContext
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.domain import ConversationStatus, Customer, OutboxItem, Reply, Understanding
from smartsupport.handoff.rules import EscalationOutcome, needs_customer
from smartsupport.keywords import KeywordBot, build_keyword_bot
from smartsupport.knowledge.answer import extract_answer
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.llm.chain import accumulate
from smartsupport.nlu.engine import NluEngine
from smartsupport.notify import escalation_notices
from smartsupport.services import Services
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger("smartsupport.assistant")

SMALL_TALK = {"greeting", "thanks", "goodbye"}
HUMAN_INTENT = "human_agent"
OFFER_BUTTON = "Talk to a person"
CUSTOMER_KEY = "customer"  # in ConversationContext.data


class Assistant:
    def __init__(
        self,
        services: Services,
        nlu: NluEngine,
        knowledge: KnowledgeBase,
        answerer: Answerer,
        dialogue: DialogueManager,
        keywords: KeywordBot,
    ) -> None:
        self.services = services
        self.nlu = nlu
        self.knowledge = knowledge
        self.answerer = answerer
        self.dialogue = dialogue
        self.keywords = keywords

    # -- understand ----------------------------------------------------------------------
    async def understand(
        self, workspace: WorkspaceConfig, text: str, context: ConversationContext
    ) -> Understanding:
        understanding = await self.nlu.understand(workspace.id, text)
        if understanding.intent is None:
            # Keywords still recognise "a person, please" and greetings everywhere, and stand
            # in for the whole intent model in workspaces that define no intents.
            fallback = await self.keywords.understand(workspace, text, context)
            no_model = not self.nlu.spec(workspace.id).intents
            if fallback.intent in (HUMAN_INTENT, "greeting") or (fallback.intent and no_model):
                understanding.intent = fallback.intent
                understanding.confidence = fallback.confidence
                understanding.out_of_scope = False
                understanding.source = "keyword"
        return understanding

    # -- decide --------------------------------------------------------------------------
    async def decide(self, turn: Turn) -> Decision:
        customer = await self._customer(turn)
        outcome = handoff.evaluate(turn, customer)
        if turn.conversation.status is ConversationStatus.WITH_AGENT:
            decision = Decision()  # a person holds the conversation: the bot stays silent
        elif outcome is not None and outcome.action == "transfer":
            decision = Decision()
        else:
            decision = await self._answer(turn)
        if outcome is not None:
            decision = handoff.apply(outcome, decision, turn.conversation.metadata)
            decision.outbox += self._notices(turn, outcome, decision)
        elif (
            turn.understanding.intent == HUMAN_INTENT
            and decision.status is None
            and turn.conversation.status is ConversationStatus.BOT
        ):
            # No handoff rules configured: asking for a person still works.
            decision.replies = [Reply(turn.workspace.handoff_message, meta={"step": "handoff"})]
            decision.status = ConversationStatus.WAITING
            decision.reason = "customer asked for a human"
        if turn.conversation.status is ConversationStatus.RESOLVED and decision.status is None:
            decision.status = ConversationStatus.BOT  # the customer came back: reopen
        return decision

    @staticmethod
    def _notices(turn: Turn, outcome: EscalationOutcome, decision: Decision) -> list[OutboxItem]:
        """Slack/Teams notices when the conversation is handed to people now."""
        if outcome.action != "transfer" or outcome.offline:
            return []
        priority = decision.metadata.get("priority") or turn.conversation.metadata.get(
            "priority", "normal"
        )
        return escalation_notices(
            turn.workspace,
            turn.conversation.id,
            reason=outcome.reason,
            priority=priority,
            key=turn.message.id,
        )

    async def _customer(self, turn: Turn) -> Customer | None:
        """The customer, when a handoff rule looks at it. A conversation's customer
        record does not change once it started, so it is read on the first turn and kept
        in the session context, not read again on every turn."""
        if not needs_customer(turn.workspace):
            return None
        kept = turn.context.data.get(CUSTOMER_KEY)
        if isinstance(kept, dict) and kept.get("id") == turn.conversation.customer_id:
            try:
                return Customer(
                    **{**kept, "created_at": datetime.fromisoformat(kept["created_at"])}
                )
            except (TypeError, ValueError, KeyError):
                pass  # kept by another version of Customer: read it again
        customer = await self.services.store.get_customer(turn.conversation.customer_id)
        if customer is not None:
            kept = asdict(customer)
            turn.context.data[CUSTOMER_KEY] = {
                **kept,
                "created_at": customer.created_at.isoformat(),
            }
        return customer

    async def _answer(self, turn: Turn) -> Decision:
        flow = await self.dialogue.handle(turn)
        if flow is not None:
            return flow
        understanding, workspace = turn.understanding, turn.workspace
        intent = understanding.intent if not understanding.out_of_scope else None
        language = understanding.language or workspace.default_locale
        if intent in SMALL_TALK:
            reply = self._configured(workspace.id, intent, language)
            if reply is not None:
                if intent == "greeting":
                    reply.quick_replies = list(workspace.quick_replies)
                return await self._resume_flow(turn, Decision([reply]))
        if intent == HUMAN_INTENT:
            return Decision()  # a handoff rule (or the rule above) hands over
        answer = await self._knowledge(turn, language)
        if answer is not None:
            return await self._resume_flow(turn, answer)
        reply = self._configured(workspace.id, intent, language) if intent else None
        if reply is None:
            keyword = await self.keywords.decide(turn)  # FAQ keywords, demo shop, fallback
            return await self._resume_flow(turn, keyword)
        return await self._resume_flow(turn, Decision([reply]))

    def _configured(self, workspace_id: str, intent: str | None, language: str) -> Reply | None:
        if not intent:
            return None
        try:
            responses = self.nlu.responses(workspace_id, intent, language)
        except Exception:  # noqa: BLE001 - a workspace without NLU simply has no responses
            return None
        if not responses:
            return None
        return Reply(responses[0], meta={"step": "intent_response", "intent": intent})

    async def _knowledge(self, turn: Turn, language: str) -> Decision | None:
        question = turn.message.text
        passages = await self.knowledge.search(turn.workspace.id, question, locale=language, k=5)
        if not passages and language != turn.workspace.default_locale:
            passages = await self.knowledge.search(turn.workspace.id, question, k=5)
        if not passages:
            return None
        result = await self.answerer.answer(
            turn.workspace, question, passages, language=language, on_delta=turn.stream
        )
        if result.reply_text is None or result.step == "offline":
            return None
        meta = {"step": result.step, **result.meta()}
        usage = {}
        if result.usage.get("calls"):
            usage = {
                "llm_usage": accumulate(turn.conversation.metadata.get("llm_usage"), result.usage)
            }
        quick = [OFFER_BUTTON] if result.handoff else []
        events = [("answer", {"step": result.step, "reason": result.reason, "usage": result.usage})]
        if result.handoff:
            # The articles do not support an answer: say so and offer a person. The keyword
            # fallback may still know (demo shop, FAQ) — prefer it when it does.
            keyword = await self.keywords.decide(turn)
            if keyword.replies and keyword.replies[0].meta.get("step") not in (None, "fallback"):
                return keyword
        return Decision(
            [Reply(result.reply_text, quick_replies=quick, meta=meta)],
            events=events,
            metadata=usage,
        )

    async def _resume_flow(self, turn: Turn, decision: Decision) -> Decision:
        again = await self.dialogue.followup(turn)
        if again is not None:
            decision.replies.append(again)
        return decision

    async def close(self) -> None:
        await self.dialogue.aclose()
        await self.answerer.aclose()


async def build_assistant(services: Services) -> Assistant:
    """Prepare every workspace: train or load its intent model, ingest changed articles."""
    settings = services.settings
    nlu = NluEngine(settings.data_dir, services.backplane, models_dir=settings.models_dir)
    knowledge = KnowledgeBase(services.store)  # type: ignore[arg-type]
    for workspace in services.workspaces.values():
        # A progress bar on an interactive terminal: the first start trains the model.
        await nlu.prepare(workspace, progress=sys.stderr.isatty())
        if workspace.articles_dir is not None:
            report = await knowledge.ingest(workspace.id, [workspace.articles_dir])
            log.info("knowledge base of %s: %s", workspace.id, report)
    answerer = Answerer.from_settings(settings, extract=extract_answer)
    await answerer.warm_up()
    dialogue = DialogueManager(services.workspaces, None, settings)
    keywords = build_keyword_bot(services.workspaces.values())
    return Assistant(services, nlu, knowledge, answerer, dialogue, keywords)
