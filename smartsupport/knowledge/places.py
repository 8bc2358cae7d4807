"""The places a question and a passage name, so an answer about one place is never given for
another.

"How long does delivery to Germany take?" shares every word but one with "Standard shipping
takes 3-5 business days within the continental US", and the words it does not share
("Germany") appear nowhere in the help centre: no keyword or similarity feature can tell
that the passage is about somewhere else. Here both sides are read for places:

    countries      their names in the nine languages of the product, from CLDR (Babel,
                   inside its wheel), plus the usual abbreviations (US, USA, UK, EU, UE...)
    cities         the cities CLDR names time zones after ("Lisboa", "東京", "Dubai")
    regions        the European Union and Europe contain their countries, so a question
                   about Germany matches "Europe and the UK: 4-7 business days"
    elsewhere      "other countries", "all other destinations": a passage that says this
                   speaks about every place it does not name

A passage that names places, none of them the question's (or a region holding it) and not
"elsewhere" either, does not answer the question (``Answerability.rank``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from babel.core import Locale, get_global

from smartsupport.knowledge.text_analysis import fold

LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "zh", "ja", "ar")
EU = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
EUROPE = EU | frozenset("GB CH NO IS LI AD MC SM VA AL BA ME MK RS MD UA BY XK".split())
# Names that are also everyday words in one of the languages ("jersey" is a sweater in
# Spanish, "mali" is Italian for "ills") or that nobody ships a parcel to.
_AMBIGUOUS = frozenset({"JE", "GG", "IM", "ML", "TD", "TG", "AQ", "BV", "HM", "UM", "ZZ"})
# Abbreviations are matched case-sensitively: "US" is a country, "us" a pronoun.
_ABBREVIATIONS = {
    "US": r"U\.S\.A?\.?|USA|US|EE\.\s?UU\.?|EUA",
    "GB": r"UK|U\.K\.",
    "EU": r"EU|UE|E\.U\.",
}
# Short names CLDR does not give ("米国" where it says "アメリカ合衆国").
_OTHER_NAMES = {"米国": "US", "アメリカ": "US", "英国": "GB", "欧盟": "EU", "欧州": "150"}
_ELSEWHERE = re.compile(
    r"\b(?:other countries|other destinations|elsewhere|rest of the world|otros pa[ií]ses|"
    r"autres pays|anderen l[aä]ndern|altri paesi|outros pa[ií]ses)\b"
    r"|其他国家|その他の国|他の国|دول أخرى|البلدان الأخرى|الدول الأخرى",
    re.IGNORECASE,
)


def regions_of(code: str) -> frozenset[str]:
    """``code`` and the regions that hold it ("DE" -> DE, EU, 150)."""
    held = {code}
    if code in EU:
        held.add("EU")
    if code in EUROPE or code == "EU":
        held.add("150")
    return frozenset(held)


@dataclass(frozen=True, slots=True)
class _Gazetteer:
    words: dict[str, str]  # folded name in a script with spaces -> code
    longest: int  # words in the longest such name
    other: re.Pattern[str]  # names in CJK and Arabic script, found anywhere in a text
    other_names: dict[str, str]
    abbreviations: re.Pattern[str]
    groups: dict[str, str]  # abbreviation group -> code


@lru_cache(maxsize=1)
def gazetteer() -> _Gazetteer:
    """Built once per process from CLDR (a few seconds: at start-up, ``Places.warm_up``)."""
    names: dict[str, str] = {}
    zones = get_global("zone_territories")
    for language in LANGUAGES:
        locale = Locale.parse(language)
        for code, name in locale.territories.items():
            if code in _AMBIGUOUS or not (code.isalpha() and len(code) == 2 or code == "150"):
                continue
            names.setdefault(fold(name), code)
        for zone, details in locale.time_zones.items():
            city, country = details.get("city"), zones.get(zone)
            if city and country and country not in _AMBIGUOUS:
                names.setdefault(fold(city), country)
    for zone, country in zones.items():  # the English city in the zone's own name
        if country not in _AMBIGUOUS and "/" in zone:
            names.setdefault(fold(zone.rsplit("/", 1)[1].replace("_", " ")), country)
    names.update(_OTHER_NAMES)
    names = {n: c for n, c in names.items() if len(n) >= 2 and not n.isdigit()}
    words = {n: c for n, c in names.items() if _latin(n)}
    other = {n: c for n, c in names.items() if not _latin(n)}
    groups = {f"a{i}": code for i, code in enumerate(_ABBREVIATIONS)}
    return _Gazetteer(
        words=words,
        longest=max(len(n.split()) for n in words),
        other=re.compile("|".join(re.escape(n) for n in sorted(other, key=len, reverse=True))),
        other_names=other,
        abbreviations=re.compile(
            "|".join(
                rf"(?P<{g}>(?<![\w.])(?:{_ABBREVIATIONS[c]})(?![\w]))" for g, c in groups.items()
            )
        ),
        groups=groups,
    )


def _latin(text: str) -> bool:
    return all(ch.isascii() or "\u00c0" <= ch <= "\u024f" or not ch.isalpha() for ch in text)


_WORDS = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


# The articles' sentences are read again on every turn that asks about a place (each passage
# retrieved, each of its units): a pure function of the text, kept for the most recent ones.
@lru_cache(maxsize=16_384)
def places_in(text: str) -> frozenset[str]:
    """The territory codes ``text`` names (``150`` for Europe, ``EU``)."""
    places = gazetteer()
    folded = fold(text)
    found: set[str] = set()
    tokens = _WORDS.findall(folded)
    for size in range(1, places.longest + 1):
        for i in range(len(tokens) - size + 1):
            code = places.words.get(" ".join(tokens[i : i + size]))
            if code is not None:
                found.add(code)
    if not _latin(folded):
        found.update(places.other_names[m.group()] for m in places.other.finditer(folded))
    for match in places.abbreviations.finditer(text):
        found.update(places.groups[g] for g, v in match.groupdict().items() if v)
    return frozenset(found)


def speaks_of_elsewhere(text: str) -> bool:
    return bool(_ELSEWHERE.search(text))


def place_match(question_places: frozenset[str], passage: str) -> float:
    """1 when the passage names a place of the question (or a region holding it), -1 when it
    names only other places, 0 when either names none or the passage speaks of "other
    countries" too."""
    if not question_places:
        return 0.0
    named = places_in(passage)
    if not named:
        return 0.0
    wanted = frozenset().union(*(regions_of(code) for code in question_places))
    if wanted & named:
        return 1.0
    return 0.0 if speaks_of_elsewhere(passage) else -1.0
