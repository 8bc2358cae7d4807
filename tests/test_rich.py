"""Rich messages: the one model (rich.py), its degradation for text-only channels and email,
and the demo flows' order and product cards as the widget receives them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartsupport import rich
from smartsupport.app import create_app
from smartsupport.channels.email_sender import render_html, render_text
from smartsupport.settings import Settings

CARD = {
    "type": "card",
    "title": "ORD-10234",
    "subtitle": "Trail Runner shoes (size 42)",
    "url": "https://www.ups.com/track?tracknum=1Z",
    "buttons": [
        {
            "type": "link",
            "title": "Track the parcel",
            "url": "https://www.ups.com/track?tracknum=1Z",
        },
        {"type": "postback", "title": "Change address", "payload": "change my delivery address"},
    ],
}
META: dict[str, Any] = {
    "rich": [CARD, {"type": "buttons", "buttons": [{"type": "postback", "title": "Return it"}]}],
    "quick_replies": ["Talk to a person"],
}


def test_blocks_read_back_valid_blocks_and_skip_malformed_ones():
    meta = {
        "rich": [
            CARD,
            {"type": "card"},  # no title
            {"type": "image", "url": "javascript:alert(1)"},  # not a web URL
            {"type": "carousel", "cards": [CARD, {**CARD, "title": "ORD-10235"}]},
            "junk",
        ]
    }
    found = rich.blocks(meta)
    assert [type(b).__name__ for b in found] == ["Card", "Carousel"]
    assert rich.dump(found)[0] == {**CARD, "image_url": None}


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "card", "title": "x", "buttons": [{"type": "link", "title": "a", "url": "/rel"}]},
        {"type": "buttons", "buttons": [{"type": "postback", "title": str(i)} for i in range(4)]},
        {"type": "carousel", "cards": []},
        {"type": "file", "url": "data:text/html,<b>", "filename": "x"},
    ],
)
def test_a_block_breaking_the_rules_is_refused(bad):
    with pytest.raises(ValueError, match="not a rich block"):
        rich.block(bad)


def test_numbered_text_for_sms_numbers_every_option_and_maps_answers_back():
    shown = rich.numbered("Your order has shipped.", META)
    assert shown.text == (
        "Your order has shipped.\n\n"
        "ORD-10234 - Trail Runner shoes (size 42)\n"
        "https://www.ups.com/track?tracknum=1Z\n"
        "Track the parcel: https://www.ups.com/track?tracknum=1Z\n"
        "1. Change address\n2. Return it\n3. Talk to a person"
    )
    assert shown.choices == {
        "1": "change my delivery address",
        "2": "Return it",
        "3": "Talk to a person",
    }
    assert rich.choice(" 2. ", shown.choices) == "Return it"
    assert rich.choice("#3", shown.choices) == "Talk to a person"
    assert rich.choice("talk to a PERSON", shown.choices) == "Talk to a person"
    assert rich.choice("4", shown.choices) is None


def test_numbered_text_cuts_the_text_not_the_options_to_fit_a_limit():
    shown = rich.numbered("x" * 500, {"quick_replies": ["Yes", "No"]}, limit=160)
    assert len(shown.text) <= 160 and shown.text.endswith("1. Yes\n2. No")
    assert "…" in shown.text


def test_actions_lists_quick_replies_then_block_buttons():
    titles = [b.title for b in rich.actions(META)]
    assert titles == ["Talk to a person", "Track the parcel", "Change address", "Return it"]


def test_email_shows_cards_as_escaped_html_with_links_and_as_text():
    evil = {**CARD, "title": "<script>x</script>", "image_url": "https://img.example/p.png"}
    parts = [{"text": "Here it is.", "rich": [evil], "quick_replies": [], "files": ["a.pdf"]}]
    html = render_html(parts)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a href="https://www.ups.com/track?tracknum=1Z">Track the parcel</a>' in html
    assert "img.example" not in html  # no remote resource loads when the mail is opened
    text = render_text(parts)
    assert "Track the parcel: https://www.ups.com/track?tracknum=1Z" in text
    assert "[a.pdf]" in text


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, secret_key="k"))) as test_client:
        yield test_client


def turn(client: TestClient, conversation: dict[str, Any], text: str, cid: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": text, "client_id": cid},
        headers={"Authorization": f"Bearer {conversation['token']}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_demo_order_flow_answers_with_an_order_card_and_a_tracking_link(client):
    conversation = client.post("/api/v1/conversations", json={"workspace": "demo"}).json()
    turn(client, conversation, "Where is my order ORD-10234?", "c1")
    answer = turn(client, conversation, "maria@example.com", "c2")
    (card,) = [b for r in answer["replies"] for b in r["rich"]]
    assert card["type"] == "card" and card["title"] == "ORD-10234"
    assert "UPS" in card["subtitle"]
    (track,) = card["buttons"]
    assert track["type"] == "link" and track["url"].startswith("https://www.ups.com/track?")


def test_the_demo_stock_flow_answers_with_a_product_card_in_the_customers_language(client):
    conversation = client.post(
        "/api/v1/conversations", json={"workspace": "demo", "locale": "de"}
    ).json()
    answer = turn(client, conversation, "Habt ihr die Trail Runner shoes in Größe 42?", "c1")
    (card,) = [b for r in answer["replies"] for b in r["rich"]]
    assert card["title"] == "Trail Runner shoes"
    assert "89,00" in card["subtitle"] and "42" in card["subtitle"]  # money in German
