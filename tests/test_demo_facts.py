"""One source of truth in the demo: the figures the flows state (return window, refund
times, the return carrier) come from the workspace's ``facts``, every fact says what the help
articles say, and no flow text, in any language, states a figure of its own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartsupport import messages
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

DEMO = load_workspace_dir(DEMO_DIR)
ARTICLES = DEMO_DIR / "articles"
FLOWS = yaml.safe_load((DEMO_DIR / "flows.yaml").read_text(encoding="utf-8"))

# Where the help articles say each fact: (article, pattern with {} for the fact's value).
EVIDENCE: dict[str, tuple[str, str]] = {
    "return_window_days": ("returns.md", r"within {} days of delivery for a full refund"),
    "return_label_days": ("returns.md", r"within {} days of printing the label"),
    "return_carrier": ("returns.md", r"Drop the parcel at any {} location"),
    "refund_processing_days": ("refunds.md", r"within {} business days of receiving the parcel"),
    "card_refund_days_min": ("refunds.md", r"card refund usually appears .* within {}-\d+ busi"),
    "card_refund_days_max": ("refunds.md", r"card refund usually appears .* within \d+-{} busi"),
    "paypal_refund_hours": ("refunds.md", r"PayPal refunds arrive within {} hours"),
    "free_shipping_over": ("shipping.md", r"free on orders over \${}[;.]"),
    "standard_shipping_price": ("shipping.md", r"below that it costs \${}\."),
    "express_shipping_price": ("shipping.md", r"Express shipping .* costs \${},"),
}


def article(name: str) -> str:
    """An article's text with its line breaks folded, as a reader sees it."""
    return " ".join((ARTICLES / name).read_text(encoding="utf-8").split())


def texts(node: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every text a customer reads in the flows file, with its path: (path, str or mapping)."""
    keys = {"ask", "invalid", "say", "confirm", "quick_replies", "error_message"}
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key in keys:
                found.append((path, value))
            else:
                found += texts(value, path)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += texts(value, f"{where}[{index}]")
    return found


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    return []


@pytest.mark.parametrize("fact", sorted(DEMO.facts))
def test_every_fact_says_what_the_articles_say(fact):
    assert fact in EVIDENCE, f"facts.{fact}: name the article that states it in EVIDENCE"
    name, pattern = EVIDENCE[fact]
    value = DEMO.facts[fact]
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    assert re.search(pattern.format(re.escape(shown)), article(name)), (
        f"facts.{fact} = {value!r}, but {name} does not say so"
    )


def test_every_fact_a_flow_quotes_exists():
    quoted = {
        name
        for _, value in texts(FLOWS["flows"])
        for text in strings(value)
        for name in re.findall(r"facts\.(\w+)", text)
    }
    assert quoted, "the demo flows quote the workspace's facts"
    assert quoted <= set(DEMO.facts), f"unknown facts: {sorted(quoted - set(DEMO.facts))}"


def test_no_flow_text_states_a_figure_of_its_own():
    """Figures come from the facts or the shop's data (inside ``{{ }}``), in every language;
    what is left are the examples of an order number and a shoe size."""
    literal = []
    for path, value in texts({"flows": FLOWS["flows"], "x-slots": FLOWS["x-slots"]}):
        for text in strings(value):
            outside = re.sub(r"\{\{.*?\}\}", " ", text)
            outside = re.sub(r"ORD-\d+", " ", outside)
            numbers = set(re.findall(r"\d+(?:[.,]\d+)?", outside)) - {"42"}
            if numbers:
                literal.append(f"{path}: {sorted(numbers)} in {text!r}")
    assert not literal, "\n".join(literal)


def test_a_translation_quotes_the_same_facts_as_the_default_language():
    for path, value in texts(FLOWS["flows"]):
        if not isinstance(value, dict) or not isinstance(value.get("en"), str):
            continue
        english = set(re.findall(r"facts\.\w+", value["en"]))
        for language, text in value.items():
            assert set(re.findall(r"facts\.\w+", text)) == english, f"{path}.{language}"


def test_every_demo_flow_text_is_written_in_all_nine_languages():
    missing = [
        f"{path}: {sorted(set(messages.LANGUAGES) - set(value))}"
        for path, value in texts({"flows": FLOWS["flows"], "x-slots": FLOWS["x-slots"]})
        if isinstance(value, dict) and set(value) != set(messages.LANGUAGES)
    ]
    assert not missing, "\n".join(missing)


def test_a_talk_to_a_person_button_in_a_flow_is_the_catalogs_in_every_language():
    """Pressing it must ask for a person: the handoff rules know the catalog's button."""
    for path, value in texts(FLOWS["flows"]):
        if not (path.endswith("quick_replies") and isinstance(value, dict)):
            continue
        english = value["en"]
        if "Talk to a person" not in english:
            continue
        at = english.index("Talk to a person")
        for language, buttons in value.items():
            assert buttons[at] == messages.text(DEMO, "handoff.offer_button", language), path


def test_the_faq_answers_state_only_what_the_articles_say():
    every_article = " ".join(article(p.name) for p in Path(ARTICLES).glob("*.md"))
    for entry in DEMO.faq:
        for figure in re.findall(r"\$?\d+(?:[.:,-]\d+)*(?: business days| days)?", entry.answer):
            assert figure in every_article, f"FAQ {entry.keywords[0]!r}: {figure!r}"
