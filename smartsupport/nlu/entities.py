"""Entity extraction: workspace patterns (order ids, tracking numbers, product ids, ...)
plus built-in emails, phone numbers, amounts with currency and dates.

Workspace patterns go first and win overlaps: "ORD-10234" must not also come back as a
phone number. Every entity carries its span, so ``text[start:end] == entity.text``.
"""

from __future__ import annotations

import re
from datetime import date

from smartsupport.domain import Entity
from smartsupport.nlu.dates import find_dates

_DIGIT = re.compile(r"\d")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
# A phone number: optional +country code, then digits with the usual separators, 8-15 digits.
_PHONE = re.compile(r"(?<![\w+])(\+?\(?\d[\d\s().-]{6,18}\d)(?!\w)")
_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "R$": "BRL", "₹": "INR"}
_CURRENCY_WORDS = {
    "usd": "USD", "dollars": "USD", "dollar": "USD", "bucks": "USD", "eur": "EUR",
    "euro": "EUR", "euros": "EUR", "gbp": "GBP", "pounds": "GBP", "pound": "GBP",
    "jpy": "JPY", "yen": "JPY", "brl": "BRL", "reais": "BRL", "real": "BRL", "chf": "CHF",
    "cad": "CAD", "aud": "AUD", "mxn": "MXN", "inr": "INR", "rupees": "INR",
}  # fmt: skip
_SYM = "|".join(re.escape(s) for s in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True))
_WORD = "|".join(sorted(_CURRENCY_WORDS, key=len, reverse=True))
_NUMBER = r"\d{1,3}(?:[,.\s]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(
    rf"(?P<sym1>{_SYM})\s?(?P<n1>{_NUMBER})"
    rf"|(?P<n2>{_NUMBER})\s?(?:(?P<sym2>{_SYM})|(?P<word>{_WORD})\b)",
    re.IGNORECASE,
)


def _parse_number(raw: str) -> float | None:
    raw = raw.replace(" ", "")
    # The last separator followed by one or two digits is the decimal mark ("19,99", "1.299,50").
    match = re.search(r"[.,](\d{1,2})$", raw)
    if match:
        whole = re.sub(r"[.,]", "", raw[: match.start()])
        raw = f"{whole}.{match.group(1)}"
    else:
        raw = re.sub(r"[.,]", "", raw)
    try:
        return float(raw)
    except ValueError:
        return None


class EntityExtractor:
    """Finds entities in a message; built once per workspace from its patterns."""

    def __init__(self, patterns: dict[str, str] | None = None) -> None:
        # Patterns are validated (compiled) by the workspace schema; compile once here.
        self._patterns = [
            (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (patterns or {}).items()
        ]

    def extract(self, text: str, today: date | None = None) -> list[Entity]:
        found: list[Entity] = []

        def free(start: int, end: int) -> bool:
            return all(end <= e.start or start >= e.end for e in found)

        def add(kind: str, value: object, start: int, end: int) -> None:
            if start < end and free(start, end):
                found.append(Entity(kind, value, start, end, text[start:end]))

        for name, pattern in self._patterns:
            for m in pattern.finditer(text):
                add(name, m.group(0).upper(), *m.span())
        # Most messages hold no "@" and no digit: the patterns that need one are not scanned.
        for m in _EMAIL.finditer(text) if "@" in text else ():
            add("email", m.group(0).lower(), *m.span())
        for d in find_dates(text, today):
            add("date", d.value.isoformat(), d.start, d.end)
        numeric = _DIGIT.search(text) is not None
        for m in _AMOUNT.finditer(text) if numeric else ():
            number = _parse_number(m.group("n1") or m.group("n2"))
            symbol = m.group("sym1") or m.group("sym2")
            currency = (
                _CURRENCY_SYMBOLS[symbol]
                if symbol
                else _CURRENCY_WORDS[(m.group("word") or "").lower()]
            )
            if number is not None:
                add("amount", {"amount": number, "currency": currency}, *m.span())
        for m in _PHONE.finditer(text) if numeric else ():
            digits = re.sub(r"\D", "", m.group(1))
            if 8 <= len(digits) <= 15:
                value = ("+" if m.group(1).startswith("+") else "") + digits
                add("phone", value, *m.span(1))
        return sorted(found, key=lambda e: e.start)
