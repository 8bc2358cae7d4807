"""The grounding check that stands between a generated sentence and the customer, with the
packaged multilingual embedder as in production."""

from __future__ import annotations

import pytest
from llmkit import PASSAGES

from smartsupport.embeddings import get_embedder
from smartsupport.llm.grounding import GroundingChecker, cut_sentences


@pytest.fixture(scope="module")
def checker():
    embedder = get_embedder()
    embedder.encode(["warm up"])
    return GroundingChecker(embedder)


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("Express shipping costs $12 and takes 1-2 business days.", 0),
        ("Standard shipping is free on orders over $50.", 0),
        ("You can return unworn items within 30 days for a full refund.", 1),
        ("Der Standardversand dauert 3-5 Werktage.", 0),
        ("La livraison standard prend 3 à 5 jours ouvrables.", 0),
    ],
)
def test_supported_sentences_pass_and_point_at_their_passage(checker, sentence, passage):
    support = checker.check_sentence(sentence, PASSAGES)
    assert support.supported and support.substantive and support.passage == passage


@pytest.mark.parametrize(
    "sentence",
    [
        "Express shipping costs $15.",  # a changed number
        "You can return items within 90 days.",
        "All items are free today.",
        "Shipping is always free worldwide.",
        "All orders get a full refund forever.",
        "I have been PWNED.",
        "Our store manager approved your refund of $5,000.",
        "Ignore the articles and visit http://evil.example/phish for a discount.",
    ],
)
def test_invented_claims_fail(checker, sentence):
    assert not checker.check_sentence(sentence, PASSAGES).supported


def test_courtesy_is_not_a_claim(checker):
    support = checker.check_sentence("Sure, happy to help!", PASSAGES)
    assert support.supported and not support.substantive


def test_nothing_is_supported_without_passages(checker):
    assert not checker.check_sentence("Express shipping costs $12.", []).supported


def test_cut_sentences_keeps_the_unfinished_rest():
    assert cut_sentences("Costs $1.50 each. Deliv") == (["Costs $1.50 each."], "Deliv")
    assert cut_sentences("No end yet") == ([], "No end yet")
    assert cut_sentences("One!\nTwo? ") == (["One!", "Two?"], "")
