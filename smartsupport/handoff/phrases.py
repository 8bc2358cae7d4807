"""The built-in words of the escalation rules, in English, Spanish, French, German and
Portuguese: asking for a person, and topics a bot should not handle alone.

Matching runs on ``fold(text)``: NFKC, case-folded, accents removed, punctuation as spaces,
so "¿Puedo hablar con una PERSONA?" and "puedo hablar con una persona" are the same.
"""

from __future__ import annotations

import re
import unicodedata

# Whole-message requests ("agent", "human please") and phrases inside longer messages.
HUMAN_REQUEST = [
    # English
    r"(talk|speak|chat) (to|with) (a |an |the |some |your )?(real |live )?"
    r"(human|person|agent|representative|rep|operator|someone|somebody|staff|manager|support team)",
    r"(real|live|human) (person|agent|human|support)",
    r"(get|want|need) (me )?(a |an )?(human|person|agent|representative|operator)",
    r"(transfer|connect) me",
    r"customer (service|support) (agent|representative)",
    r"^(human|agent|operator|representative|a human|a person) ?(please|pls|now)?$",
    # Spanish
    r"hablar con (un |una |el |la |algun |alguna )?(persona|agente|humano|asesor|"
    r"asesora|operador|operadora|representante|encargado)",
    r"hablar con alguien",
    r"(quiero|necesito) (un |una )?(agente|humano|persona|asesor|operador)",
    r"(persona|agente) (real|humano|humana)",
    r"atencion (humana|al cliente)",
    # French
    r"parler (a|avec) (un |une |le |la )?(vrai |vraie )?(humain|personne|conseiller|"
    r"conseillere|agent|operateur|operatrice|quelqu un)",
    r"(un|une) (vrai|vraie) (humain|personne)",
    r"(je veux|je voudrais) (un |une )?(humain|conseiller|agent|personne)",
    r"service client",
    # German
    r"mit (einem |einer )(echten |richtigen )?(menschen|mensch|mitarbeiter|"
    r"mitarbeiterin|berater|beraterin|agenten|person) (sprechen|reden)",
    r"mit jemandem (sprechen|reden)",
    r"(echten|richtigen) (menschen|mitarbeiter|person)",
    r"(kundendienst|kundenservice) (sprechen|bitte)",
    r"(ich will|ich mochte|ich moechte) (einen |eine )?(menschen|mitarbeiter|berater)",
    # Portuguese
    r"falar com (um |uma |o |a |algum )?(atendente|pessoa|humano|agente|"
    r"representante|operador)",
    r"falar com alguem",
    r"(pessoa|atendente) (real|humano|humana)",
    r"atendimento humano",
    r"(quero|preciso de) (um |uma )?(atendente|humano|pessoa)",
]

# Topics that need a person (legal threats, fraud, theft), per language.
KEYWORDS = {
    "en": [
        "legal",
        "lawsuit",
        "sue",
        "suing",
        "lawyer",
        "attorney",
        "fraud",
        "scam",
        "stolen",
        "theft",
        "police",
        "chargeback",
        "court",
    ],
    "es": [
        "abogado",
        "abogada",
        "demanda",
        "demandar",
        "fraude",
        "estafa",
        "robado",
        "robada",
        "robo",
        "denuncia",
        "policia",
        "tribunal",
    ],
    "fr": [
        "avocat",
        "avocate",
        "plainte",
        "proces",
        "fraude",
        "arnaque",
        "vole",
        "volee",
        "vol",
        "police",
        "tribunal",
    ],
    "de": [
        "anwalt",
        "anwaltin",
        "klage",
        "verklagen",
        "betrug",
        "gestohlen",
        "diebstahl",
        "polizei",
        "gericht",
    ],
    "pt": [
        "advogado",
        "advogada",
        "processo judicial",
        "processar",
        "fraude",
        "golpe",
        "roubado",
        "roubada",
        "roubo",
        "policia",
        "procon",
    ],
}
# Words that mean something harmless in one language ("legal" is "cool" in Portuguese).
NOT_IN_LANGUAGE = {"pt": {"legal"}, "fr": {"vol"}}


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def compile_human_request(extra: list[str]) -> re.Pattern[str]:
    """One pattern for the built-in phrases and a workspace's extra (literal) phrases."""
    parts = [f"(?:{p})" for p in HUMAN_REQUEST]
    parts += [re.escape(fold(p)) for p in extra if fold(p)]
    return re.compile(r"(?:^|\b)(?:" + "|".join(parts) + r")(?:\b|$)")


def compile_keywords(words: list[str] | None, extra: list[str]) -> dict[str, re.Pattern[str]]:
    """keyword -> pattern on word boundaries; ``words`` replaces the built-in list."""
    chosen = words if words is not None else sorted({w for ws in KEYWORDS.values() for w in ws})
    return {w: re.compile(r"\b" + re.escape(fold(w)) + r"\b") for w in [*chosen, *extra] if fold(w)}
