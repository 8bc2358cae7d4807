"""Redaction before text leaves the process, restoration in the reply, and card masking for
storage; checksums keep look-alike numbers (order ids, dates, wrong cards/IBANs) intact."""

from __future__ import annotations

import pytest

from smartsupport.privacy import Redactor, iban_valid, luhn_valid, mask_cards, redact

VALID_CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "4242424242424242"]
VALID_IBANS = [
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
]


@pytest.mark.parametrize("card", VALID_CARDS)
def test_valid_cards_are_redacted_and_restored_masked(card):
    r = Redactor()
    text = f"I paid with {card} yesterday"
    redacted = r.redact(text)
    assert redacted == "I paid with [CARD_1] yesterday"
    digits = card.replace(" ", "").replace("-", "")
    # The reply gets the card back, but never in clear.
    assert (
        r.restore("Card [CARD_1] was charged.") == f"Card **** **** **** {digits[-4:]} was charged."
    )


@pytest.mark.parametrize(
    "number",
    ["4111 1111 1111 1112", "1234567812345678", "0000 0000 0000 0000", "order 20240501123456"],
)
def test_luhn_failures_and_plain_numbers_are_left_alone(number):
    assert redact(f"ref {number}") == f"ref {number}"
    assert mask_cards(number) == number


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_valid_ibans_are_redacted_and_restored(iban):
    r = Redactor()
    redacted = r.redact(f"Refund to {iban} please")
    assert redacted == "Refund to [IBAN_1] please"
    assert r.restore(redacted) == f"Refund to {iban} please"


@pytest.mark.parametrize("iban", ["DE89 3704 0044 0532 0130 10", "GB82WEST12345698765433"])
def test_ibans_failing_mod97_are_not_redacted_as_ibans(iban):
    assert not iban_valid(iban)
    assert "[IBAN" not in redact(f"to {iban}")


def test_round_trip_of_every_kind_with_consistent_placeholders():
    r = Redactor()
    text = (
        "I'm jane.doe+shop@example.co.uk, call +44 20 7946 0958 or (555) 123-4567 or "
        "030 1234567. SSN 123-45-6789, IP 192.168.1.10. Again: jane.doe+shop@example.co.uk"
    )
    redacted = r.redact(text)
    for value in ["jane.doe", "7946", "123-4567", "1234567", "123-45-6789", "192.168"]:
        assert value not in redacted
    assert redacted.count("[EMAIL_1]") == 2  # the same value, the same placeholder
    assert r.found == {"EMAIL": 1, "SSN": 1, "IP": 1, "PHONE": 3}
    assert r.restore(redacted) == text


@pytest.mark.parametrize(
    "text",
    [
        "Order #A-10234 arrived on 2024-05-01",
        "It costs $1,299.00 or 12.50 EUR",
        "my order number is 10234567",
        "version 3.11.4 at 10:30",
    ],
)
def test_ordinary_support_text_is_not_redacted(text):
    assert redact(text) == text


def test_mask_cards_keeps_last_four_and_the_rest_of_the_text():
    text = "card 4111-1111-1111-1111 exp 12/27, order 10234567"
    assert mask_cards(text) == "card **** **** **** 1111 exp 12/27, order 10234567"


def test_restore_ignores_unknown_placeholders():
    r = Redactor()
    r.redact("mail a@b.io")
    assert r.restore("[EMAIL_1] and [EMAIL_9]") == "a@b.io and [EMAIL_9]"


def test_checksums():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB00WEST12345698765432")


def test_decimals_and_this_machines_address_are_not_personal_data():
    line = "ingested in seconds=1.4111111111111111; running on http://127.0.0.1:8000 (0.0.0.0)"
    assert redact(line) == line
    assert redact("from 203.0.113.9") == "from [IP_1]"
