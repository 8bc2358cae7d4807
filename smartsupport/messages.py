"""What the product itself says to customers, in their language: the message catalog.

Every customer-facing system text (greeting, fallback, handoff, the contact form, the
knowledge base's "I don't know", flow prompts, inbox notices) has a key. The product ships
a translation of every key for every language in ``LANGUAGES`` (``locales/<lang>.yaml``);
a workspace may write its own text for any key, in any languages (``workspaces.py`` collects
them into ``WorkspaceConfig.texts``; docs/languages.md shows the format).

    text(workspace, key, language, **fields)

chooses, for a customer who speaks ``language``:

1. the workspace's own text in that language, if it wrote one;
2. else, when the workspace did not change the text in its default language, our shipped
   translation in that language (it says what the workspace says);
3. else the workspace's text in its **default** language: a workspace that wrote its own
   greeting in English is never "translated" into our different Spanish greeting;
4. with no text in the customer's language, the default language's: ours, or the
   workspace's. Never a third language (English only for a workspace whose default language
   we do not ship and which wrote nothing).

Language codes are normalised to the primary subtag (``es-MX`` -> ``es``, ``zh-Hans`` ->
``zh``, ``pt_BR`` -> ``pt``). ``{placeholders}`` are filled from ``fields``; an unknown one
stays as written rather than failing a turn.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from babel import Locale, UnknownLocaleError

from smartsupport.yaml_text import load_yaml

LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "zh", "ja", "ar")
RIGHT_TO_LEFT = frozenset({"ar"})
FALLBACK_LANGUAGE = "en"  # only for a workspace whose default language we do not ship
LOCALES_DIR = Path(__file__).parent / "locales"
# Placeholders a workspace's own text may use beyond those of the shipped text.
EXTRA_PLACEHOLDERS = {"knowledge.answer": {"section"}}
V = TypeVar("V")
_CODE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


class HasTexts(Protocol):
    """What a lookup needs of a workspace (``workspaces.WorkspaceConfig`` has it)."""

    @property
    def default_locale(self) -> str: ...

    @property
    def texts(self) -> Mapping[str, Mapping[str, str]]: ...

    @property
    def quick_reply_texts(self) -> Mapping[str, list[str]]: ...


def normalise(code: str | None) -> str:
    """The primary language subtag, lower case: ``es-MX`` -> ``es``; ``""`` for nothing."""
    if not code:
        return ""
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


def is_language_code(code: str) -> bool:
    """Does ``code`` look like a BCP 47 language tag (``es``, ``pt-BR``, ``zh-Hans``)?"""
    return bool(_CODE.match(code))


@lru_cache(maxsize=len(LANGUAGES))
def catalog(language: str) -> dict[str, str]:
    """The shipped texts of one language (``{}`` for a language we do not ship)."""
    if language not in LANGUAGES:
        return {}
    path = LOCALES_DIR / f"{language}.yaml"
    data = load_yaml(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


def keys() -> frozenset[str]:
    """Every key of the catalog (the English file is the reference)."""
    return frozenset(catalog(FALLBACK_LANGUAGE))


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a text uses."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def shipped(key: str, language: str) -> str:
    """Our own text for ``key`` in ``language`` (English for a language we do not ship)."""
    found = catalog(normalise(language)).get(key)
    if found is None:
        found = catalog(FALLBACK_LANGUAGE)[key]  # KeyError: not a key of the catalog
    return found


def resolve(workspace: HasTexts | None, key: str, language: str | None) -> tuple[str, str]:
    """``(language, text)``: the unfilled text ``text`` says, and the language it is in."""
    if key not in keys():
        raise KeyError(f"{key!r} is not a key of the message catalog")
    wanted = normalise(language)
    default = normalise(workspace.default_locale) if workspace is not None else ""
    default = default or FALLBACK_LANGUAGE
    wanted = wanted or default
    own = workspace.texts.get(key, {}) if workspace is not None else {}
    if wanted in own:
        return wanted, own[wanted]
    ours = catalog(default).get(key)
    changed = default in own and own[default] != ours
    if not changed and key in catalog(wanted):
        return wanted, catalog(wanted)[key]
    if default in own:
        return default, own[default]
    if ours is not None:
        return default, ours
    return FALLBACK_LANGUAGE, shipped(key, FALLBACK_LANGUAGE)


def text(workspace: HasTexts | None, key: str, language: str | None, /, **fields: Any) -> str:
    """The text for ``key`` a customer who speaks ``language`` reads (see the module's rule),
    with ``{placeholders}`` filled from ``fields`` (``language=`` too: the arguments before
    it are positional only)."""
    _, found = resolve(workspace, key, language)
    return fill(found, fields)


def fill(template: str, fields: Mapping[str, Any]) -> str:
    """``str.format`` that leaves unknown ``{placeholders}`` as written."""
    if "{" not in template:
        return template
    try:
        return string.Formatter().vformat(template, (), _Keep(fields))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template  # a stray brace in a workspace's text: show it as written


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translations(workspace: HasTexts | None, key: str) -> dict[str, str]:
    """``key`` in every language a customer may read it in (to recognise our own buttons
    when a customer presses one)."""
    own = dict(workspace.texts.get(key, {})) if workspace is not None else {}
    found = {lang: text(workspace, key, lang) for lang in LANGUAGES}
    return {**found, **own}


def quick_replies(workspace: HasTexts, language: str | None) -> list[str]:
    """The workspace's greeting quick replies in ``language``, else its default language's.
    (There are no shipped ones: quick replies name the workspace's own topics.)"""
    own = workspace.quick_reply_texts
    wanted, default = normalise(language), normalise(workspace.default_locale)
    return list(own.get(wanted) or own.get(default) or [])


def conversation_language(workspace: HasTexts, metadata: Mapping[str, Any]) -> str:
    """The language to write in when no customer message is at hand (a timer, a form, an
    agent's action): the one last recorded for the conversation (``metadata["language"]``,
    set at a handoff), else the visitor's locale, else the workspace's default language."""
    for candidate in (metadata.get("language"), metadata.get("locale")):
        if isinstance(candidate, str) and normalise(candidate):
            return normalise(candidate)
    return normalise(workspace.default_locale) or FALLBACK_LANGUAGE


def pick(value: V | Mapping[str, V], language: str | None, default: str) -> tuple[str, V]:
    """``(language, value)`` from something a workspace wrote once (in its default language)
    or as a mapping language -> value: the customer's language, else the default's."""
    default = normalise(default) or FALLBACK_LANGUAGE
    if not isinstance(value, Mapping):
        return default, value
    wanted = normalise(language)
    if wanted in value:
        return wanted, value[wanted]
    if default in value:
        return default, value[default]
    first = next(iter(value))  # the loaders require the default language; keep turns alive
    return first, value[first]


def per_language(value: Any, default: str, where: str) -> dict[str, str]:
    """A text as written in a configuration file (a string in the default language, or a
    mapping language -> string) as ``{language: text}``; ValueError names the problem."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{where}: must not be empty")
        return {normalise(default) or FALLBACK_LANGUAGE: value}
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{where}: give a text, or a mapping of language codes to texts")
    found: dict[str, str] = {}
    for code, item in value.items():
        if not isinstance(code, str) or not is_language_code(code):
            raise ValueError(f"{where}: {code!r} is not a language code (en, es, pt-BR, ...)")
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{where}.{code}: must be a non-empty text")
        found[normalise(code)] = item
    return found


def check_text(key: str, texts: Mapping[str, str], where: str) -> list[str]:
    """Problems with a workspace's texts for ``key``: an unknown key, or a placeholder the
    product does not fill (it would reach the customer as ``{oops}``)."""
    if key not in keys():
        known = ", ".join(sorted(keys()))
        return [f"{where}: {key!r} is not a message key; the keys are: {known}"]
    allowed = placeholders(shipped(key, FALLBACK_LANGUAGE)) | EXTRA_PLACEHOLDERS.get(key, set())
    problems = []
    for language, value in texts.items():
        extra = placeholders(value) - allowed
        if extra:
            names = ", ".join("{" + e + "}" for e in sorted(extra))
            fills = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            problems.append(f"{where}.{language}: {names} is not filled in (this text has {fills})")
    return problems


def language_name(code: str, in_language: str) -> str:
    """The name of language ``code`` written in ``in_language`` ("inglés" for ``en`` in
    Spanish), from Babel's CLDR data; the code itself if CLDR does not know it."""
    try:
        names = Locale.parse(normalise(in_language) or FALLBACK_LANGUAGE).languages
    except (UnknownLocaleError, ValueError):
        names = Locale.parse(FALLBACK_LANGUAGE).languages
    return str(names.get(normalise(code), code))


def direction(language: str | None) -> str:
    """``rtl`` for right-to-left languages (Arabic), else ``ltr``."""
    return "rtl" if normalise(language) in RIGHT_TO_LEFT else "ltr"
