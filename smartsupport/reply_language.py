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
from smartsupport.nlu.language import detect_language
from smartsupport.turn import Turn

KEY = "language"  # in ConversationContext.data
MESSAGE_KEY = "reply_language"  # in the customer message's meta
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
    shown = ""
    if script and (not said or said in LATIN_SCRIPT):
        shown = script  # the detector's guess cannot be right for these letters
    elif said and said != default and said in writable:
        shown = said
    elif detect_language(turn.message.text, default="").language == default:
        shown = default
    if shown:
        turn.context.data[KEY] = shown
        return shown
    kept = turn.context.data.get(KEY)
    if isinstance(kept, str) and kept:
        return kept
    return messages.conversation_language(workspace, turn.conversation.metadata)


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
