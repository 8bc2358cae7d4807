"""The language a turn is answered in: the message's when it shows one, else the one the
customer wrote in before, else the visitor's locale, else the workspace's default."""

from __future__ import annotations

from smartsupport import reply_language
from smartsupport.context import ConversationContext
from smartsupport.domain import Author, Conversation, Message, Understanding
from smartsupport.turn import Turn
from smartsupport.workspaces import WorkspaceConfig

ACME = WorkspaceConfig(id="acme", name="Acme", default_locale="en")


def turn(text: str, detected: str, context: ConversationContext, **metadata) -> Turn:
    async def stream(_: str) -> None:
        return None

    return Turn(
        ACME,
        Conversation(id="c1", workspace_id="acme", customer_id="u1", metadata=metadata),
        Message(id="m", conversation_id="c1", seq=1, author=Author.CUSTOMER, text=text),
        context,
        Understanding(language=detected),
        stream,
    )


def test_a_message_that_shows_its_language_is_answered_in_it():
    context = ConversationContext("c1")
    assert reply_language.for_turn(turn("¿Dónde está mi pedido?", "es", context)) == "es"
    assert reply_language.for_turn(turn("Where is my order?", "en", context)) == "en"


def test_a_message_without_a_language_keeps_the_earlier_one():
    context = ConversationContext("c1")
    reply_language.for_turn(turn("Quiero cancelar mi pedido", "es", context))
    for answer in ("ORD-10234", "42", "sí", "👍"):
        assert reply_language.for_turn(turn(answer, "en", context)) == "es", answer


def test_before_anything_is_remembered_the_visitors_locale_then_the_default():
    assert reply_language.for_turn(turn("ORD-10234", "en", ConversationContext("a"))) == "en"
    with_locale = turn("ORD-10234", "en", ConversationContext("b"), locale="ja-JP")
    assert reply_language.for_turn(with_locale) == "ja"


def test_a_language_we_cannot_write_in_does_not_count():
    """German "ja" is detected as Finnish: keep the German the customer wrote before."""
    context = ConversationContext("c1")
    reply_language.for_turn(turn("Wo ist meine Bestellung?", "de", context))
    assert reply_language.for_turn(turn("ja", "fi", context)) == "de"


def test_chinese_japanese_and_arabic_letters_outvote_a_wrong_guess():
    """The detector reads "帮我取消一下订单 ORD-10244" as French (the order number)."""
    context = ConversationContext("c1")
    assert reply_language.for_turn(turn("帮我取消一下订单 ORD-10244", "fr", context)) == "zh"
    assert reply_language.for_turn(turn("注文 ORD-10244 をキャンセル", "en", context)) == "ja"
    assert reply_language.for_turn(turn("إلغاء الطلب ORD-10244", "en", context)) == "ar"
    assert reply_language.for_turn(turn("返品", "ja", context)) == "ja"  # kanji only: as guessed


def test_a_sentence_in_chinese_characters_alone_is_chinese_whatever_the_detector_says():
    """Japanese sentences carry kana; the detector reads "Trail Runner跑鞋的保修期是多久？" as
    Japanese all the same."""
    context = ConversationContext("c2")
    assert reply_language.for_turn(turn("Trail Runner跑鞋的保修期是多久？", "ja", context)) == "zh"
    assert reply_language.for_turn(turn("Trail Runnerの保証期間は？", "zh", context)) == "ja"


def test_mixed_text_keeps_the_conversations_language():
    """A Portuguese question naming a product in English is English to the detector, by a
    little: the customer's Portuguese stays."""
    context = ConversationContext("c3")
    assert reply_language.for_turn(turn("Vocês enviam para Portugal?", "pt", context)) == "pt"
    mixed = "Tem as meias de lã (wool hiking socks) no tamanho M?"
    assert reply_language.for_turn(turn(mixed, "en", context)) == "pt"
    # A whole message in another language still switches.
    assert reply_language.for_turn(turn("Where is my order, please?", "en", context)) == "en"
