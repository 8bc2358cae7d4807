"""The message catalog (smartsupport/messages.py): every shipped language has every key, and
a lookup answers in the customer's language, else the workspace's default language, never a
third; a workspace's own text wins over ours, and is never swapped for a translation of ours
that says something else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smartsupport import messages
from smartsupport.errors import ConfigurationError
from smartsupport.handoff.config import for_workspace
from smartsupport.workspaces import DEMO_DIR, WorkspaceConfig, load_workspace_dir

KEYS = messages.keys()


def workspace(**fields) -> WorkspaceConfig:
    return WorkspaceConfig(id="acme", name="Acme", **fields)


# -- the shipped catalog --------------------------------------------------------------


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_every_shipped_language_has_every_key_with_the_same_placeholders(language):
    found = messages.catalog(language)
    assert set(found) == KEYS, f"{language}.yaml: keys differ from en.yaml"
    for key in KEYS:
        text = found[key]
        assert text.strip(), f"{language}.yaml {key} is empty"
        expected = messages.placeholders(messages.catalog("en")[key])
        assert messages.placeholders(text) == expected, f"{language}.yaml {key}"


def test_the_catalog_files_are_the_nine_languages_and_nothing_else():
    files = sorted(p.stem for p in messages.LOCALES_DIR.glob("*.yaml"))
    assert files == sorted(messages.LANGUAGES)
    assert len(messages.LANGUAGES) == 9


def test_non_english_texts_are_translated_not_copied():
    english = messages.catalog("en")
    for language in messages.LANGUAGES[1:]:
        same = [k for k, v in messages.catalog(language).items() if v == english[k]]
        # "No" is "No" in Spanish and Italian; nothing else may be left in English.
        assert set(same) <= {"flow.no", "feedback.no"}, f"{language}: {same} still in English"


# -- choosing the language -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "language"),
    [("es-MX", "es"), ("zh-Hans", "zh"), ("zh-CN", "zh"), ("pt-BR", "pt"), ("pt_BR", "pt"),
     ("AR", "ar"), ("ja-JP", "ja"), ("", ""), (None, "")],
)  # fmt: skip
def test_language_codes_are_normalised_to_the_primary_subtag(code, language):
    assert messages.normalise(code) == language


def test_a_workspace_that_wrote_nothing_speaks_every_shipped_language():
    acme = workspace()
    for language in messages.LANGUAGES:
        assert messages.text(acme, "fallback", language) == messages.catalog(language)["fallback"]
    assert messages.text(acme, "greeting", "es-MX") == messages.catalog("es")["greeting"]
    assert messages.text(acme, "greeting", "zh-Hans") == messages.catalog("zh")["greeting"]


def test_a_language_we_do_not_ship_gets_the_workspace_default_never_a_third():
    spanish = workspace(default_locale="es")
    queued = messages.catalog("es")["handoff.queued"]
    assert messages.text(spanish, "handoff.queued", "ru") == queued
    assert messages.text(spanish, "handoff.queued", None) == queued
    assert messages.resolve(spanish, "handoff.queued", "nl") == ("es", queued)


def test_the_workspaces_own_text_in_the_customers_language_wins():
    acme = workspace(greeting={"en": "Welcome to Acme!", "es": "¡Bienvenido a Acme!"})
    assert messages.text(acme, "greeting", "es") == "¡Bienvenido a Acme!"
    assert messages.text(acme, "greeting", "en-GB") == "Welcome to Acme!"
    assert acme.greeting == "Welcome to Acme!"  # the default language's, for code showing one


def test_an_authored_text_is_never_replaced_by_our_different_translation():
    """The workspace wrote its own greeting in English only: a French customer reads that
    English greeting, not our generic French greeting that says something else."""
    acme = workspace(greeting="Welcome to Acme! Ask about your Acme order.")
    assert messages.text(acme, "greeting", "fr") == "Welcome to Acme! Ask about your Acme order."
    # ... while texts it did not write are ours, in French.
    assert messages.text(acme, "fallback", "fr") == messages.catalog("fr")["fallback"]


def test_writing_our_own_default_text_verbatim_keeps_our_translations():
    acme = workspace(fallback=messages.catalog("en")["fallback"])
    assert messages.text(acme, "fallback", "de") == messages.catalog("de")["fallback"]


def test_a_workspace_may_add_a_language_we_do_not_ship():
    acme = workspace(messages={"handoff.queued": {"en": "In the queue.", "nl": "In de wachtrij."}})
    assert messages.text(acme, "handoff.queued", "nl-BE") == "In de wachtrij."
    assert messages.text(acme, "handoff.queued", "ja") == "In the queue."  # wrote its own en


def test_a_workspace_whose_default_we_do_not_ship_falls_back_to_english_only_for_unwritten():
    dutch = workspace(default_locale="nl", greeting="Hallo! Waarmee kan ik helpen?")
    assert messages.text(dutch, "greeting", "es") == "Hallo! Waarmee kan ik helpen?"
    assert messages.text(dutch, "flow.yes", "es") == "Sí"  # not written: ours in Spanish
    assert messages.text(dutch, "flow.yes", "nl") == "Yes"  # nothing in Dutch anywhere


def test_placeholders_are_filled_and_unknown_ones_stay_as_written():
    text = messages.text(None, "handoff.ticket_created", "de", reference="AB12", email="a@b.de")
    assert "AB12" in text and "a@b.de" in text and "{" not in text
    assert messages.fill("Hi {name}, ref {reference}", {"reference": "R1"}) == "Hi {name}, ref R1"
    assert messages.fill("a stray { brace", {"x": 1}) == "a stray { brace"


def test_unknown_keys_are_an_error_not_a_silent_english_text():
    with pytest.raises(KeyError):
        messages.text(None, "greting", "en")


def test_the_customers_language_without_a_message_at_hand():
    acme = workspace(default_locale="fr")
    assert messages.conversation_language(acme, {"language": "ja", "locale": "es"}) == "ja"
    assert messages.conversation_language(acme, {"locale": "pt-BR"}) == "pt"
    assert messages.conversation_language(acme, {}) == "fr"


def test_language_names_come_from_cldr_in_the_customers_language():
    assert messages.language_name("en", "es") == "inglés"
    assert messages.language_name("de", "ja") == "ドイツ語"
    assert messages.language_name("en", "zz") == "English"
    other = messages.text(None, "knowledge.other_language", "fr", language="anglais")
    assert other == "Cette réponse n'est disponible qu'en anglais :"
    assert messages.direction("ar") == "rtl" and messages.direction("es-MX") == "ltr"


# -- where a workspace writes its texts --------------------------------------------------


def test_every_place_a_workspace_writes_a_text_is_read():
    acme = workspace(
        default_locale="es",
        handoff_message={"es": "Un momento.", "en": "One moment."},
        messages={"handoff.queued": "Ya estás en la cola."},
        escalation={"messages": {"offer_button": {"es": "Persona", "fr": "Humain"}}},
        templates={"no_answer": "No lo sé.", "kb_answer.fr": "{answer} ({section})"},
    )
    assert messages.text(acme, "handoff.message", "en") == "One moment."
    assert messages.text(acme, "handoff.queued", "es") == "Ya estás en la cola."
    assert messages.text(acme, "handoff.offer_button", "fr") == "Humain"
    assert messages.text(acme, "knowledge.no_answer", "es") == "No lo sé."
    answer = messages.text(acme, "knowledge.answer", "fr", answer="Oui.", section="Retours")
    assert answer == "Oui. (Retours)"
    assert acme.handoff_message == "Un momento."
    for_workspace(acme)  # the escalation section still validates with per-language texts


def test_quick_replies_per_language_fall_back_to_the_default_languages():
    acme = workspace(quick_replies={"en": ["Track my order"], "es": ["Seguir mi pedido"]})
    assert acme.quick_replies == ["Track my order"]
    assert messages.quick_replies(acme, "es-AR") == ["Seguir mi pedido"]
    assert messages.quick_replies(acme, "ja") == ["Track my order"]
    assert messages.quick_replies(workspace(quick_replies=["Hi"]), "de") == ["Hi"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"messages": {"greting": "Hi"}}, "'greting' is not a message key"),
        ({"messages": {"handoff.ticket_created": "Ref {ref}"}}, "{ref} is not filled in"),
        ({"greeting": "Hi", "messages": {"greeting": "Hello"}}, "also written as greeting"),
        ({"greeting": {"english": "Hi"}}, "'english' is not a language code"),
        ({"greeting": {"es": ""}}, "greeting.es: must be a non-empty text"),
        ({"texts": {}}, "'texts' is not a setting"),
    ],
)
def test_a_wrong_text_stops_loading_with_the_field_named(tmp_path, fields, problem):
    (tmp_path / "workspace.yaml").write_text(
        yaml.safe_dump({"id": "acme", "name": "Acme", **fields}), encoding="utf-8"
    )
    with pytest.raises(ConfigurationError) as error:
        load_workspace_dir(tmp_path)
    assert problem in str(error.value) and "workspace.yaml" in str(error.value)


def test_a_workspace_directory_overrides_with_its_files(tmp_path: Path):
    (tmp_path / "workspace.yaml").write_text(
        "id: acme\nname: Acme\ndefault_locale: de\n"
        "greeting:\n  de: Willkommen bei Acme!\n  ar: أهلًا بك في Acme!\n"
        "messages:\n  fallback: {de: 'Wie bitte?'}\n",
        encoding="utf-8",
    )
    (tmp_path / "escalation.yaml").write_text(
        "messages:\n  offline: {de: 'Niemand da.', es: 'No hay nadie.'}\n", encoding="utf-8"
    )
    acme = load_workspace_dir(tmp_path)
    assert messages.text(acme, "greeting", "ar") == "أهلًا بك في Acme!"
    assert messages.text(acme, "greeting", "es") == "Willkommen bei Acme!"  # default, not ours
    assert messages.text(acme, "fallback", "ja") == "Wie bitte?"
    assert messages.text(acme, "handoff.offline", "es") == "No hay nadie."
    assert messages.text(acme, "handoff.offline", "fr") == "Niemand da."
    assert messages.text(acme, "handoff.offer", "fr") == messages.catalog("fr")["handoff.offer"]


def test_the_demo_greets_and_offers_its_topics_in_all_nine_languages():
    demo = load_workspace_dir(DEMO_DIR)
    greetings = {messages.text(demo, "greeting", lang) for lang in messages.LANGUAGES}
    assert len(greetings) == 9 and all("Northwind" in g for g in greetings)
    for language in messages.LANGUAGES:
        replies = messages.quick_replies(demo, language)
        assert len(replies) == 4
        # The last one is the catalog's own "talk to a person" button in that language.
        assert replies[-1] == messages.text(demo, "handoff.offer_button", language)
