"""The order of decisions as data: asking about versus asking for, several questions in one
message, the workspace's own order, and the reason recorded on the turn."""

from __future__ import annotations

import pytest

from smartsupport.decisions import STEPS, decision_order
from smartsupport.errors import ConfigurationError
from smartsupport.nlu.asking import asks_about, questions_in, states
from smartsupport.workspaces import WorkspaceConfig


@pytest.mark.parametrize(
    "text",
    [
        "how long do I have to send something back?",
        "Can I return shoes I wore once?",
        "¿Cuánto tiempo tengo para devolver un artículo?",
        "Combien de temps ai-je pour retourner un article ?",
        "Wie lange habe ich Zeit für eine Rücksendung?",
        "返品は何日以内にできますか？",
    ],
)
def test_questions_about_an_action(text):
    assert asks_about(text)


@pytest.mark.parametrize(
    "text",
    [
        "I want to return my sneakers",
        "return ORD-10234",
        "please cancel my order",
        "Quiero devolver unas zapatillas",
        "Je voudrais annuler ma commande",
        "Ich möchte meine Bestellung stornieren",
        "我想退货",
        "cancel order",
    ],
)
def test_requests_for_an_action(text):
    assert not asks_about(text)


def test_several_questions_in_one_message_are_split_in_order():
    assert questions_in("How much is express? And do you ship to Norway?") == [
        "How much is express?",
        "And do you ship to Norway?",
    ]
    assert questions_in("Where is my order ORD-10234?") == ["Where is my order ORD-10234?"]


@pytest.mark.parametrize(
    "text",
    [
        "do you take amex?? my visa is maxed out lol",
        "wait, you ship to Norway?! my cousin lives there",
        "¿¿aceptáis PayPal??",
        "送料はいくらですか？？",
    ],
)
def test_a_run_of_question_marks_ends_one_question_not_several(text):
    # "amex??" split into "amex?" and a bare "?" lost the context that answers it.
    assert questions_in(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("it's too small", True),
        ("elle est trop petite", True),
        ("ficou pequena", True),
        ("المقاس صغير", True),
        ("what payment methods do you take?", False),
        ("wie lange dauert der Versand", False),
        ("I want to cancel my order", False),
        ("cancela mi pedido por favor", False),
    ],
)
def test_a_plain_statement_is_told_from_a_question_or_a_request(text, expected):
    assert states(text) is expected


def test_a_workspace_can_reorder_the_steps_and_a_wrong_step_names_the_fix():
    default = WorkspaceConfig(id="w", name="W")
    assert decision_order(default) == STEPS
    custom = WorkspaceConfig(id="w", name="W", decision_order=["flow", "knowledge", "no_answer"])
    assert decision_order(custom) == ("flow", "knowledge", "no_answer")
    wrong = WorkspaceConfig(id="w", name="W", decision_order=["flow", "faq"])
    with pytest.raises(ConfigurationError, match="unknown decision_order step"):
        decision_order(wrong)
