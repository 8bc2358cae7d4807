"""Escalation rules as data: validation with clear errors, every rule type firing with its
reason, multilingual requests for a person, and how outcomes change the decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartsupport.context import ConversationContext
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Reply,
    Understanding,
)
from smartsupport.embeddings import get_embedder
from smartsupport.errors import ConfigurationError
from smartsupport.handoff import apply, compared_texts, evaluate
from smartsupport.handoff.config import check_workspaces, parse
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import DEMO_DIR, WorkspaceConfig, load_workspace_dir

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def workspace(rules, **section) -> WorkspaceConfig:
    return WorkspaceConfig.model_validate(
        {"id": "acme", "name": "Acme", "escalation": {"rules": rules, **section}}
    )


class Chat:
    """One conversation's turns against a workspace's rules."""

    def __init__(self, ws: WorkspaceConfig, customer: Customer | None = None, **conv) -> None:
        self.ws = ws
        self.customer = customer
        self.conversation = Conversation(id="c1", workspace_id="acme", customer_id="u1", **conv)
        self.context = ConversationContext("c1")

    def say(self, text: str, *, now=NOW, **understanding):
        u = Understanding(**{"intent": "faq", "confidence": 0.9, **understanding})
        message = Message(id="m", conversation_id="c1", seq=1, author=Author.CUSTOMER, text=text)

        async def stream(_: str) -> None:
            return None

        turn = Turn(self.ws, self.conversation, message, self.context, u, stream)
        compared = compared_texts(turn)
        vectors = get_embedder().encode(compared) if compared else None
        return evaluate(turn, self.customer, now=now, vectors=vectors)


def test_invalid_config_names_the_field_and_the_fix():
    with pytest.raises(ConfigurationError) as err:
        parse(
            {"rules": [{"name": "x", "type": "moon_phase", "action": "transfer"}]},
            source="acme/escalation.yaml",
        )
    assert "acme/escalation.yaml" in str(err.value) and "rules.0" in str(err.value)
    assert "human_request" in str(err.value)  # lists the known types
    with pytest.raises(ConfigurationError, match="raise_priority needs a priority"):
        parse(
            {
                "rules": [
                    {
                        "name": "v",
                        "type": "segment",
                        "segments": ["vip"],
                        "action": "raise_priority",
                    }
                ]
            }
        )
    with pytest.raises(ConfigurationError, match="repeated: a"):
        parse({"rules": [{"name": "a", "type": "humans_only", "action": "transfer"}] * 2})
    with pytest.raises(ConfigurationError, match="offer_human"):
        parse({"rules": [{"name": "a", "type": "humans_only", "action": "panic"}]})
    with pytest.raises(ConfigurationError, match="Mars/Olympus"):
        parse({"business_hours": {"timezone": "Mars/Olympus"}})
    with pytest.raises(ConfigurationError, match="09:00-17:30"):
        parse({"business_hours": {"weekly": {"mon": ["9am-5pm"]}}})
    with pytest.raises(ConfigurationError, match="unknown day"):
        parse({"business_hours": {"weekly": {"monday": ["09:00-17:00"]}}})
    with pytest.raises(ConfigurationError, match="helpdesk.provider"):
        parse({"helpdesk": {"provider": "jira", "url": "https://x"}})
    with pytest.raises(ConfigurationError, match="below"):
        check_workspaces(
            [workspace([{"name": "s", "type": "sentiment", "below": -7, "action": "offer_human"}])]
        )


@pytest.mark.parametrize(
    "text",
    [
        "I want to talk to a human",
        "can I speak with someone please",
        "agent",
        "¿Puedo hablar con una persona?",
        "quiero un agente",
        "Je voudrais parler à un conseiller",
        "Ich möchte mit einem Mitarbeiter sprechen",
        "Quero falar com um atendente",
        "atendimento humano",
    ],
)
def test_a_request_for_a_person_in_any_supported_language_transfers(text):
    chat = Chat(workspace([{"name": "ask", "type": "human_request", "action": "transfer"}]))
    outcome = chat.say(text)
    assert outcome is not None and outcome.action == "transfer"
    assert outcome.reason == "customer asked for a person"


@pytest.mark.parametrize(
    "text", ["where is my order", "the agent said it shipped", "hablar con ventas"]
)
def test_ordinary_messages_do_not_ask_for_a_person(text):
    chat = Chat(workspace([{"name": "ask", "type": "human_request", "action": "transfer"}]))
    assert chat.say(text) is None


def test_extra_phrases_and_the_nlu_intent_count_too():
    chat = Chat(
        workspace(
            [
                {
                    "name": "ask",
                    "type": "human_request",
                    "action": "transfer",
                    "extra_phrases": ["Beam me up, Scotty"],
                }
            ]
        )
    )
    assert chat.say("beam me up scotty!!") is not None
    assert chat.say("xyz", intent="human_agent") is not None


def test_keywords_in_several_languages_raise_priority_and_transfer():
    rules = [{"name": "legal", "type": "keywords", "action": "transfer", "priority": "urgent"}]
    for text in (
        "I will call my lawyer",
        "Es un fraude",
        "ma carte a été volée",
        "Ich habe Betrug gemeldet",
        "vou ao PROCON",
    ):
        outcome = Chat(workspace(rules)).say(text)
        assert outcome is not None and outcome.priority == "urgent", text
        assert outcome.reason.startswith("sensitive topic:")
    assert Chat(workspace(rules)).say("que legal, obrigado", language="pt") is None  # "cool"
    assert Chat(workspace(rules)).say("is that legal?", language="en") is not None
    custom = [{"name": "k", "type": "keywords", "words": ["gdpr"], "action": "offer_human"}]
    assert Chat(workspace(custom)).say("my lawyer") is None
    assert Chat(workspace(custom)).say("GDPR request") is not None


def test_negative_sentiment_offers_a_person():
    chat = Chat(
        workspace([{"name": "upset", "type": "sentiment", "below": -0.5, "action": "offer_human"}])
    )
    assert chat.say("fine", sentiment=-0.2) is None
    outcome = chat.say("this is awful", sentiment=-0.8)
    assert outcome.action == "offer_human" and "negative sentiment (-0.80" in outcome.reason
    assert chat.say("still awful", sentiment=-0.9) is None  # once per conversation


def test_low_confidence_or_repeated_fallback():
    rules = [
        {
            "name": "lost",
            "type": "low_confidence",
            "below": 0.4,
            "times": 2,
            "action": "offer_human",
        }
    ]
    chat = Chat(workspace(rules))
    assert chat.say("blorp", intent=None, confidence=0.0) is None
    assert chat.say("I said hi", intent="greeting", confidence=0.95) is None  # resets the streak
    assert chat.say("hmm", intent="faq", confidence=0.2) is None
    outcome = chat.say("zzz", intent=None, confidence=0.1)
    assert outcome.reason == "not understood 2 times in a row"
    chat = Chat(workspace(rules))
    chat.context.counters["fallbacks"] = 2  # the policy's own fallback counter
    assert chat.say("ok", confidence=0.9) is not None


def test_the_same_question_asked_again_and_again():
    rules = [
        {
            "name": "again",
            "type": "repeated_question",
            "times": 3,
            "similarity": 0.6,
            "action": "offer_human",
        }
    ]
    chat = Chat(workspace(rules))
    assert chat.say("How do I reset my password?") is None
    assert chat.say("how do i reset my password") is None
    assert chat.say("What are your opening hours?") is None
    outcome = chat.say("HOW do I reset my password??")
    assert outcome.reason == "the same question asked 3 times"


def test_repeated_question_by_embedding_similarity():
    rules = [
        {
            "name": "again",
            "type": "repeated_question",
            "times": 2,
            "method": "embedding",
            "similarity": 0.7,
            "action": "offer_human",
        }
    ]
    chat = Chat(workspace(rules))
    assert chat.say("How can I get my money back?") is None
    assert chat.say("What colours does the jacket come in?") is None
    outcome = chat.say("¿Cómo puedo obtener un reembolso?")  # the same question, in Spanish
    assert outcome is not None and outcome.reason == "the same question asked 2 times"


def test_vip_segment_duration_and_humans_only():
    rules = [
        {
            "name": "vip",
            "type": "segment",
            "segments": ["VIP"],
            "action": "raise_priority",
            "priority": "high",
        },
        {"name": "long", "type": "duration", "minutes": 20, "action": "offer_human"},
        {"name": "people", "type": "humans_only", "action": "transfer"},
    ]
    vip = Customer(id="u1", workspace_id="acme", segment="vip")
    chat = Chat(workspace(rules), vip, created_at=NOW - timedelta(minutes=5))
    outcome = chat.say("hello")
    assert [f.rule for f in outcome.firings] == ["vip"] and outcome.action == "raise_priority"
    assert outcome.priority == "high"
    outcome = chat.say("still there?", now=NOW + timedelta(minutes=16))
    assert [f.rule for f in outcome.firings] == ["long"]
    assert "longer than 20 minutes" in outcome.reason
    picky = Customer(id="u1", workspace_id="acme", metadata={"humans_only": True})
    outcome = Chat(workspace(rules), picky).say("hi")
    assert (
        outcome.action == "transfer" and outcome.reason == "customer chose to talk to people only"
    )


def test_while_waiting_only_priority_rules_run():
    rules = [
        {"name": "ask", "type": "human_request", "action": "transfer"},
        {
            "name": "angry",
            "type": "sentiment",
            "below": -0.5,
            "action": "raise_priority",
            "priority": "urgent",
        },
    ]
    chat = Chat(workspace(rules), status=ConversationStatus.WAITING)
    assert chat.say("agent!!") is None
    outcome = chat.say("why is nobody here", sentiment=-0.9)
    assert outcome.action == "raise_priority" and outcome.priority == "urgent"


def test_apply_transfer_offer_and_offline():
    rules = [
        {"name": "ask", "type": "human_request", "action": "transfer"},
        {"name": "upset", "type": "sentiment", "below": -0.5, "action": "offer_human"},
    ]
    ws = workspace(rules)
    outcome = Chat(ws).say("talk to a human")
    decision = apply(outcome, Decision([Reply("Sorry?", meta={"step": "fallback"})]))
    assert decision.status is ConversationStatus.WAITING
    assert [r.text for r in decision.replies] == [ws.handoff_message]  # the fallback is dropped
    assert decision.reason == "customer asked for a person"
    assert decision.events == [
        (
            "escalation.fired",
            {
                "rule": "ask",
                "type": "human_request",
                "action": "transfer",
                "reason": "customer asked for a person",
                "offline": False,
            },
        )
    ]
    # The policy already handed over: no second handoff message.
    decision = apply(
        outcome, Decision([Reply(ws.handoff_message)], status=ConversationStatus.WAITING)
    )
    assert len(decision.replies) == 1

    outcome = Chat(ws).say("meh", sentiment=-0.9)
    decision = apply(
        outcome, Decision([Reply("Shipping is free over $50.", quick_replies=["Returns"])])
    )
    assert decision.status is None
    assert decision.replies[0].quick_replies == ["Returns", "Talk to a person"]

    closed = workspace(
        rules, business_hours={"timezone": "Europe/Madrid", "weekly": {"mon": ["09:00-17:00"]}}
    )
    outcome = Chat(closed).say("talk to a human")
    assert outcome.offline and outcome.next_open == datetime(
        2026, 11, 23, 9, 0, tzinfo=outcome.next_open.tzinfo
    )
    decision = apply(
        outcome, Decision([Reply(closed.handoff_message)], status=ConversationStatus.WAITING)
    )
    assert decision.status is None  # nobody to wait for
    [form] = decision.replies
    assert form.meta == {"step": "offline", "form": "contact"} and "offline" in form.text


async def test_the_customer_is_read_only_for_rules_that_need_it_and_once_per_session():
    from types import SimpleNamespace

    from smartsupport.assistant import Assistant
    from smartsupport.context import ConversationContext as Context

    vip = Customer(id="u1", workspace_id="acme", segment="vip", metadata={"tier": 3})
    reads = []

    async def get_customer(customer_id):
        reads.append(customer_id)
        return vip

    services = SimpleNamespace(store=SimpleNamespace(get_customer=get_customer))
    assistant = Assistant(services, None, None, None, None, None, None)  # type: ignore[arg-type]
    conversation = Conversation(id="c1", workspace_id="acme", customer_id="u1")
    message = Message(id="m1", conversation_id="c1", seq=1, author=Author.CUSTOMER, text="hi")

    def turn(ws: WorkspaceConfig, context: Context) -> Turn:
        return Turn(ws, conversation, message, context, Understanding(), None)  # type: ignore[arg-type]

    no_customer_rules = workspace([{"name": "ask", "type": "human_request", "action": "transfer"}])
    assert await assistant._customer(turn(no_customer_rules, Context("c1"))) is None
    assert reads == []
    segment = workspace(
        [
            {
                "name": "vip",
                "type": "segment",
                "segments": ["vip"],
                "action": "raise_priority",
                "priority": "high",
            }
        ]
    )
    context = Context("c1")
    assert await assistant._customer(turn(segment, context)) == vip
    # Kept in the session context, which is saved as JSON between turns.
    context = Context.from_json(context.to_json())
    assert await assistant._customer(turn(segment, context)) == vip
    assert reads == ["u1"]


# -- the demo workspace's rules in the nine languages (issue 11) ----------------------------

DEMO = load_workspace_dir(DEMO_DIR)

# language -> (must reach a person urgently, must not): legal threats, fraud and hacked
# accounts, theft, injuries; and names, surnames, colours and product styles that happen to
# spell a legal word.
TOPICS = {
    "en": (["I'll sue you", "my lawyer will be in touch", "I am going to sue Northwind",
            "see you in court", "this is fraud", "my card was stolen", "I'll call the police",
            "I'm filing a chargeback", "I will take legal action",
            "my account was hacked and there are orders I didn't make",
            "the heel snapped, I fell and injured my knee"],
           ["Hi, I'm Sue, is the blue jacket in stock?", "my name is Justice",
            "Lawyer-style blazer in stock?", "do you have the court shoes in size 38?",
            "Can I talk to Sue from your team?", "Police sunglasses in stock?",
            "I walk in court shoes all day, which insoles?", "tennis court trainers?",
            "I fell in love with these boots, size 40?", "do these shoes hurt at first?"]),
    "es": (["demandaré a la tienda", "voy a llamar a mi abogado", "abogado",
            "voy a poner una demanda", "esto es una estafa", "me han robado la tarjeta",
            "lo denunciaré a la policía", "hay cargos no reconocidos en mi tarjeta",
            "me caí por la suela y tuve que ir a urgencias"],
           ["Abogado is my surname", "Mi apellido es Abogado, ¿hay tallas grandes?",
            "¿Hay mucha demanda de estas zapatillas?", "a mi juicio es caro",
            "la caja llegó con un golpe", "busco un traje estilo abogado"]),
    "fr": (["je vais contacter mon avocat", "avocat", "je vais porter plainte",
            "c'est une arnaque", "ma carte a été volée", "je vais aller à la police",
            "mon compte a été piraté", "ma fille s'est blessée avec la boucle"],
           ["Le pull vert avocat est-il disponible ?", "la couleur avocat existe en M ?",
            "le procès-verbal de livraison est signé"]),
    "de": (["Ich schalte meinen Anwalt ein", "Anwalt", "mein Rechtsanwalt meldet sich",
            "ich werde Sie verklagen", "das ist Betrug", "mein Paket wurde gestohlen",
            "wir sehen uns vor Gericht", "mein Konto wurde gehackt",
            "ich habe mich am Reißverschluss verletzt"],
           ["die Summe betrug 50 Euro", "ein leckeres Gericht zum Mitnehmen?",
            "Anwalt-Look Blazer vorrätig?"]),
    "it": (["chiamo il mio avvocato", "avvocato", "vi faccio causa", "è una truffa",
            "mi hanno rubato la carta", "sporgerò denuncia", "il mio account è stato violato",
            "mio figlio si è ferito con la zip"],
           ["avete la giacca tipo avvocato?", "la sede legale è a Milano?"]),
    "pt": (["vou falar com meu advogado", "advogado", "vou processar vocês",
            "isso é um golpe", "meu cartão foi roubado", "vou ao PROCON",
            "minha conta foi hackeada", "meu filho se machucou com o zíper"],
           ["que legal, obrigado", "a caixa chegou amassada, tem outra?"]),
    "zh": (["我要找律师", "律师", "我要起诉你们", "这是诈骗", "我的卡被盗刷了", "我要报警",
            "我的账号被盗了", "拉链把孩子的手割伤了"],
           ["律师风格的西装有货吗", "我告诉你们一个问题", "你们的广告你们自己看过吗"]),
    "ja": (["弁護士に相談します", "弁護士", "訴えます", "これは詐欺です", "カードが盗まれました",
            "警察に通報します", "身に覚えのない請求があります", "靴底が外れて転んで怪我をしました"],
           ["弁護士風のジャケットはありますか", "警察官みたいな帽子はありますか"]),
    "ar": (["سأتصل بمحامي", "محامي", "المحامي الخاص بي سيتواصل معكم", "سأقاضيكم",
            "هذا احتيال", "بطاقتي مسروقة", "سأبلغ الشرطة", "حسابي مخترق",
            "ابني أصيب بسبب السحاب"],
           ["هل الجاكيت الأزرق متوفر؟", "عندي سؤال عن المقاس"]),
}  # fmt: skip


def _demo_says(text: str, language: str, **understanding):
    return Chat(DEMO).say(text, language=language, sentiment=0.0, **understanding)


def _fired(outcome, rule: str) -> bool:
    return outcome is not None and rule in [f.rule for f in outcome.firings]


@pytest.mark.parametrize(
    ("language", "text"), [(lang, t) for lang, (yes, _) in TOPICS.items() for t in yes]
)
def test_legal_threats_reach_a_person_urgently_in_every_language(language, text):
    outcome = _demo_says(text, language)
    assert _fired(outcome, "legal-fraud-or-safety"), text
    assert outcome.action == "transfer" and outcome.priority == "urgent"


@pytest.mark.parametrize(
    ("language", "text"), [(lang, t) for lang, (_, no) in TOPICS.items() for t in no]
)
def test_names_colours_and_styles_are_not_legal_threats(language, text):
    assert not _fired(_demo_says(text, language), "legal-fraud-or-safety"), text


def test_a_keyword_reason_names_the_topic_not_the_word_form():
    outcome = _demo_says("ich werde Sie verklagen, das ist Betrug", "de")
    assert outcome.reason == "sensitive topic: fraud, sue"


# language -> (asks for a person, does not).
PEOPLE = {
    "en": (["I want to talk to a human", "agent", "can I speak with someone please"],
           ["the agent said it shipped", "is a person needed to sign for it?"]),
    "es": (["¿Puedo hablar con una persona?", "quiero un agente"], ["hablar con ventas"]),
    "fr": (["Je voudrais parler à un conseiller", "je veux un humain"],
           ["le conseiller m'a dit que c'était expédié"]),
    "de": (["Ich möchte mit einem Mitarbeiter sprechen", "mit jemandem sprechen bitte"],
           ["der Mitarbeiter sagte, es sei verschickt"]),
    "it": (["vorrei parlare con un operatore", "posso parlare con una persona?",
            "operatore"], ["l'operatore del corriere ha chiamato"]),
    "pt": (["Quero falar com um atendente", "atendimento humano"],
           ["o atendente disse que foi enviado"]),
    "zh": (["转人工", "我要人工客服", "我想和真人聊"], ["客服说已经发货了", "人工皮革的鞋有吗"]),
    "ja": (["オペレーターと話したい", "人と話したいです", "オペレーター"],
           ["担当者から連絡がありました"]),
    "ar": (["أريد التحدث مع موظف", "خدمة العملاء", "ممكن أكلم شخص حقيقي؟"],
           ["الموظف قال ان الطلب شحن"]),
}  # fmt: skip


@pytest.mark.parametrize(
    ("language", "text"), [(lang, t) for lang, (yes, _) in PEOPLE.items() for t in yes]
)
def test_asking_for_a_person_in_every_language(language, text):
    outcome = _demo_says(text, language)
    assert _fired(outcome, "asked-for-a-person"), text
    assert outcome.action == "transfer"


@pytest.mark.parametrize(
    ("language", "text"), [(lang, t) for lang, (_, no) in PEOPLE.items() for t in no]
)
def test_mentioning_staff_is_not_asking_for_a_person(language, text):
    assert not _fired(_demo_says(text, language), "asked-for-a-person"), text


@pytest.mark.parametrize(
    ("language", "text", "furious"),
    [("en", "ABSOLUTELY FED UP, worst company ever", True),
     ("es", "estoy harto, sois unos impresentables", True),
     ("fr", "je suis furieuse, plus jamais chez vous", True),
     ("de", "ich bin extrem verärgert", True),
     ("it", "servizio pessimo, vergognatevi", True),
     ("pt", "que palhaçada, nunca mais compro", True),
     ("zh", "太差劲了，我非常生气", True), ("ja", "最悪です。いい加減にしてください", True),
     ("ar", "أنا غاضب جدا", True),
     ("en", "the fit is a bit disappointing, can I exchange?", False),
     ("es", "¿tenéis la talla 38?", False), ("ja", "最高の靴です", False)],
)  # fmt: skip
def test_a_furious_customer_reaches_a_person_in_every_language(language, text, furious):
    assert _fired(_demo_says(text, language), "furious-customer") is furious, text
