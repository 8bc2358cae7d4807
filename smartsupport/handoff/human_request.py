"""Asking for a person, in the nine languages of the product brief (en, es, fr, de, it, pt,
zh, ja, ar): the built-in phrases of the ``human_request`` handoff rule, matched on
``phrases.fold(text)``."""

from __future__ import annotations

import re

from smartsupport.handoff.phrases import fold
from smartsupport.nlu.rules import fold as fold_letters
from smartsupport.nlu.rules import has_cjk, is_cjk

# Requests as regular expressions over folded text: whole-message requests ("agent", "human
# please") and phrases inside longer messages. Written without accents or Arabic hamzas (the
# text is folded the same way).
HUMAN_REQUEST = {
    "en": [
        r"(talk|speak|chat) (to|with) (a |an |the |some |your )?(real |live )?"
        r"(human|person|agent|representative|rep|operator|someone|somebody|staff|manager|"
        r"support team)",
        r"(real|live|human) (person|agent|human|support)",
        r"(get|want|need) (me )?(a |an )?(human|person|agent|representative|operator)",
        r"(transfer|connect) me",
        r"customer (service|support) (agent|representative)",
        r"^(human|agent|operator|representative|a human|a person) ?(please|pls|now)?$",
        r"(actual|real) (human|person)( being)?", r"(a|an) human being",
    ],
    "es": [
        r"hablar con (un |una |el |la |algun |alguna )?(persona|agente|humano|asesor|"
        r"asesora|operador|operadora|representante|encargado)",
        r"hablar con alguien",
        r"(quiero|necesito) (un |una )?(agente|humano|persona|asesor|operador)",
        r"(persona|agente) (real|humano|humana)",
        r"atencion (humana|al cliente)",
        r"de carne y hueso", r"(persona|alguien) (de verdad|real)",
        r"(atienda|atiende|pasame con|pasarme con) (alguien|una persona|un agente|un asesor)",
    ],
    "fr": [
        r"parler (a|avec) (un |une |le |la )?(vrai |vraie )?(humain|personne|conseiller|"
        r"conseillere|agent|operateur|operatrice|quelqu un)",
        r"(un|une) (vrai|vraie) (humain|personne)",
        r"(je veux|je voudrais) (un |une )?(humain|conseiller|agent|personne)",
        r"service client",
        r"quelqu un de chez vous", r"(une vraie personne|un etre humain)",
        r"(me passer|passez moi|passe moi) (un |une )?(conseiller|conseillere|agent|humain)",
    ],
    "de": [
        r"mit (einem |einer )(echten |richtigen )?(menschen|mensch|mitarbeiter|"
        r"mitarbeiterin|berater|beraterin|agenten|person) (sprechen|reden)",
        r"mit jemandem (sprechen|reden)",
        r"(echten|richtigen) (menschen|mitarbeiter|person)",
        r"(kundendienst|kundenservice) (sprechen|bitte)",
        r"(ich will|ich mochte|ich moechte) (einen |eine )?(menschen|mitarbeiter|berater)",
        r"(kollegen|kollegin|mitarbeiter|mitarbeiterin|menschen|kundenservice|kundendienst)"
        r"( \w+){0,4} (weiterleiten|verbinden|durchstellen)",
        r"(verbinden|leiten) sie mich (bitte )?(mit|an|weiter)", r"(echten|echter) mensch",
    ],
    "it": [
        r"(parlare|parlo|parlerei|chattare) con (un |una |l |il |la |lo |qualche )?(vero |vera )?"
        r"(operatore|operatrice|persona|umano|essere umano|addetto|addetta|consulente|"
        r"qualcuno|responsabile)",
        r"(operatore|persona|assistenza) (reale|vera|umano|umana)",
        r"(voglio|vorrei) (un |una )?(operatore|operatrice|persona|umano|addetto|consulente)",
        r"(servizio|assistenza) clienti",
        r"^(operatore|un operatore) ?(per favore|grazie)?$",
        r"in carne e ossa", r"(persona|operatore) (vera|vero|reale)",
        r"(passami|passatemi|mi passi) (un |una )?(operatore|operatrice|persona|addetto)",
    ],
    "pt": [
        r"falar com (um |uma |o |a |algum )?(atendente|pessoa|humano|agente|"
        r"representante|operador)",
        r"falar com alguem",
        r"(pessoa|atendente) (real|humano|humana)",
        r"atendimento humano",
        r"(quero|preciso de) (um |uma )?(atendente|humano|pessoa)",
        r"(alguem|pessoa|atendente|humano) de verdade", r"ser humano",
        r"nao quero falar com (um )?robo",
    ],
    "zh": [
        r"人工客服", r"转人工", r"人工服务", r"(找|要|接|联系)人工", r"^人工$",
        r"真人", r"(找|联系|接通|转接?)客服", r"客服人员", r"(和|跟|与)(人|客服)(说话|聊|谈|沟通)",
    ],
    "ja": [
        r"オペレーター(と|に|を|で)?(話|つな|繋|代わ|かわ|お願い|呼)", r"^オペレーター$",
        r"(人|人間|担当者|担当の方|スタッフ|係の人)(と|に)(話|代わ|かわ|つな|繋)",
        r"有人(対応|チャット)",
    ],
    "ar": [
        r"(التحدث|التكلم|الكلام|اتكلم|اتحدث|اكلم|احكي) (مع )?(موظف|شخص|انسان|بشري|احد|"
        r"ممثل|مندوب|حد)",
        r"(موظف|ممثل) خدمة العملاء",
        r"(شخص|انسان) حقيقي",
        r"^(موظف|خدمة العملاء|ممثل خدمة العملاء)( من فضلك| لو سمحت)?$",
    ],
}  # fmt: skip


class HumanRequest:
    """The built-in phrases and a workspace's extra (literal) phrases, matched on folded text
    (``phrases.fold``: it starts and ends with a letter or digit). Latin and Arabic phrases
    stand between word boundaries; Chinese and Japanese ones anywhere (they write no spaces),
    looked for only in a message that holds such a character: at every position of every
    message, their alternatives were a third of this check's time."""

    def __init__(self, bounded: list[str], anywhere: list[str]) -> None:
        # One leading boundary for all alternatives, not one per alternative: the engine
        # then tries them only where a word starts (folded text has a word at position 0,
        # so this also covers "^").
        self.bounded = re.compile(r"\b(?:" + "|".join(bounded) + r")(?:\b|$)")
        self.anywhere = re.compile("|".join(anywhere)) if anywhere else None

    def search(self, folded: str) -> bool:
        """Whether the folded message asks for a person."""
        if self.bounded.search(folded) is not None:
            return True
        return (
            self.anywhere is not None
            and has_cjk(folded)
            and self.anywhere.search(folded) is not None
        )


def compile_human_request(extra: list[str]) -> HumanRequest:
    """The built-in phrases and a workspace's extra phrases (``HumanRequest``)."""
    bounded: list[str] = []
    anywhere: list[str] = []
    for language, patterns in HUMAN_REQUEST.items():
        group = anywhere if language in ("zh", "ja") else bounded
        group += [f"(?:{fold_letters(p)})" for p in patterns]
    for phrase in extra:
        folded = fold(phrase)
        if folded:
            group = anywhere if is_cjk(folded[0]) or is_cjk(folded[-1]) else bounded
            group.append(re.escape(folded))
    return HumanRequest(bounded, anywhere)
