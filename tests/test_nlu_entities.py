"""Entities and dates: every span points at the text it claims, values are normalised."""

from __future__ import annotations

from datetime import date

from smartsupport.nlu.dates import find_dates
from smartsupport.nlu.entities import EntityExtractor

SHOP = EntityExtractor(
    {
        "order_id": r"\bORD-?\d{5}\b",
        "tracking_number": r"\b1Z[0-9A-Z]{16}\b",
        "product_id": r"\bSKU-?\d{4}\b",
    }
)
SATURDAY = date(2026, 11, 21)


def _by_type(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for entity in SHOP.extract(text, today=SATURDAY):
        assert text[entity.start : entity.end] == entity.text
        found.setdefault(entity.type, []).append(entity.value)
    return found


def test_workspace_patterns_win_over_builtin_phone_numbers() -> None:
    found = _by_type("Where is ORD-10234? Tracking 1Z999AA10123456784, item SKU-1001")
    assert found == {
        "order_id": ["ORD-10234"],
        "tracking_number": ["1Z999AA10123456784"],
        "product_id": ["SKU-1001"],
    }


def test_email_and_phone_are_normalised() -> None:
    found = _by_type("Mail Jo.Doe@Example.com or call +1 (617) 555-0134 after 5")
    assert found["email"] == ["jo.doe@example.com"]
    assert found["phone"] == ["+16175550134"]


def test_amounts_with_symbols_codes_and_decimal_commas() -> None:
    found = _by_type("I paid $25.50, then 19,99 € and 1.299,50 EUR, plus 30 dollars")
    assert found["amount"] == [
        {"amount": 25.5, "currency": "USD"},
        {"amount": 19.99, "currency": "EUR"},
        {"amount": 1299.5, "currency": "EUR"},
        {"amount": 30.0, "currency": "USD"},
    ]


def test_relative_dates_resolve_against_today_in_five_languages() -> None:
    cases = {
        "I ordered it last Tuesday": "2026-11-17",
        "lo pedí el martes pasado": "2026-11-17",
        "arrived 3 days ago": "2026-11-18",
        "commandé hier": "2026-11-20",
        "vor 2 Tagen bestellt": "2026-11-19",
        "chegou ontem": "2026-11-20",
        "deliver it tomorrow": "2026-11-22",
        "next Friday please": "2026-11-27",
    }
    for text, expected in cases.items():
        assert [d.value.isoformat() for d in find_dates(text, SATURDAY)] == [expected], text


def test_absolute_dates_and_no_false_positive_on_may() -> None:
    found = [
        d.value.isoformat() for d in find_dates("2024-05-03, 03/05/2024, May 3rd, 2024", SATURDAY)
    ]
    assert found == ["2024-05-03", "2024-05-03", "2024-05-03"]
    assert list(find_dates("May I return it? The 31/02 is no date", SATURDAY)) == []


def test_dates_without_a_digit_are_found_past_the_quick_look_at_the_words() -> None:
    # find_dates skips a message with no digit and none of the words a date needs; each of
    # these names a date with words alone, in capitals or with accents.
    cases = {
        "It came on MONDAY": "2026-11-16",
        "llegó el miércoles pasado": "2026-11-18",
        "a week ago": "2026-11-14",
        "Aujourd'hui, s'il vous plaît": "2026-11-21",
        "the day before yesterday": "2026-11-19",
        "Übermorgen bitte": "2026-11-23",
        "next week": "2026-11-28",
        "letzte Woche": "2026-11-14",
        "ayer": "2026-11-20",
    }
    for text, expected in cases.items():
        assert [d.value.isoformat() for d in find_dates(text, SATURDAY)] == [expected], text
    assert list(find_dates("where is my parcel? it should be here by now", SATURDAY)) == []
    assert _by_type("no digits, no at sign") == {}
