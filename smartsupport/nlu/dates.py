"""Dates in customer messages: absolute ("2024-05-03", "3 May", "05/03/2024") and relative
("yesterday", "last Tuesday", "3 days ago", "next week"), in English and the most common
forms in Spanish, French, German and Portuguese.

Every match is resolved against a reference date (today, unless given) to an ISO date, so
downstream code compares dates instead of re-parsing words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "lunes": 0, "martes": 1, "miércoles": 2, "miercoles": 2, "jueves": 3,
    "viernes": 4, "sábado": 5, "sabado": 5, "domingo": 6, "lundi": 0, "mardi": 1,
    "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6, "montag": 0,
    "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4, "samstag": 5, "sonntag": 6,
    "segunda": 0, "terça": 1, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4,
}  # fmt: skip
_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12, "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5,
    "junio": 6, "julio": 7, "agosto": 8, "septiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12, "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4,
    "mai": 5, "juin": 6, "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10,
    "novembre": 11, "décembre": 12, "decembre": 12, "januar": 1, "februar": 2, "märz": 3,
    "juni": 6, "juli": 7, "oktober": 10, "dezember": 12, "janeiro": 1, "fevereiro": 2,
    "março": 3, "maio": 5, "junho": 6, "julho": 7, "setembro": 9, "outubro": 10,
    "novembro": 11, "dezembro": 12,
}  # fmt: skip
_DAY_OFFSETS = {
    "today": 0, "tonight": 0, "yesterday": -1, "tomorrow": 1, "hoy": 0, "ayer": -1,
    "mañana": 1, "anteayer": -2, "aujourd'hui": 0, "hier": -1, "demain": 1, "heute": 0,
    "gestern": -1, "morgen": 1, "vorgestern": -2, "übermorgen": 2, "hoje": 0, "ontem": -1,
    "amanhã": 1, "amanha": 1, "day before yesterday": -2, "day after tomorrow": 2,
}  # fmt: skip
_LAST = r"(?:last|past|previous|el\s+pasado|pasado|dernier|letzten?|letzte[nm]?|passad[oa])"
_NEXT = r"(?:next|coming|this|próximo|proximo|prochain|nächste[nmn]?|naechste[nm]?|próxima|proxima)"
_UNITS = {
    "day": 1, "days": 1, "día": 1, "días": 1, "dia": 1, "dias": 1, "jour": 1, "jours": 1,
    "tag": 1, "tage": 1, "tagen": 1, "week": 7, "weeks": 7, "semana": 7, "semanas": 7,
    "semaine": 7, "semaines": 7, "woche": 7, "wochen": 7,
}  # fmt: skip


def _alternation(words: dict[str, int]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_WD = _alternation(_WEEKDAYS)
_MO = _alternation(_MONTHS)
_UN = _alternation(_UNITS)
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")),
    ("numeric", re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})\b")),
    ("day_month", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th|\.)?\s+(?:de\s+|of\s+)?({_MO})\.?(?:\s+(?:de\s+)?(\d{{4}}))?\b", re.I)),  # noqa: E501
    ("month_day", re.compile(rf"\b({_MO})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I)),  # noqa: E501
    ("ago", re.compile(rf"\b(\d+|a|an|one|two|three)\s+({_UN})\s+(?:ago|atrás|atras)\b|\bhace\s+(\d+)\s+({_UN})\b|\bil\s+y\s+a\s+(\d+)\s+({_UN})\b|\bvor\s+(\d+)\s+({_UN})\b", re.I)),  # noqa: E501
    ("in_n", re.compile(rf"\b(?:in|en|dans|em)\s+(\d+)\s+({_UN})\b", re.I)),
    ("last_weekday", re.compile(rf"\b{_LAST}\s+({_WD})\b|\b({_WD})\s+{_LAST}\b", re.I)),
    ("next_weekday", re.compile(rf"\b{_NEXT}\s+({_WD})\b|\b({_WD})\s+{_NEXT}\b", re.I)),
    ("last_week", re.compile(rf"\b{_LAST}\s+(week|semana|semaine|woche)\b|\b(semana|semaine)\s+{_LAST}\b", re.I)),  # noqa: E501
    ("next_week", re.compile(rf"\b{_NEXT}\s+(week|semana|semaine|woche)\b|\b(semana|semaine)\s+{_NEXT}\b", re.I)),  # noqa: E501
    ("word", re.compile(rf"(?<!\w)({_alternation(_DAY_OFFSETS)})(?!\w)", re.I)),
    ("weekday", re.compile(rf"\b(?:on\s+)?({_WD})\b", re.I)),
]  # fmt: skip
_SMALL = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3}
# Without a digit, only these words start a date the patterns above read (a weekday, a unit
# as in "a week ago", "yesterday"): one look at a message's words spares most messages, which
# name no date, the twelve scans (a fiftieth of a turn's CPU).
_TRIGGERS = frozenset(
    [*_WEEKDAYS, *_UNITS, *(w for phrase in _DAY_OFFSETS for w in re.findall(r"\w+", phrase))]
)
_DIGIT = re.compile(r"\d")
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class DateMatch:
    start: int
    end: int
    text: str
    value: date
    relative: bool


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year(text: str | None, today: date) -> int:
    if not text:
        return today.year
    year = int(text)
    return year + 2000 if year < 100 else year


def _resolve(kind: str, groups: tuple[str | None, ...], today: date) -> date | None:
    g = [x for x in groups if x is not None]
    if kind == "iso":
        return _safe_date(int(g[0]), int(g[1]), int(g[2]))
    if kind == "numeric":
        # Day first unless that is impossible: most of our locales write 03/05 as 3 May.
        day, month, year = int(g[0]), int(g[1]), _year(g[2], today)
        return _safe_date(year, month, day) or _safe_date(year, day, month)
    if kind == "day_month":
        return _safe_date(_year(groups[2], today), _MONTHS[g[1].lower()], int(g[0]))
    if kind == "month_day":
        return _safe_date(_year(groups[2], today), _MONTHS[g[0].lower()], int(g[1]))
    if kind in ("ago", "in_n"):
        amount = _SMALL.get(g[0].lower()) or int(g[0])
        days = amount * _UNITS[g[1].lower()]
        return today - timedelta(days=days) if kind == "ago" else today + timedelta(days=days)
    if kind == "last_weekday":
        back = (today.weekday() - _WEEKDAYS[g[0].lower()]) % 7 or 7
        return today - timedelta(days=back)
    if kind == "next_weekday":
        ahead = (_WEEKDAYS[g[0].lower()] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if kind == "weekday":
        # A bare weekday in a support message is nearly always a past one ("it came on Monday").
        back = (today.weekday() - _WEEKDAYS[g[0].lower()]) % 7
        return today - timedelta(days=back)
    if kind == "last_week":
        return today - timedelta(days=7)
    if kind == "next_week":
        return today + timedelta(days=7)
    return today + timedelta(days=_DAY_OFFSETS[g[0].lower()])


def find_dates(text: str, today: date | None = None) -> Iterator[DateMatch]:
    """Non-overlapping date mentions, longest and most specific pattern first."""
    if not _DIGIT.search(text) and _TRIGGERS.isdisjoint(_WORDS.findall(text.lower())):
        return
    today = today or date.today()
    taken: list[tuple[int, int]] = []
    found: list[DateMatch] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            start, end = m.span()
            if any(start < e and s < end for s, e in taken):
                continue
            value = _resolve(kind, m.groups(), today)
            if value is None:
                continue
            taken.append((start, end))
            relative = kind not in ("iso", "numeric", "day_month", "month_day")
            found.append(DateMatch(start, end, m.group(0), value, relative))
    yield from sorted(found, key=lambda d: d.start)
