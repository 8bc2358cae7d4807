"""Asking *about* something versus asking *for* it, and several questions in one message.

"How long do I have to send something back?" is a question about the returns policy: it
wants the policy, not "Which order would you like to return?". "I want to return my
sneakers" or "return ORD-10234" asks for the action: that starts the returns flow. Both
carry the same intent, so the difference is read from the wording, in the nine languages of
the product (en, es, fr, de, it, pt, zh, ja, ar):

    request   first-person wishes and commands ("I want to", "please cancel", "quiero",
              "je voudrais", "ich möchte", "vorrei", "quero", "我想", "したい", "أريد"), or an
              order number: the customer is acting on a specific order
    question  interrogative wording about how something works ("how long", "can I",
              "do you", "cuánto tiempo", "est-ce que", "wie lange", "posso", "可以", "できますか",
              "هل"), or a question mark, without the request signs above

A message that is neither counts as a request: a bare "return" or "cancel order" is an
instruction, and flows were built for those.
"""

from __future__ import annotations

import re

_REQUEST = re.compile(
    r"\b(?:i(?:'d| would)? (?:want|wanna|need|like) to|i want|i need|i'd like|please|"
    r"help me|can you (?:please )?(?:cancel|return|change|start|refund|track|update)|"
    r"start (?:a|my) |cancel (?:my|the|this)|return (?:my|the|this|these)|"
    r"quiero|quisiera|necesito|me gustar[ií]a|por favor|ay[uú]dame|"
    r"je (?:veux|voudrais|souhaite)|j'aimerais|s'il vous pla[iî]t|aidez-moi|"
    r"ich (?:m[oö]chte|will|w[uü]rde gern)|bitte|"
    r"vorrei|voglio|per favore|aiutami|"
    r"eu quero|quero|gostaria|por favor|me ajude)\b"
    r"|我想|我要|请帮我|麻烦|したい|してください|お願いします|أريد|أرغب|من فضلك|ساعدني",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"\b(?:how (?:long|many|much|do|does|can|soon)|can i|could i|do you|does it|is it|are "
    r"there|what (?:is|are|'s)|what's|when (?:do|does|will|can)|which|whats|"
    r"cu[aá]nto|cu[aá]ntos|c[oó]mo|puedo|se puede|hay|cu[aá]l|cu[aá]ndo|"
    r"combien|comment|est-ce que|puis-je|peut-on|quel(?:le)?s?|quand|"
    r"wie (?:lange|viel|viele|kann)|kann ich|gibt es|welche|wann|"
    r"quanto|quanti|come|posso|si pu[oò]|quale|quando|"
    r"quantos?|como|posso|[eé] poss[ií]vel|qual|quando)\b"
    r"|多久|多少|怎么|可以|能不能|吗|どのくらい|できますか|ですか|何日|هل|كم|كيف|متى",
    re.IGNORECASE,
)
# Asking for a measure of the policy: how long, how many days, how much, until when. A
# message that asks this is about the policy even when it also says what the customer wants
# ("I'd like to return them, how many days do I have?"): the answer comes first, then the
# offer to do it.
_MEASURE = re.compile(
    r"\b(?:how (?:long|many|much|soon)|until when|cu[aá]nto|cu[aá]ntos|hasta cu[aá]ndo|"
    r"combien|jusqu'[àa] quand|wie (?:lange|viel|viele)|bis wann|quanto|quanti|fino a quando|"
    r"quantos?|at[eé] quando)\b"
    r"|多久|多少|几天|何日|どのくらい|いつまで|كم",
    re.IGNORECASE,
)
_ORDER_ID = re.compile(r"(?<![a-z0-9])ORD-?\d{4,6}(?![0-9])", re.IGNORECASE)
_QUESTION_MARK = re.compile(r"[?？؟]")
# Where one question ends and the next begins.
# A run of marks ("amex??", "really?!") ends one question, not several.
_SPLIT = re.compile(r"(?<=[?？؟])(?![?？؟!！])\s*|\n+|(?<=[.!。！])\s+(?=\S)")
_WORD = re.compile(r"\w")


def asks_about(text: str) -> bool:
    """Whether ``text`` asks how something works rather than asking for it to be done."""
    if _ORDER_ID.search(text):
        return False
    if _REQUEST.search(text):
        return bool(_MEASURE.search(text))
    return bool(_QUESTION.search(text) or _QUESTION_MARK.search(text))


def asks_how(text: str) -> bool:
    """Whether ``text`` asks how something works in general ("how long do refunds take?",
    "can I pay in instalments?"), as opposed to a look-up with no such wording ("where is
    my refund?", "has it shipped?") or a request."""
    if _ORDER_ID.search(text) or _REQUEST.search(text):
        return False
    return bool(_QUESTION.search(text))


def asks_measure(text: str) -> bool:
    """Whether ``text`` asks for a measure of a policy (how long, how much, until when)
    without naming an order: "how long is the Trail Runner's warranty?" names a product yet
    asks about the warranty, not for the product's stock."""
    return bool(_MEASURE.search(text)) and not _ORDER_ID.search(text)


def states(text: str) -> bool:
    """Whether ``text`` is a plain statement ("it's too small", "ficou pequena"): no
    question wording or mark, no request. Asked for a reason or an address, the customer
    answers with one; a question or a request is about something else."""
    return not (_QUESTION_MARK.search(text) or _QUESTION.search(text) or _REQUEST.search(text))


def questions_in(text: str, *, limit: int = 3) -> list[str]:
    """The separate questions of a message ("How much is express? And do you ship to
    Norway?" -> two; "how long to Mexico and do I pay customs?" -> two), at most ``limit``;
    one element when it holds one question."""
    return [question for question, _ in asked_in(text, limit=limit)]


def asked_in(text: str, *, limit: int = 3) -> list[tuple[str, str]]:
    """``questions_in``, each with the sentence it was cut from: two questions joined by
    "and" share what that sentence says ("Zurich here: what does delivery to Switzerland
    cost and how many days does it take?"); other questions are their own sentence."""
    sentences = [p.strip() for p in _SPLIT.split(text) if p and _WORD.search(p)]
    parts = [(q, sentence) for sentence in sentences for q in _clauses(sentence)]
    asked = [(q, s) for q, s in parts if _QUESTION_MARK.search(q) or _QUESTION.search(q)]
    if len(asked) < 2:
        return [(text, text)]
    return asked[:limit]


def _clauses(question: str) -> list[str]:
    """A question joined to another by "and" ("what does express cost, and how quick is
    it?", "cuánto tarda y tengo que pagar aduana?"): both, each ending in the mark. Only
    when what follows the "and" asks on its own and both halves are more than a few words."""
    if not _QUESTION_MARK.search(question[-2:]):
        return [question]
    for match in _AND.finditer(question):
        first, second = question[: match.start()].strip(" ,;"), question[match.end() :].strip()
        if (
            len(_WORD_RUN.findall(first)) >= 3
            and len(_WORD_RUN.findall(second)) >= 3
            and (_QUESTION.match(second) or _ASKS_FIRST.match(second))
        ):
            return [f"{first}{_mark(question)}", second]
    return [question]


def _mark(question: str) -> str:
    return next((c for c in reversed(question) if c in "?？؟"), "?")


_AND = re.compile(r"(?:,\s*|\s+)(?:and|y|e|et|und|و)\s+", re.IGNORECASE)
_WORD_RUN = re.compile(r"\w+")
# A clause that asks by its form: an auxiliary or a verb of obligation first.
_ASKS_FIRST = re.compile(
    r"(?:do|does|is|are|will|would|can|could|should|must|have i|has it|am i|"
    r"tengo que|hay que|debo|se (?:paga|cobra)|est-ce qu|dois-je|faut-il|y a-t-il|"
    r"muss ich|m[uü]ssen|gibt es|kann ich|devo|bisogna|c'[eè]|tenho que|preciso|"
    r"هل)\b",
    re.IGNORECASE,
)
