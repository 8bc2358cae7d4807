"""The language to reply in on a turn: the customer's.

    language = reply_language.for_turn(turn)

The NLU reports the language of each message, and the workspace's default language when a
message does not show one ("ORD-10234", "42", "ok", an email address). Replying to those in
the default language would switch a Spanish conversation to English halfway through a flow.
So the reply language is:

1. the message's language when it shows one we can write in (a language of the message
   catalog, or one the workspace wrote texts in): the NLU reports a language other than the
   default only when it detected it; the default language itself is checked here. A message
   written mostly in Chinese, Japanese or Arabic script is in that language whatever the
   detector says ("帮我取消一下订单 ORD-10244" looks French to it, because of the order number);
   Chinese and Japanese are told apart by kana. Mixed text stays in the conversation's
   language (the one of 2 or 3 below) when the detector gives that language a fair score too
   ("Tem as meias (wool hiking socks) no tamanho M?" is English to it, by a little);
2. else the language the customer wrote in earlier in this conversation (kept in the
   session context under ``language``);
3. else the visitor's locale, else the workspace's default language
   (``messages.conversation_language``).

Whatever it returns, ``messages.text`` then falls back to the workspace's default language,
never to a third one.
"""

from __future__ import annotations

import unicodedata

from smartsupport import messages
from smartsupport.nlu.language import detect_language, likely_languages
from smartsupport.turn import Turn

KEY = "language"  # in ConversationContext.data
MESSAGE_KEY = "reply_language"  # in the customer message's meta
# The detector's score for the conversation's language at or above which a message whose best
# guess is another language is taken as mixed text in the conversation's language.
MIXED_SCORE = 0.25
HAN_SENTENCE = 6  # Chinese characters without kana that make a sentence, not a kanji word
LATIN_SCRIPT = {"en", "es", "fr", "de", "it", "pt"}  # shipped languages written in Latin letters


def for_turn(turn: Turn) -> str:
    """The language to reply to ``turn`` in (remembered for the turns that follow). Worked
    out once per message and kept in its meta (handoff rules, the keyword bot, flows and the
    decision order all ask)."""
    decided = turn.message.meta.get(MESSAGE_KEY)
    if isinstance(decided, str) and decided:
        return decided
    language = _decide(turn)
    turn.message.meta[MESSAGE_KEY] = language
    return language


def _decide(turn: Turn) -> str:
    workspace = turn.workspace
    default = messages.normalise(workspace.default_locale) or messages.FALLBACK_LANGUAGE
    said = messages.normalise(turn.understanding.language)
    writable = set(messages.LANGUAGES) | {lang for t in workspace.texts.values() for lang in t}
    script = _script_language(turn.message.text)
    said = _han_or_kana(said, turn.message.text)
    shown = ""
    if script and (not said or said in LATIN_SCRIPT):
        shown = script  # the detector's guess cannot be right for these letters
    elif said and said != default and said in writable:
        shown = said
    elif detect_language(turn.message.text, default="").language == default:
        shown = default
    kept = turn.context.data.get(KEY)
    earlier = kept if isinstance(kept, str) and kept else ""
    earlier = earlier or messages.conversation_language(workspace, turn.conversation.metadata)
    if shown and not script and shown != earlier and _also_in(earlier, turn.message.text):
        # Mixed text (a Portuguese question naming "wool hiking socks"): the language the
        # customer has been using stays when the message could well be in it.
        shown = earlier
    if shown:
        turn.context.data[KEY] = shown
        return shown
    return earlier


def _also_in(language: str, text: str) -> bool:
    return likely_languages(text).get(language, 0.0) >= MIXED_SCORE


def _han_or_kana(said: str, text: str) -> str:
    """``zh`` or ``ja`` told apart by kana: the detector calls "Trail Runner跑鞋的保修期是多久？"
    Japanese, but a Japanese sentence is not written in Chinese characters alone (its
    particles are kana), and Chinese has no kana."""
    if said not in ("zh", "ja"):
        return said
    names = [unicodedata.name(char, "") for char in text if char.isalpha()]
    if any(name.startswith(("HIRAGANA", "KATAKANA")) for name in names):
        return "ja"
    if sum(name.startswith("CJK") for name in names) >= HAN_SENTENCE:
        return "zh"
    return said  # a word or two ("返品", "注文番号"): Japanese writes those in kanji alone


def _script_language(text: str) -> str:
    """``ja``, ``zh`` or ``ar`` when most letters of ``text`` are kana and kanji, Chinese
    characters or Arabic letters; ``""`` otherwise."""
    counts = {"kana": 0, "han": 0, "arabic": 0, "other": 0}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        if name.startswith(("HIRAGANA", "KATAKANA")):
            counts["kana"] += 1
        elif name.startswith("CJK"):
            counts["han"] += 1
        elif name.startswith("ARABIC"):
            counts["arabic"] += 1
        else:
            counts["other"] += 1
    if counts["kana"] and counts["kana"] + counts["han"] > counts["other"]:
        return "ja"
    if counts["han"] > counts["other"]:
        return "zh"
    if counts["arabic"] > counts["other"]:
        return "ar"
    return ""
