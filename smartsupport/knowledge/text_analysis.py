"""Turning text into index terms for keyword ranking: lower-cased word tokens, stop words
removed, and a light suffix-stripping stemmer.

Deliberately light: a heavy stemmer (Porter, Snowball) conflates too much on short support
queries, and the embedding side already catches paraphrases. Stop words and suffixes cover
English, Spanish, French and German, the languages of most shipped workspaces; other
languages still work, just unstemmed. Chinese and Japanese text becomes overlapping character
pairs.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

_STOP_WORDS = """
    a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves i'm i've i'd it's don't doesn't can't won't isn't there's what's let's
    el la los las un una unos unas de del al y o que en es por para con se su sus lo le les
    mi mis tu como mas pero si ya me te nos muy hay este esta estos estas ese esa eso
    le la les un une des du de et ou que qui en est pour par avec se sa son ses ce cette ces
    mon ma mes ton ta tes je tu il elle nous vous ils elles ne pas plus au aux dans sur
    der die das den dem des ein eine einer eines einem einen und oder ist sind zu mit von
    für auf im ich du er sie es wir ihr nicht wie was wo
    il lo gli di da con su per tra fra che non si mi ti ci vi ne della dei degli delle
    allo alla ai agli alle dal dalla nel nella nei sul sulla come ma sono ho hai ha mio mia
    tuo tua suo questo questa quello quella anche
    os um uma uns umas do da dos das em na nas com não eu ele ela você vocês meu minha
    seu sua isso isto ao aos pelo pela mais
"""
# Arabic function words, after normalisation (_arabic): prepositions, pronouns, question and
# negation particles.
_ARABIC_STOP_WORDS = """
    في من على الى عن هل ما ماذا كيف هذا هذه ذلك تلك التي الذي الذين ان كان كانت لا لم لن
    مع او ثم قد كل عند اي يا هو هي انا نحن انت انتم هم لي لك له لها لنا لكم عندي عندك
"""

# Longest first, so "ations" is tried before "s". Each suffix needs a stem of >= 3 letters.
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "es", "s")


def fold(text: str) -> str:
    """Lower-case and strip accents, so "reembolso"/"Reembolsó" and "é"/"e" match. Kana
    keep their voicing marks: "で" is not "て"."""
    text = unicodedata.normalize("NFKD", text.lower())
    kept: list[str] = []
    for ch in text:
        if unicodedata.combining(ch) and not (kept and "\u3040" <= kept[-1] <= "\u30ff"):
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


STOP_WORDS = frozenset(fold(word) for word in _STOP_WORDS.split())

_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
_ARABIC_FORMS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي"})
# Larkey, Ballesteros and Connell's "light10" stemmer (SIGIR 2002), the usual choice for
# Arabic retrieval: definite article and conjunction prefixes, then common suffixes (and the
# alif of tanwin: "يومًا" is "يوم").
_ARABIC_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_ARABIC_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ية", "ه", "ة", "ي", "ا")


def _arabic(word: str) -> str:
    """An Arabic word's light stem: "لإرجاعه" and "الإرجاع" both become "ارجاع"."""
    word = word.translate(_ARABIC_FORMS)
    if len(word) > 3 and word.startswith("و"):
        word = word[1:]
    for prefix in _ARABIC_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 2:
            word = word[len(prefix) :]
            break
    else:
        if len(word) > 3 and word[0] in "لبك" and word[1] == "ا":
            word = word[1:]  # "لإرجاع" (to return): the preposition on a word with alif
    for suffix in _ARABIC_SUFFIXES:
        if len(word) > 3 and word.endswith(suffix) and len(word) - len(suffix) >= 2:
            word = word[: -len(suffix)]
    return word


ARABIC_STOP_WORDS = frozenset(_ARABIC_STOP_WORDS.split())


def stem(word: str) -> str:
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix == "es" and not base.endswith(("s", "x", "z", "ch", "sh")):
                return word[:-1]  # "shoes" -> "shoe", but "boxes" -> "box"
            if suffix == "s" and base.endswith(("s", "u", "i")):
                return word  # "address", "status", "analysis"
            # "shipped" -> "shipp" -> "ship": undo the doubled consonant.
            if (
                suffix in ("ed", "ing", "ings")
                and len(base) > 3
                and (base[-1] == base[-2] and base[-1] not in "aeiouls")
            ):
                return base[:-1]
            return base
    return word


# Stored with every vector (next to the model name), so changing how texts are prepared
# for the model re-embeds stored articles instead of mixing two kinds of vectors.
EMBEDDING_INPUT = "lower-nopunct-1"
_NOT_WORD = re.compile(r"[^\w\s']+", re.UNICODE)


def embedding_input(text: str) -> str:
    """What the embedding model sees: lower-cased, punctuation removed.

    Customers type "where is my order" and articles say "Where is my order?"; the packaged
    model is case- and punctuation-sensitive, and folding both sides raised StackFAQ MAP
    from 0.875 to 0.888 (docs/benchmarks.md). Accents stay: the model knows them."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")


def _cjk_pairs(run: str) -> list[str]:
    """Chinese and Japanese are written without spaces: overlapping character pairs stand in
    for words (the usual indexing for CJK search when no dictionary segmenter is shipped)."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def terms(text: str) -> list[str]:
    """Index terms of ``text``, in order, stop words removed."""
    return list(_terms(text))


# Kept for the last texts: a turn's question is read by both indexes' BM25 and by every
# answerability check.
@lru_cache(maxsize=2048)
def _terms(text: str) -> tuple[str, ...]:
    out = []
    for match in _WORD.finditer(fold(text)):
        word = match.group().replace("’", "'")
        if _CJK.search(word):
            for part in re.split(f"({_CJK.pattern})", word):
                if _CJK.fullmatch(part):
                    out.extend(_cjk_pairs(part))
                elif len(part) >= 2 and part not in STOP_WORDS:
                    out.append(stem(part))
            continue
        # Single characters ("2", "a", "x") match everywhere and mean little on their own.
        if len(word) < 2 or word in STOP_WORDS:
            continue
        if _ARABIC_LETTER.match(word):
            plain = word.translate(_ARABIC_FORMS)
            if plain not in ARABIC_STOP_WORDS and plain.removeprefix("و") not in ARABIC_STOP_WORDS:
                out.append(_arabic(word))
            continue
        if "'" in word:
            word = _unelided(word)
            if len(word) < 2 or word in STOP_WORDS:
                continue
        out.append(stem(_CLITIC.sub(r"\1", word)))
    return tuple(out)


# Spanish and Italian write object pronouns onto an infinitive or a gerund: "devolverlas"
# (return them), "enviármelo", "restituirlo", "cambiándola". The verb is the word; the
# Italian infinitive's lost "e" ("restituir") is then one letter from the articles' spelling
# (``BM25Index.spelled``). Four letters at least before the ending keep "perle", "parle".
_CLITIC = re.compile(
    r"^([a-z]{4,}(?:ar|er|ir|ando|iendo))(?:me|te|se|nos|os|mi|ti|ci|vi|si|gli|glie)?"
    r"(?:lo|la|los|las|le|les|li|ne)$"
)


# French and Italian articles, pronouns and prepositions elided into the next word beyond the
# one- and two-letter ones ("qu'il", "jusqu'au", "dell'ordine", "quest'anno").
_ELIDED = frozenset(
    (
        "qu jusqu lorsqu puisqu quoiqu presqu dell dall nell sull coll all quell quest bell sant"
    ).split()
)


def _unelided(word: str) -> str:
    """The word that carries the meaning: what follows an elision ("l'étiquette", "j'aurai",
    "d'importation", "un'ora", "dell'ordine"), what precedes an English contraction or
    possessive ("customer's", "don't", "we're": a longer head, or a tail of two letters)."""
    head, _, tail = word.partition("'")
    tail = tail.split("'")[0]
    if len(head) == 1 or head in _ELIDED or (len(head) == 2 and len(tail) >= 3):
        return tail
    return head
