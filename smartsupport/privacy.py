"""Personal identifiers out of text that leaves the process, and card numbers out of storage.

``Redactor`` replaces emails, phone numbers, payment card numbers (Luhn-checked), IBANs
(mod-97-checked), US social security numbers and IP addresses with placeholders such as
``[EMAIL_1]`` before a prompt goes to a remote LLM, and puts the originals back into the
reply. Checksums keep order numbers, dates and prices that merely look like cards or IBANs
untouched, so the model still sees what the customer asked about.

``mask_cards`` is for storage: every stored message goes through it, so a card number
typed into the chat is kept as ``**** **** **** 4242`` and never in clear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

# Not the fraction of a decimal ("seconds=1.2345678901234567" in a log line).
_CARD = re.compile(r"(?<![\w-])(?<!\d\.)\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
# International (+CC / 00CC), North American (555) 123-4567, and national numbers with a
# leading 0 (030 1234567, 07700 900123). Bare digit runs are left alone: they are far more
# often order numbers than phones.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+|00)[1-9]\d{0,2}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}"
    r"|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}"
    r"|0[1-9]\d{1,3}[\s/-]?\d{3,4}[\s-]?\d{2,4}"
    r")(?![\w])"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card_digits(match: str) -> str | None:
    digits = re.sub(r"[ -]", "", match)
    if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits):
        return digits
    return None


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _phone_ok(match: str) -> bool:
    return 7 <= sum(ch.isdigit() for ch in match) <= 15


# Order matters: checksummed kinds first, so a card number is never half-eaten as a phone.
_KINDS: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    ("IBAN", _IBAN, iban_valid),
    ("CARD", _CARD, lambda m: _card_digits(m) is not None),
    ("EMAIL", _EMAIL, lambda m: True),
    ("SSN", _SSN, lambda m: True),
    # This machine and "every address" identify no one ("running on http://0.0.0.0:8000").
    ("IP", _IPV4, lambda m: not m.startswith("127.") and m != "0.0.0.0"),
    ("PHONE", _PHONE, _phone_ok),
]


class Redactor:
    """Replaces identifiers with numbered placeholders and restores them. One instance per
    prompt, so the same value always gets the same placeholder across question and passages."""

    def __init__(self) -> None:
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def redact(self, text: str) -> str:
        for kind, pattern, check in _KINDS:
            text = pattern.sub(partial(self._swap, kind=kind, check=check), text)
        return text

    def _swap(self, match: re.Match[str], kind: str, check: Callable[[str], bool]) -> str:
        value = match.group(0)
        if not check(value):
            return value
        if value not in self._by_value:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            placeholder = f"[{kind}_{self._counts[kind]}]"
            self._by_value[value] = placeholder
            self._by_placeholder[placeholder] = value
        return self._by_value[value]

    def restore(self, text: str) -> str:
        """Put the originals back; card numbers come back masked, never in clear."""
        if not self._by_placeholder:
            return text

        def back(m: re.Match[str]) -> str:
            value = self._by_placeholder.get(m.group(0))
            if value is None:
                return m.group(0)
            return mask_cards(value) if m.group(0).startswith("[CARD_") else value

        return re.sub(r"\[[A-Z]+_\d+\]", back, text)

    @property
    def found(self) -> dict[str, int]:
        """How many distinct values of each kind were redacted (for logs and events)."""
        return dict(self._counts)


def redact(text: str) -> str:
    """One-way redaction, for logs and analytics."""
    return Redactor().redact(text)


def mask_cards(text: str) -> str:
    """Every Luhn-valid card number in ``text`` as ``**** **** **** 1234``."""

    def mask(m: re.Match[str]) -> str:
        digits = _card_digits(m.group(0))
        return m.group(0) if digits is None else "**** **** **** " + digits[-4:]

    return _CARD.sub(mask, text)
