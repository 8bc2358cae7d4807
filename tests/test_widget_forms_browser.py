"""The widget's lazily loaded forms (static/widget-forms.js) in real headless chromium (Debian's).

widget-forms.js holds what few conversations show, so that opening the chat stays within its
size budget (bench/widget_size.py): the 1-5 rating, the texts of the place in the agents'
queue, the contact form and the consent step. These tests play the server's side of the
protocol (the FakeServer of test_widget_presentation.py) and check that the file is fetched only
when needed and then shows the same thing as when it was part of widget-app.js. The contact
form and the consent step against a real server: test_agent_workspace_browser.py,
test_gdpr_widget_browser.py; the rating: test_inbox_browser.py, test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.staffkit import close, new_page
from tests.test_widget_presentation import LANGUAGES, ORIGIN, STATIC, FakeServer, open_widget

pytestmark = pytest.mark.browser

FORMS = ORIGIN + "/static/widget-forms.js"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, 1280, 800)
    page.route(FORMS, FakeServer._file(STATIC / "widget-forms.js"))
    yield page
    close(page)


def connected(page: Page, bot_status: str) -> None:
    """Wait for the ready frame: its status would otherwise overwrite the frames sent next."""
    expect(page.locator("#smartsupport-widget .status")).to_have_text(bot_status)


def requested(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def test_the_place_in_the_queue_loads_the_forms_and_reads_in_the_widgets_language(
    page: Page,
) -> None:
    urls = requested(page)
    page.route(
        ORIGIN + "/api/v1/conversations/c1/queue",
        lambda route: route.fulfill(json={"position": 3, "estimated_wait_minutes": 4}),
    )
    server = open_widget(page, "data-locale=de")
    connected(page, "Unser Assistent antwortet sofort")
    assert FORMS not in urls, "not loaded on open"
    assert server.socket is not None
    server.socket.send(json.dumps({"type": "status", "status": "waiting_for_agent"}))
    status = page.locator("#smartsupport-widget .status")
    waiting = "Gleich ist ein Mitarbeiter für Sie da"
    expect(status).to_have_text(f"{waiting} · Sie sind Nummer 3 in der Warteschlange, etwa 4 Min.")
    assert urls.count(FORMS) == 1
    # A queue frame moves the customer up; without a position only the status line is left.
    server.socket.send(json.dumps({"type": "queue", "position": 1}))
    expect(status).to_have_text(f"{waiting} · Sie sind Nummer 1 in der Warteschlange")
    server.socket.send(json.dumps({"type": "queue", "position": None}))
    expect(status).to_have_text(waiting)
    assert urls.count(FORMS) == 1, "loaded once"


def test_every_language_has_every_text_of_the_forms(page: Page) -> None:
    server = open_widget(page)
    connected(page, "Our assistant replies instantly")
    assert server.socket is not None
    server.socket.send(json.dumps({"type": "queue", "position": 2}))
    page.wait_for_function("window.SmartSupport.forms")
    strings = page.evaluate("SmartSupport.forms.strings")
    assert sorted(strings) == sorted(LANGUAGES)
    keys = set(strings["en"])
    for lang in LANGUAGES:
        assert set(strings[lang]) == keys, lang
        for key, text in strings[lang].items():
            assert isinstance(text, str) and text.strip(), (lang, key)
            assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", strings["en"][key]))
        if lang != "en":
            assert all(strings[lang][k] != strings["en"][k] for k in keys), lang
    # The widget's other texts do not repeat them.
    assert not keys & set(page.evaluate("SmartSupport.app.strings.en"))


def test_the_rating_after_a_resolution_is_sent_and_thanked_in_the_customers_language(
    page: Page,
) -> None:
    urls = requested(page)
    sent: list[dict[str, object]] = []

    def csat(route) -> None:
        if route.request.method == "POST":
            sent.append(route.request.post_data_json)
            return route.fulfill(status=201, json={"rating": 4})
        return route.fulfill(json={"due": True})

    page.route(ORIGIN + "/api/v1/conversations/c1/csat", csat)
    server = open_widget(page, "data-locale=fr")
    connected(page, "Notre assistant répond tout de suite")
    assert server.socket is not None
    assert FORMS not in urls
    server.socket.send(json.dumps({"type": "csat"}))
    box = page.locator("#smartsupport-widget .csat")
    expect(box).to_have_accessible_name("Comment évaluez-vous cette conversation ?")
    stars = box.locator(".star")
    expect(stars).to_have_count(5)
    submit = box.get_by_role("button", name="Envoyer la note")
    expect(submit).to_be_disabled()
    stars.nth(3).click()
    expect(stars.nth(3)).to_have_attribute("aria-pressed", "true")
    expect(stars.nth(4)).to_have_attribute("aria-pressed", "false")
    box.get_by_label("Commentaire (facultatif)").fill("  Rapide  ")
    submit.click()
    expect(box).to_have_text("Merci pour votre avis !")
    assert sent == [{"rating": 4, "comment": "Rapide"}]
    # Styled by the forms' own CSS: a card, not bare elements.
    assert box.evaluate("el => getComputedStyle(el).borderRadius") == "14px"
    # A second csat frame shows no second box.
    server.socket.send(json.dumps({"type": "csat"}))
    page.wait_for_timeout(200)
    expect(page.locator("#smartsupport-widget .csat")).to_have_count(1)
