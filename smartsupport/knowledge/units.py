"""How texts are cut: the units an answer is built around (the sentences of a passage's prose
and the whole lines of its lists and tables, ``units_of``; ``dangling``: a unit that leans on
the sentence before it for its subject, "It covers ..."), and the sentences of a customer's
message that ask and those that only tell (``asked_part``, ``told_part``)."""

from __future__ import annotations

import re
from functools import lru_cache

# A sentence ends at . ! ? before a capital, digit, opening mark or an Arabic letter (so
# "U.S. territories" and "e.g. a" stay whole), and at CJK full stops.
_UNIT_SPLIT = re.compile(r"(?<=[.!?؟])\s+(?=[A-Z0-9¿¡“\"(*À-ÝΑ-Ω\u0600-\u06ff])|(?<=[。！？])\s*")
# A unit that starts like this continues the sentence before it ("It covers ...").
_DANGLING = re.compile(
    r"^(?:it|this|that|they|these|those|its|there|es|esto|eso|ellos|il|elle|ils|elles|cela|"
    r"ce|er|sie|es|dies|das|esso|essa|ciò|isso|ele|ela|它|这|其|それ|これ|هذا|هذه)\b",
    re.IGNORECASE,
)


def units_of(text: str) -> list[str]:
    """Sentences of prose; whole lines of lists and tables."""
    return list(_cut(text))


# Article passages are cut again for every question that retrieves them (twenty times a turn
# in the demo): a pure function of the text, so one bounded memo serves every workspace.
@lru_cache(maxsize=20_000)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(_units(text))


def _units(text: str) -> list[str]:
    found: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        for line in block.split("\n"):
            line = line.strip()
            if not line:
                continue
            if line.startswith(("- ", "* ", "|")) or re.match(r"\d+\.\s", line):
                found.append(line)
            else:
                found.extend(s.strip() for s in _UNIT_SPLIT.split(line) if s.strip())
    return found


def dangling(unit: str) -> bool:
    """Whether ``unit`` leans on the sentence before it for its subject."""
    return bool(_DANGLING.match(unit))


# Where a customer's message may change sentence: after . ! ? (and their CJK and Arabic forms).
_SENTENCE = re.compile(r"(?<=[.!?؟])\s+|(?<=[。！？])\s*")


def asked_part(text: str) -> str:
    """The sentences of ``text`` that ask (end with a question mark), without the ones that
    only tell (greetings, context); ``text`` itself when none or all of them ask."""
    sentences = _sentences(text)
    asking = [s for s in sentences if _asks(s)]
    if not asking or len(asking) == len(sentences):
        return text
    return " ".join(asking)


def told_part(text: str) -> str:
    """The sentences of ``text`` that only tell ("I'm in Brussels."): the context each of
    its questions is asked in; empty when every sentence asks or none does."""
    sentences = _sentences(text)
    telling = [s for s in sentences if not _asks(s)]
    if not telling or len(telling) == len(sentences):
        return ""
    return " ".join(telling)


def _sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for piece in _SENTENCE.split(text.strip()):
        # "U.S.", "e.g." and a run of "??" are not sentences of their own.
        if sentences and (len(piece.strip()) < 6 or len(sentences[-1]) < 6):
            sentences[-1] = f"{sentences[-1]} {piece}".strip()
        elif piece.strip():
            sentences.append(piece.strip())
    return sentences


def _asks(sentence: str) -> bool:
    return sentence.rstrip().endswith(("?", "？", "؟"))
