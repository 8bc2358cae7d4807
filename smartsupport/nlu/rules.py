"""Workspace rules (keyword and regex intents), the word matching every built-in vocabulary
shares, and the built-in greeting rule.

An ``override`` rule is checked before the model and wins when it matches: the workspace owner
knows that "agent" means "hand me to a person" better than any classifier. A ``fallback`` rule
only speaks when the model is unsure or calls the message out of scope. Among several matching
rules the highest ``priority`` wins, then the longest match (the most specific one).

Words match whole words on ``fold``-ed text. Chinese and Japanese write no spaces between
words, so there a word made of those characters matches wherever it stands
(``words_pattern``); the vocabularies built on it (greetings here, the small words of a
dialogue, the handoff phrases) list whole expressions ("不用了", "いいえ") rather than single
characters, which is what keeps that safe.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from smartsupport.nlu.schema import RuleSpec

# Kana voicing marks are letters' parts, not accents: "ペ" must not fold to "ヘ".
_KEPT_MARKS = {"\u3099", "\u309a"}
CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def fold(text: str) -> str:
    """Case-folded, accents and Arabic vowel marks removed ("Cancelación" -> "cancelacion",
    "أجل" -> "اجل"), compatibility forms unified (full-width letters, "ｶ" -> "カ")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        c for c in decomposed if c in _KEPT_MARKS or not unicodedata.combining(c)
    ).replace("\u0640", "")  # the Arabic tatweel only stretches a word
    return unicodedata.normalize("NFC", kept).replace("ى", "ي")


def is_cjk(char: str) -> bool:
    return bool(CJK_CHAR.match(char))


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a Chinese or Japanese character anywhere."""
    return CJK_CHAR.search(text) is not None


def word_pattern(word: str) -> str:
    """A regular expression for ``word`` (already folded) as a whole word: between non-word
    characters, except on a side that is Chinese or Japanese, which has no spaces."""
    left = "" if is_cjk(word[0]) else r"(?<!\w)"
    right = "" if is_cjk(word[-1]) else r"(?!\w)"
    return left + re.escape(word) + right


def words_pattern(words: Iterable[str]) -> str:
    """One alternation of whole words, the longest first (so "no thanks" beats "no").
    Words with the same kind of boundaries share them, so a long message is scanned
    quickly (the lookbehind fails inside a word before any word is tried)."""
    groups: dict[tuple[bool, bool], list[str]] = {}
    for word in {fold(w).strip() for w in words} - {""}:
        groups.setdefault((is_cjk(word[0]), is_cjk(word[-1])), []).append(word)
    parts = []
    for (cjk_start, cjk_end), members in sorted(groups.items()):
        body = "|".join(re.escape(w) for w in sorted(members, key=len, reverse=True))
        left = "" if cjk_start else r"(?<!\w)"
        right = "" if cjk_end else r"(?!\w)"
        parts.append(f"{left}(?:{body}){right}")
    return "|".join(parts)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    intent: str
    mode: str
    priority: int
    length: int


class RuleSet:
    def __init__(self, rules: list[RuleSpec]) -> None:
        # (rule, keyword patterns, regex patterns)
        self._compiled: list[tuple[RuleSpec, list[re.Pattern[str]], list[re.Pattern[str]]]] = []
        for rule in rules:
            # Keywords match whole words, accent- and case-insensitively.
            keywords = [re.compile(word_pattern(fold(k))) for k in rule.keywords if fold(k)]
            regexes = [re.compile(r, re.IGNORECASE) for r in rule.regex]
            self._compiled.append((rule, keywords, regexes))

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def match(self, text: str, mode: str) -> RuleMatch | None:
        folded = fold(text)
        best: RuleMatch | None = None
        for rule, keywords, regexes in self._compiled:
            if rule.mode != mode:
                continue
            # Keyword patterns run on the folded text, regexes on the original.
            searches = [(p, folded) for p in keywords] + [(p, text) for p in regexes]
            for pattern, where in searches:
                m = pattern.search(where)
                if m is None:
                    continue
                found = RuleMatch(rule.intent, rule.mode, rule.priority, m.end() - m.start())
                if best is None or (found.priority, found.length) > (best.priority, best.length):
                    best = found
        return best


# -- the built-in greeting rule ---------------------------------------------------------

# Greetings, and what may come with one without asking for anything yet ("hi there, anyone
# around?", "hola, ¿qué tal?"), per language of the product brief.
GREETINGS = {
    "en": ["hi", "hello", "hey", "hiya", "howdy", "yo", "greetings", "good morning",
           "good afternoon", "good evening", "good day", "morning", "evening"],
    "es": ["hola", "buenas", "buenos dias", "buen dia", "buenas tardes", "buenas noches",
           "saludos"],
    "fr": ["bonjour", "bonsoir", "salut", "coucou", "allo", "bonne journee"],
    "de": ["hallo", "hi", "hey", "servus", "moin", "guten tag", "guten morgen",
           "guten abend", "gruss gott", "gruezi", "gruß gott", "gruezi mitenand"],
    "it": ["ciao", "salve", "buongiorno", "buon giorno", "buonasera", "buona sera"],
    "pt": ["ola", "oi", "bom dia", "boa tarde", "boa noite", "e ai"],
    "zh": ["你好", "您好", "你们好", "大家好", "嗨", "哈喽", "哈啰", "早上好", "上午好",
           "下午好", "晚上好", "早安", "晚安"],
    "ja": ["こんにちは", "こんばんは", "おはようございます", "おはよう", "もしもし",
           "どうも", "やあ", "はじめまして"],
    "ar": ["مرحبا", "مرحبا بك", "اهلا", "اهلا وسهلا", "اهلين", "هلا", "السلام عليكم",
           "سلام", "صباح الخير", "مساء الخير", "هاي"],
}  # fmt: skip
GREETING_COMPANY = {
    "en": ["there", "all", "everyone", "everybody", "team", "guys", "folks", "friend",
           "anyone there", "is anyone there", "anybody there", "is anybody there",
           "anyone around", "how are you", "how are you doing", "how is it going",
           "how's it going", "hows it going", "i have a question", "quick question",
           "can you help", "can you help me", "can i ask something", "i need help",
           "help please", "please", "thanks", "again", "oh", "well", "to you", "and",
           "hope you're well", "hope you are well", "hope you're doing well", "nice to meet you"],
    "es": ["a todos", "que tal", "como estas", "como esta", "hay alguien", "hay alguien ahi",
           "tengo una pregunta", "una pregunta", "me ayudas", "me puedes ayudar",
           "necesito ayuda", "por favor", "y"],
    "fr": ["a tous", "tout le monde", "ca va", "comment allez vous", "comment ca va",
           "il y a quelqu'un", "il y a quelqu un", "y a quelqu'un", "y a quelqu un",
           "j'ai une question", "j ai une question", "une question", "pouvez vous m'aider",
           "pouvez vous m aider", "s'il vous plait", "s il vous plait", "et"],
    "de": ["zusammen", "alle", "wie geht's", "wie gehts", "wie geht es", "ist da jemand",
           "jemand da", "ich habe eine frage", "ich hab eine frage", "eine frage",
           "konnen sie mir helfen", "kannst du mir helfen", "bitte", "und"],
    "it": ["a tutti", "come stai", "come sta", "c'e qualcuno", "c e qualcuno",
           "ho una domanda", "una domanda", "mi aiutate", "potete aiutarmi", "per favore",
           "e"],
    "pt": ["a todos", "pessoal", "tudo bem", "tudo bom", "como vai", "tem alguem ai",
           "tem alguem", "alguem ai", "tenho uma pergunta", "uma pergunta",
           "pode me ajudar", "podem me ajudar", "por favor", "e"],
    "zh": ["在吗", "在不在", "有人吗", "有人在吗", "请问", "我有个问题", "我有一个问题",
           "你好吗", "能帮我吗", "谢谢", "啊", "呀", "呢", "吧", "哦"],
    "ja": ["すみません", "質問があります", "ちょっと質問", "お願いします", "元気ですか",
           "誰かいますか", "よろしくお願いします", "です", "ね"],
    "ar": ["كيف حالك", "كيف الحال", "هل يوجد احد", "هل من احد", "في احد", "عندي سؤال",
           "لدي سؤال", "سؤال", "ممكن مساعدة", "من فضلك", "و"],
}  # fmt: skip
_GREETING = re.compile(words_pattern(w for ws in GREETINGS.values() for w in ws))
_COMPANY = re.compile(words_pattern(w for ws in GREETING_COMPANY.values() for w in ws))
_LEFT_WORDS = re.compile(r"[^\W\d_]+|\d+")
# Who is greeted may stay: a name ("hi Anna", "hola Ana María"), written with a capital; in
# Chinese and Japanese, a name with its honorific ("田中さん", "王先生").
MAX_NAMES = 2
MAX_NAME_CHARS = 20
_CJK_NAME = re.compile(r"[\u3400-\u9fff\u30a0-\u30ff]{1,4}(?:さん|様|さま|先生|女士|小姐|老师)")


def just_a_greeting(text: str) -> bool:
    """Whether the message is essentially a greeting and nothing more: "hi", "Hello there!",
    "hola, ¿qué tal?", "你好，在吗？", "hey Anna 👋". A message that starts with "Hi" and then
    asks or tells something is not one, however it starts (a greeting is answered with a
    greeting, so taking a question for one loses the question)."""
    folded = fold(text)
    if not _GREETING.search(folded):
        return False
    left = _CJK_NAME.sub(" ", _COMPANY.sub(" ", _GREETING.sub(" ", folded)))
    words = _LEFT_WORDS.findall(left)
    if not words:
        return True
    capitalised = {fold(w) for w in _LEFT_WORDS.findall(text) if w[:1].isupper()}
    return len(words) <= MAX_NAMES and all(
        w in capitalised and len(w) <= MAX_NAME_CHARS for w in words
    )
