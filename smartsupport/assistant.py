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

import asyncio
import logging
import re
import sys
from dataclasses import asdict
from datetime import datetime
from functools import partial

from smartsupport import decisions, handoff, messages, previous_case, reply_language
from smartsupport.answers import Answerer
from smartsupport.article_answers import ArticleAnswers
from smartsupport.consent import people_only
from smartsupport.context import ConversationContext
from smartsupport.demo_shop import Shops
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.domain import (
    ConversationStatus,
    Customer,
    Message,
    OutboxItem,
    Reply,
    Understanding,
)
from smartsupport.encoder_process import encoder_backend
from smartsupport.encoding import SentenceEncoder
from smartsupport.handoff.rules import HandoffOutcome, needs_customer
from smartsupport.helpdesk.handoff_tickets import add_helpdesk_work
from smartsupport.keywords import KeywordBot, build_keyword_bot
from smartsupport.knowledge import ingest_jobs, places
from smartsupport.knowledge.answer import extract_answer
from smartsupport.knowledge.answerability import Answerability
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.nlu.asking import asks_measure
from smartsupport.nlu.engine import NluEngine
from smartsupport.notify import handoff_notices
from smartsupport.review.live import LiveReview
from smartsupport.review.retrain import restore_deployed
from smartsupport.services import Services
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger("smartsupport.assistant")

HUMAN_INTENT = "human_agent"
STATES_FACTS = re.compile(r"\d|[$€£¥]")  # a number, a price, a time: a fact to check

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
        answerability: Answerability,
    ) -> None:
        self.services = services
        self.nlu = nlu
        self.knowledge = knowledge
        self.answerer = answerer
        self.dialogue = dialogue
        self.keywords = keywords
        self.articles = ArticleAnswers(knowledge, answerability, answerer)
        self.live = LiveReview(services.store, nlu)  # experiments, shadow mode (review/)
        if dialogue is not None:  # A/B tests of flows
            dialogue.flow_choice = self.live.experiments.choose_flow
            # A verified customer's remembered facts, read when a flow starts (templates).
            dialogue.recall = partial(previous_case.remembered, services.store)

    # -- understand ----------------------------------------------------------------------
    async def understand(
        self, workspace: WorkspaceConfig, text: str, context: ConversationContext
    ) -> Understanding:
        with self.services.telemetry.timed("nlu"):
            # The message as the knowledge search will embed it goes in the batch that the
            # intent model's text starts, after the NLU cache's lookup (a round trip to
            # Redis, which must not send the two texts in two batches): one trip to the
            # encoder per message.
            if self.knowledge.may_search(workspace.id):
                self.knowledge.prefetch(text)
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
        self.live.observe(turn)  # a model deployed elsewhere: checked now and then
        customer = await self._customer(turn)
        if decisions.accepts_person(turn):
            turn.understanding.intent, turn.understanding.confidence = HUMAN_INTENT, 1.0
            turn.understanding.out_of_scope, turn.understanding.source = False, "offer"
        # A repeated-question rule that compares by embedding: the message and the earlier
        # questions encoded off the event loop, batched and cached with the turn's other texts.
        compared = handoff.compared_texts(turn)
        vectors = await self.knowledge.encoder.vectors(compared) if compared else None
        outcome = handoff.evaluate(turn, customer, vectors=vectors)
        people = people_only(turn.conversation)  # opted out of automated answers
        if turn.conversation.status is ConversationStatus.WITH_AGENT or people:
            decision = Decision()  # a person holds (or must take) it: the bot stays silent
        elif outcome is not None and outcome.action == "transfer":
            decision = Decision()
        else:
            # An earlier case of a verified customer this message refers to, read before
            # deciding and continued in the reply (previous_case.py; no read for most turns).
            case = await previous_case.load(
                self.services.store, turn, self.knowledge.encoder.vectors
            )
            decision = previous_case.continue_case(turn, case, await self._answer(turn))
        if outcome is not None:
            decision = handoff.apply(outcome, decision, turn.conversation.metadata)
            last = decision.replies[-1] if decision.replies else None
            on_question = last is not None and last.meta.get("step") == "flow"
            if outcome.action == "offer_human" and not on_question:
                # On a flow's question the offer is a button: a bare "yes" answers the
                # question ("Start a return for ORD-10238?"), the button reaches a person.
                decisions.offer_person(turn)
            decision.outbox += self._notices(turn, outcome, decision)
        if (
            turn.understanding.intent == HUMAN_INTENT
            and outcome is None
            and decision.status is None
            and turn.conversation.status is ConversationStatus.BOT
        ) or (
            people
            and decision.status is None
            and (outcome is None or outcome.action != "transfer")  # offline: its contact form
            and turn.conversation.status in (ConversationStatus.BOT, ConversationStatus.RESOLVED)
        ):
            # No handoff rule took it: asking for a person (or having chosen people only,
            # consent.py) still reaches the queue.
            text = messages.text(turn.workspace, "handoff.message", reply_language.for_turn(turn))
            decision.replies = [Reply(text, meta={"step": "handoff"})]
            decision.status = ConversationStatus.WAITING
            decision.reason = (
                "customer chose people only" if people else "customer asked for a human"
            )
        if turn.conversation.status is ConversationStatus.RESOLVED and decision.status is None:
            decision.status = ConversationStatus.BOT  # the customer came back: reopen
        await self.live.apply(turn, decision)  # an experiment's variant of the response
        return add_helpdesk_work(turn, outcome, decision)  # tickets the workspace asks for

    @staticmethod
    def _notices(turn: Turn, outcome: HandoffOutcome, decision: Decision) -> list[OutboxItem]:
        """Slack/Teams notices when the conversation is handed to people now."""
        if outcome.action != "transfer" or outcome.offline:
            return []
        priority = decision.metadata.get("priority") or turn.conversation.metadata.get(
            "priority", "normal"
        )
        return handoff_notices(
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
        """The first step of the workspace's decision order that answers (decisions.py)."""
        state = decisions.deliberation(turn)
        for step in decisions.decision_order(turn.workspace):
            state.reason = step
            decision = await getattr(self, f"_{step}")(turn, state)
            if decision is not None:
                decisions.record(decision, step, state.reason, state)
                return decision if step == "flow" else await self._resume_flow(turn, decision)
        return decisions.record(Decision(), "none", "no step answered", state)

    async def _flow(self, turn: Turn, state: decisions.Deliberation) -> Decision | None:
        accepted = decisions.offered_flow(turn)
        if accepted is not None:
            started = await self.dialogue.start(turn, accepted)
            if started is not None:
                return started
        starting = await self.dialogue.would_start(turn)
        if starting is not None and state.asks_about:
            if not self.dialogue.starts_on_questions(turn, starting):
                # A question about what the flow does: answer it, then offer the flow.
                state.offer_flow = starting
                state.skip("flow", f"asks about {starting}, not for it")
                return None
            about_policy = asks_measure(turn.message.text)
            if (
                about_policy or not self.dialogue.names_slot(turn, starting)
            ) and await self._articles(turn, state):
                # "Tracking hasn't moved in 4 days, is that normal?" is about an order, and
                # the articles answer it; the look-up stays one button away. A measure of a
                # policy is asked about even when a product is named ("how long is the Trail
                # Runner's warranty?").
                state.offer_flow = starting
                state.skip("flow", f"the articles answer this question about {starting}")
                return None
        decision = await self.dialogue.handle(turn)
        if decision is None:
            state.skip("flow", "no active flow and none starts on this intent")
        return decision

    async def _small_talk(self, turn: Turn, state: decisions.Deliberation) -> Decision | None:
        if state.intent not in decisions.SMALL_TALK or decisions.bare_answer(turn.message.text):
            return None
        reply = self._configured(turn.workspace.id, state.intent, state.language)
        if reply is None:
            return None
        if state.intent == "greeting":
            reply.quick_replies = messages.quick_replies(turn.workspace, state.language)
        return Decision([reply])

    async def _knowledge(self, turn: Turn, state: decisions.Deliberation) -> Decision | None:
        if state.intent == HUMAN_INTENT:
            state.skip("knowledge", "the customer asked for a person")
            return None
        await self._articles(turn, state)
        assert state.answer is not None
        answer, considered = state.answer
        state.knowledge_candidates = considered
        if answer is None:
            state.skip("knowledge", f"none of {considered} passage(s) answers the question")
            return None
        state.reason = f"a passage answers ({answer.replies[0].meta.get('answerability')})"
        if state.offer_flow is not None:
            button = self._flow_button(turn, state.offer_flow, state.language)
            decisions.offer(turn, answer, state.offer_flow, button)
        return answer

    async def _articles(self, turn: Turn, state: decisions.Deliberation) -> bool:
        """Whether the articles answer the message (worked out once per turn)."""
        if state.answer is None:
            with self.services.telemetry.timed("knowledge"):
                state.answer = await self.articles.answer(turn, state.language, state.retrieved)
        return state.answer[0] is not None

    async def _intent_response(self, turn: Turn, state: decisions.Deliberation) -> Decision | None:
        if state.intent is None or state.intent == HUMAN_INTENT:
            return None
        reply = self._configured(turn.workspace.id, state.intent, state.language)
        if reply is None:
            return None
        checked = (
            state.intent not in decisions.conversational_intents(turn.workspace)
            and turn.workspace.articles_dir is not None
        )
        flow = self.dialogue.flow_of_intent(turn.workspace.id, state.intent)
        if flow is not None and not checked:
            # The response of a flow's intent may promise the flow ("Let me look that order
            # up"), which did not start; with no articles nothing can tell whether it answers.
            state.skip("intent_response", f"{state.intent} is answered by the {flow} flow")
            return None
        if checked:
            # An authored answer covers its intent's usual question; the customer may ask
            # about a neighbouring thing (changing the e-mail address, where the account
            # response explains password resets), or the response may promise an action
            # rather than answer ("Let me look that order up"). Like a passage, it must
            # answer this message (in workspaces with articles: the check needs their index).
            support = await self.articles.supports(
                turn, reply.text, state.language, state.retrieved
            )
            if support < self.articles.answerability.threshold:
                state.skip("intent_response", f"it does not answer this ({support:.2f})")
                return None
        decision = Decision([reply])
        if state.offer_flow is not None:
            button = self._flow_button(turn, state.offer_flow, state.language)
            decisions.offer(turn, decision, state.offer_flow, button)
        return decision

    async def _keywords(self, turn: Turn, state: decisions.Deliberation) -> Decision | None:
        if state.intent == HUMAN_INTENT:
            return Decision()  # a handoff rule (or decide's own rule) hands over
        decision = await self.keywords.decide(turn)  # FAQ keywords, demo shop, fallback
        step = decision.replies[0].meta.get("step") if decision.replies else None
        if step in (None, "fallback"):
            state.keyword_fallback = decision
            state.skip("keywords", "no keyword answer")
            return None
        if step == "faq" and turn.workspace.articles_dir is not None:
            # A keyword FAQ entry shares a word with the question ("card"); it must answer
            # it. One that states facts (a price, a time) is scored like a passage; one that
            # states none must at least mention everything the question names: "we accept
            # Visa, PayPal..." answers "PayPal?" but not "why was my card declined?".
            text = decision.replies[0].text
            if STATES_FACTS.search(text):
                support = await self.articles.supports(turn, text, state.language, state.retrieved)
                if support < self.articles.answerability.threshold:
                    state.skip("keywords", f"the FAQ entry does not answer this ({support:.2f})")
                    return None
            elif not await self.articles.names_all(turn, text):
                state.skip("keywords", "the FAQ entry does not mention what the question names")
                return None
        return decision

    async def _no_answer(self, turn: Turn, state: decisions.Deliberation) -> Decision | None:
        if state.knowledge_candidates:
            # A message the articles were searched for and do not answer: say so, offer a
            # person (the handoff step of the answer chain phrases it). "I did not
            # understand" would be untrue of a recognised request that nothing here serves
            # ("please tell me how to delete my account").
            result = await self.answerer.answer(
                turn.workspace, turn.message.text, [], language=state.language,
                on_delta=turn.stream,
            )  # fmt: skip
            if result.reply_text is not None:
                quick = [messages.text(turn.workspace, "handoff.offer_button", state.language)]
                quick = quick if result.handoff else []
                if result.handoff:
                    decisions.offer_person(turn)
                meta = {"step": result.step, **result.meta()}
                return Decision([Reply(result.reply_text, quick_replies=quick, meta=meta)])
        return state.keyword_fallback or await self.keywords.decide(turn)

    def _flow_button(self, turn: Turn, flow: str, language: str) -> str:
        return messages.text(turn.workspace, "flow.start_button", language)

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

    async def _resume_flow(self, turn: Turn, decision: Decision) -> Decision:
        again = await self.dialogue.followup(turn)
        if again is not None:
            decision.replies.append(again)
        return decision

    def recorded(
        self, workspace: WorkspaceConfig, message: Message, understanding: Understanding
    ) -> None:
        # Shadow mode compares the stored message: after the commit, never waiting.
        self.live.shadow.observe(workspace.id, message.id, message.text, understanding)

    async def close(self) -> None:
        await self.dialogue.aclose()
        await self.answerer.aclose()
        await self.live.close()
        await self.nlu.close()
        await self.knowledge.encoder.close()


async def build_assistant(services: Services, shops: Shops | None = None) -> Assistant:
    """Prepare every workspace: train or load its intent model, ingest changed articles."""
    settings = services.settings
    encoder = SentenceEncoder(encoder_backend(settings.encoder))
    # The model loads (in its own process, with SMARTSUPPORT_ENCODER=process) while the
    # workspaces are prepared; one that cannot start stops start-up with its reason.
    starting = asyncio.create_task(encoder.start())
    nlu = NluEngine(
        settings.data_dir, services.backplane, models_dir=settings.models_dir, encoder=encoder
    )
    knowledge = KnowledgeBase(services.store, embedder=encoder)  # type: ignore[arg-type]
    for workspace in services.workspaces.values():
        # A progress bar on an interactive terminal: the first start trains the model.
        await nlu.prepare(workspace, progress=sys.stderr.isatty())
        await restore_deployed(services.store, nlu, workspace)  # retrained by review
        if workspace.articles_dir is not None:  # a job, run here unless jobs are off
            await ingest_jobs.at_start(services, knowledge, workspace.id)
        # The index now, not on the first question: that customer would wait for it, and
        # what is built before the server is ready is left out of its garbage collections
        # (serve_process.py).
        await knowledge.idf(workspace.id)
    answerer = Answerer.from_settings(settings, extract=extract_answer)
    await answerer.warm_up()
    shops = shops or Shops()
    dialogue = DialogueManager(services.workspaces, None, settings, shops=shops)
    keywords = build_keyword_bot(services.workspaces.values(), shops)
    # Vectors of texts prepared as the index prepares them, as bench/train_answerability.py
    # trains the model on (it was given raw-text vectors before: features it was not trained
    # on); the question's vector is the one the search has just computed.
    answerability = Answerability(knowledge.encode, vectors=knowledge.vectors)
    # The place names of CLDR take a couple of seconds to gather: off the event loop and
    # before the first question about a delivery time needs them.
    asyncio.get_running_loop().run_in_executor(None, places.gazetteer)
    assistant = Assistant(services, nlu, knowledge, answerer, dialogue, keywords, answerability)
    assistant.live.follow(services.backplane, services.workspaces)  # models deployed elsewhere
    await starting
    return assistant
