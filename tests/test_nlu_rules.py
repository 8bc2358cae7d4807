"""Workspace rules and the built-in greeting rule: keywords match whole words (also in
Chinese and Japanese, which write no spaces), and a greeting is a greeting only when the
message is essentially just one: a long message that starts with "Hi" is a question."""

from __future__ import annotations

import pytest

from smartsupport.nlu.rules import RuleSet, fold, just_a_greeting
from smartsupport.nlu.schema import RuleSpec

LONG_BODY = (
    "I ordered the trail runners two weeks ago and the tracking page has not moved since "
    "Tuesday; the parcel was supposed to arrive before my trip and I need to know whether "
    "to buy another pair locally or wait. "
)


def test_fold_removes_accents_and_arabic_marks_but_keeps_kana_voicing():
    assert fold("Cancelación ÜBER") == "cancelacion uber"
    assert fold("أجل آسف شكراً") == "اجل اسف شكرا"
    assert fold("オペレーター ｶﾀｶﾅ") == "オペレーター カタカナ"  # not "オヘレーター"


def test_keywords_are_whole_words_and_work_without_spaces():
    rules = RuleSet(
        [
            RuleSpec(intent="human_agent", keywords=["agent", "人工客服", "オペレーター"]),
            RuleSpec(intent="refund_status", keywords=["Rückerstattung"]),
        ]
    )
    assert rules.match("AGENT please", "override").intent == "human_agent"
    assert rules.match("the agents said", "override") is None  # not a whole word
    assert rules.match("我要人工客服", "override").intent == "human_agent"
    assert rules.match("オペレーターと話したい", "override").intent == "human_agent"
    assert rules.match("wo ist meine rückerstattung?", "override").intent == "refund_status"


@pytest.mark.parametrize(
    "text",
    ["hi", "Hello there!", "hey Anna 👋", "Hi, I have a question", "good morning team",
     "hola, ¿qué tal?", "Bonjour à tous", "Guten Tag zusammen", "ciao a tutti",
     "olá, tudo bem?", "你好，在吗？", "こんにちは", "مرحبا", "السلام عليكم",
     "Hi!!! " + "🙂" * 300, "Hi, hello, hey. " * 200],
)  # fmt: skip
def test_a_greeting_alone_is_a_greeting(text):
    assert just_a_greeting(text)


@pytest.mark.parametrize(
    "text",
    ["Hi, " + LONG_BODY * 15,  # about 3,000 characters
     "Hello! " + "My new sweater started to pill after one wash. " * 60,
     "Hola, buenos días. " + "El paquete llegó abierto y falta una camiseta. " * 60,
     "Bonjour ! " + "Ma commande est arrivée avec une semelle décollée. " * 60,
     "你好，" + "我的订单还没有到，物流信息一周没有更新了。" * 80,
     "こんにちは。" + "注文した靴がまだ届きません。" * 100,
     "مرحبا، " + "طلبي لم يصل بعد والتتبع لا يتغير. " * 80,
     "hi, where is my order ORD-10234?", "hello I need a refund",
     "hi there, is the blue jacket in stock?", "Hi " + "x" * 3000],
)  # fmt: skip
def test_a_message_that_starts_with_a_greeting_is_not_just_one(text):
    assert not just_a_greeting(text)


def test_a_message_without_a_greeting_is_not_one():
    assert not just_a_greeting("where is my order?")
    assert not just_a_greeting("")
    assert not just_a_greeting("🙂")


# ``KeywordBot.understand`` asks ``nlu.rules.just_a_greeting`` too: a long message that
# starts with "Hi" is not a greeting there either.
async def test_the_keyword_bot_does_not_take_a_long_message_for_a_greeting():
    from smartsupport.context import ConversationContext
    from smartsupport.keywords import KeywordBot
    from smartsupport.workspaces import WorkspaceConfig

    bot, workspace = KeywordBot({}), WorkspaceConfig(id="acme", name="Acme")
    context = ConversationContext("c1")
    assert (await bot.understand(workspace, "Hi there!", context)).intent == "greeting"
    long = await bot.understand(workspace, "Hi, " + LONG_BODY * 15, context)
    assert long.intent != "greeting"
