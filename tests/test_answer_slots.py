"""Slots an answer must fill beyond sharing words with the question: a way to pay asked about
(the sentence listing the ways taken answers it), a product's name shared while what is asked
about it is in no article (no answer), and a figure the article gives in two parts (both
given). Run on the demo help centre with the packaged embedding model and the shipped model."""

from __future__ import annotations

import pytest

from smartsupport.article_answers import ArticleAnswers
from smartsupport.domain import Passage
from smartsupport.knowledge.answer import extract_answer
from smartsupport.knowledge.answer_types import answer_types, lists_payment, type_match
from smartsupport.knowledge.bm25 import BM25Index


async def kept(articles: ArticleAnswers, question: str, language: str) -> list[str]:
    """The units of the passages that pass the threshold, best first."""
    passages, _ = await articles.retrieve("demo", question, language, "en")
    idf = await articles.knowledge.idf("demo")
    ranked = articles.answerability.rank(question, passages, idf)
    return [c.unit.text for c in ranked if c.probability >= articles.answerability.threshold]


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("Is Apple Pay an option at checkout?", ["payment"]),
        ("Geht bei euch auch PayPal? Hab keine Kreditkarte.", ["payment"]),
        ("Se puede pagar a plazos o con Klarna?", ["payment"]),  # not a "plazo" (deadline)
        ("je peux payer par chèque ?", ["payment"]),
        ("Dá pra parcelar em 3x no cartão?", ["payment"]),
        ("可以用支付宝或者微信支付吗？", ["payment"]),
        ("コンビニ払いや代引きはできますか？", ["payment"]),
        ("هل يمكن الدفع عند الاستلام؟", ["payment"]),
        # Naming a way to pay while asking something else.
        ("I paid with PayPal, how long does the refund take?", ["duration"]),
        ("My credit card keeps getting declined, what am I doing wrong?", []),
        ("can I get cash for my gift card", []),
        ("cuánto plazo tengo para devolver", ["duration"]),
    ],
)
def test_a_question_about_a_way_to_pay(question, kinds):
    assert list(answer_types(question)) == kinds


def test_what_answers_a_way_to_pay():
    listing = "We accept Visa, Mastercard, American Express, PayPal, Apple Pay and gift cards."
    assert lists_payment("Do you take bitcoin?", listing) == 2  # theirs is not among them
    assert lists_payment("هل تقبلون PayPal؟", "نقبل Visa وMastercard وPayPal.") == 2  # "و"
    rest = "Pay the rest of the order with a card or PayPal."
    assert lists_payment("Can I use PayPal?", rest) == 1  # names it: less than the list
    assert lists_payment("Can I use PayPal?", "Gift card balances never expire.") == 0
    # Naming one of the ways asked about is enough to be judged on its own score.
    assert lists_payment("Gift card, then the rest by credit card?", "Gift cards expire.") == 1
    later = "We do not offer instalment plans or buy-now-pay-later services."
    assert lists_payment("Can I pay in installments?", later) == 2
    assert lists_payment("Can I pay in installments?", listing) == 0


@pytest.mark.parametrize(
    ("question", "language", "fact"),
    [
        ("Is Apple Pay an option at checkout?", "en", "Apple Pay"),
        ("Geht bei euch auch PayPal? Hab keine Kreditkarte.", "de", "PayPal"),
        ("可以用支付宝或者微信支付吗？", "zh", "Visa"),  # the list of ways taken
        ("هل يمكن الدفع عند الاستلام؟", "ar", "Visa"),
        ("Dá pra parcelar em 3x no cartão?", "pt", "prestações"),
    ],
)
async def test_payment_questions_are_answered_by_the_ways_taken(articles, question, language, fact):
    units = await kept(articles, question, language)
    assert units and fact in units[0]
    # The passage about paying the rest of a gift card's order with PayPal is not an answer.
    assert all("Geschenkkarte " not in u and "Guthaben" not in u for u in units)


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Is the trail runner good for wide feet?", "en"),
        ("Quanto pesano le Trail Runner? Le userei per ultra trail", "it"),
        ("Wie imprägniere ich die City Sneakers am besten?", "de"),
    ],
)
async def test_sharing_only_a_products_name_is_not_an_answer(articles, question, language):
    assert await kept(articles, question, language) == []


async def test_a_question_about_the_product_the_articles_answer_is_still_answered(articles):
    units = await kept(articles, "Do the Trail Runners run small?", "en")
    assert units and "half a size small" in units[0]


@pytest.mark.parametrize(
    ("question", "language", "fact"),
    [
        ("Vocês enviam pro Brasil? Moro em São Paulo", "pt", "Noruega"),
        ("Liefern Sie nach Brasilien?", "de", "Norwegen"),  # not "Alaska and Hawaii"
        ("你们送货到巴西吗？", "zh", "挪威"),
        ("Do you ship to Canada?", "en", "Canada"),  # named: the sentence naming it
    ],
)
async def test_whether_a_country_is_delivered_to_is_answered_by_the_list(
    articles, question, language, fact
):
    units = await kept(articles, question, language)
    assert units and fact in units[0]
    assert all("Alaska" not in u and "阿拉斯加" not in u for u in units)


def test_names_are_the_words_several_languages_share():
    documents = [[("Trail Runner shoes run small", 1.0)], [("Las Trail Runner son pequeñas", 1.0)],
                 [("Die Trail Runner sind klein", 1.0)], [("Les Trail Runner taillent petit", 1.0)],
                 [("Size 42 fits", 1.0)]]  # fmt: skip
    index = BM25Index(documents, ["en", "es", "de", "fr", "en"])
    assert {"trail", "runner"} <= index.names
    assert "small" not in index.names and "42" not in index.names
    assert BM25Index(documents).names == frozenset()  # languages unknown: no names


def test_a_figure_given_in_two_parts_of_an_article_is_given_whole():
    issued = Passage("p1", "refunds", "Refunds", "We refund returns within 5 business days "
                     "of receiving the parcel.", position=0, score=0.9)  # fmt: skip
    shown = Passage("p2", "refunds", "Refunds", "A card refund appears on your statement "
                    "within 3-10 business days.", position=1, score=0.95)  # fmt: skip
    other = Passage("p3", "shipping", "Shipping", "Express takes 1-2 business days.", score=0.9)
    question = "How soon will I get my money back?"
    answer = extract_answer(question, [shown, issued])
    assert answer is not None
    assert answer.index("5 business days") < answer.index("3-10 business days")  # article order
    assert "1-2" not in (extract_answer(question, [shown, other]) or "")  # another article
    # Asked for no figure: one part is the answer.
    assert "5 business" not in (extract_answer("Tell me about card refunds", [shown, issued]) or "")


def test_once_is_a_moment_only_when_a_clause_follows():
    # "When does it ship?" is answered by "once it has shipped, ..." at the earliest, never
    # by "you pay shipping only once".
    assert type_match(["when"], "Once it has shipped, use the carrier's tracking page.") > 0
    assert type_match(["when"], "You pay shipping only once, and each parcel is tracked.") < 0


@pytest.mark.parametrize(
    ("question", "language", "row"),
    [
        ("普段はUKサイズの8を履いています。EUサイズだといくつになりますか？", "ja", "42 |"),
        ("我平时穿美码男鞋10码，应该买欧码多少？", "zh", "44 |"),
        ("I wear a US men's 10, what EU size is that?", "en", "44 |"),
    ],
)
async def test_a_size_in_one_system_is_converted_by_the_tables_row(
    articles, question, language, row
):
    units = await kept(articles, question, language)
    assert units and units[0].startswith(row)


async def test_two_sizes_without_systems_are_not_a_conversion(articles):
    # "Between 42 and 43" asks which to take: the sentence about it, not the table.
    units = await kept(articles, "I'm between a 42 and a 43, which size should I take?", "en")
    assert not any(u.count("|") >= 2 for u in units)


def test_an_answer_from_a_table_row_keeps_the_header():
    table = "\n".join(
        ["| EU | US men | UK |", "|----|----|----|", "| 40 | 7 | 6.5 |", "| 44 | 10 | 9.5 |"]
        + [f"| {n} | {n} | {n} |" for n in range(50, 90)]
    )
    shoes = Passage("p", "sizing", "Sizes", table, focus="| 44 | 10 | 9.5 |", score=0.9)
    answer = extract_answer("US 10 in EU?", [shoes]) or ""
    assert answer.startswith("| EU | US men | UK |") and "| 44 | 10 | 9.5 |" in answer


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Who delivers your parcels, which shipping companies?", "en"),
        ("con qué transportista mandan los paquetes", "es"),
        ("ما شركات الشحن التي تتعاملون معها", "ar"),
    ],
)
async def test_which_carriers_is_answered_by_the_sentence_naming_them(articles, question, language):
    units = await kept(articles, question, language)
    assert units and "UPS" in units[0] and "DHL" in units[0]


@pytest.mark.parametrize(
    ("question", "language", "fact"),
    [
        # The kind of answer asked for and the thing asked about in one sentence, whatever the
        # customer tells around the question.
        ("مرحبا، اشتريت حذاء ولم يناسبني. كم يوم عندي لإرجاعه؟", "ar", "30"),
        ("My order is still processing, when does it ship?", "en", "one business day"),
        (
            "Hola! Compré unas zapatillas City hace dos semanas. ¿Hasta cuándo puedo devolverlas?",
            "es",
            "30",
        ),
    ],
)
async def test_the_sentence_with_the_topic_and_the_figure_answers(
    articles, question, language, fact
):
    # Among the answers (two parts of one article are given together: the test above).
    assert any(fact in u for u in await kept(articles, question, language))


async def test_a_topic_is_not_enough_when_the_question_names_what_no_article_does(articles):
    # "gratis" and "carrito" are in no article: "envío" alone would pick the express price.
    question = "A partir de cuánto es gratis el envío? Tengo 42 dólares en el carrito"
    assert not any("exprés" in u for u in await kept(articles, question, "es"))
