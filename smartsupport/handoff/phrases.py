"""The built-in topic words of the handoff rules in the nine languages of the product brief
(en, es, fr, de, it, pt, zh, ja, ar): topics a bot should not handle alone (legal threats,
fraud and unauthorised use, theft, injuries and product safety, regulators). Asking for a
person is ``human_request.py``.

Matching runs on ``fold(text)``: case-folded, accents and Arabic vowel marks removed,
punctuation as spaces, so "¿Puedo hablar con una PERSONA?" and "puedo hablar con una persona"
are the same.

A topic keyword is a whole word, and some words are only a topic in context: "sue" is a verb
after "I'll" or before "you", and a first name in "Hi, I'm Sue"; "abogado" and "avocat" are a
lawyer after "mi"/"mon"/"un", and a surname or a colour ("vert avocat") without. Per word:

- a whole word: hyphenated compounds are other words ("lawyer-style", "procès-verbal");
  Chinese and Japanese have no spaces, so there a word matches inside the text, unless it
  modifies the next word, maybe after a one-character suffix ("律师风", "弁護士風",
  "警察官みたい": lawyer-style, police-like) or ends a known longer word ("广告你们": an
  advertisement); Arabic words may carry the attached "and / the / to"
  and pronoun endings ("والمحامي", "محاميي");
- ``before`` / ``after``: when given, one of them must stand right next to the word
  ("I'll sue", "sue you"), or the word is the whole message (``alone``);
- a product-modifier word right after (or, in Romance languages, before) it is never a topic:
  "court shoes", "estilo abogado".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from smartsupport.nlu.rules import CJK_CHAR, is_cjk
from smartsupport.nlu.rules import fold as fold_letters


def fold(text: str) -> str:
    """Case, accents and punctuation folded; words separated by single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w]+", " ", fold_letters(text))).strip()


def fold_keeping_hyphens(text: str) -> str:
    """``fold``, keeping hyphens inside words ("lawyer-style" stays one word)."""
    text = re.sub(r"[^\w-]+|(?<!\w)-+|-+(?!\w)", " ", fold_letters(text))
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=64)  # each keyword rule of a turn folds the same message
def _folded_keeping_hyphens(text: str) -> str:
    return fold_keeping_hyphens(text)


# -- topics that need a person ------------------------------------------------------------


@dataclass(frozen=True)
class Keyword:
    """One topic word and its forms; see the module docstring for ``before``/``after``."""

    label: str  # what the handoff reason names ("lawyer", "sue", ...)
    forms: tuple[str, ...]
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    alone: bool = False  # with context words: the word on its own is enough too
    not_before: tuple[str, ...] = ()  # a word (or Chinese character) that changes its meaning
    not_after: tuple[str, ...] = ()  # "#" stands for a number ("betrug 50 Euro": amounted to)


def _kw(label: str, forms: str, **context: str | bool) -> Keyword:
    """Compact data: forms and context words as " | "-separated strings."""

    def split(value: str | bool) -> tuple[str, ...]:
        words = (w.strip() for w in str(value).split("|"))
        return tuple(w if w == "#" else fold_keeping_hyphens(w) for w in words if w)

    return Keyword(
        label,
        split(forms),
        before=split(context.get("before", "")),
        after=split(context.get("after", "")),
        alone=bool(context.get("alone", False)),
        not_before=split(context.get("not_before", "")),
        not_after=split(context.get("not_after", "")),
    )


# "I'll sue you" is a threat; "Hi, I'm Sue", "talk to Sue", "can Sue help?" are a name.
_EN_SUE_BEFORE = (
    "will | ll | gonna | going to | want to | wanna | d | would | definitely | literally | gladly"
)
_EN_SUE_AFTER = (
    "you | u | ya | your | yall | y all | you guys | them | northwind | him | her | us | everyone "
    "| everybody | both of you | over this | over it | for damages | the company | this company "
    "| the shop | this shop | the store | this store | the business | the owner"
)
_ES_LAWYER_BEFORE = (
    "mi | mis | un | una | el | la | los | las | nuestro | nuestra | nuestros | nuestras | su "
    "| sus | tu | tus | al | del | con | necesito | llamare | llamar | contratar | contratare "
    "| consultar | consultare | hablare con"
)
_FR_LAWYER_BEFORE = (
    "mon | ma | mes | un | une | notre | nos | votre | vos | son | sa | ses | leur | leurs | l "
    "| les | des | d | au | aux | cet | cette | contacter | consulter | prendre"
)
# "-style" after a word, in Chinese and Japanese (which share "警察": one list for both).
_CJK_STYLE = "风 | 风格 | 款 | 式 | 范 | 装 | 系列 | 風 | スタイル | 系 | っぽい | みたい | 柄"
_ZH_TELL = "广 | 报 | 通 | 忠 | 警 | 劝 | 公 | 预 | 转 | 被"

# Topic labels (what the handoff reason names): lawyer, lawsuit, legal, sue, court, fraud,
# unauthorised, stolen, police, chargeback, regulator, safety.
# Per language; every language's words are checked on every message (short messages are
# often detected as the wrong language), except forms harmless in the detected one.
KEYWORDS: dict[str, list[Keyword]] = {
    "en": [
        _kw("lawyer", "lawyer | lawyers | attorney | attorneys | solicitor | solicitors "
            "| barrister"),
        _kw("lawsuit", "lawsuit | lawsuits | legal action | legal proceedings | small claims "
            "| class action"),
        _kw("legal", "legal"),
        _kw("sue", "sue | sued", before=_EN_SUE_BEFORE, after=_EN_SUE_AFTER),
        _kw("sue", "suing"),
        _kw("court", "court", before="to | in | into | claims | see you in",
            after="case | order | action | claim | date | hearing"),
        _kw("fraud", "fraud | fraudulent | scam | scammed | scammer | scammers | scamming "
            "| phishing | identity theft"),
        _kw("stolen", "stolen | theft"),
        _kw("police", "police | cops", before="the | call | called | calling | to | contact "
            "| contacted | contacting | involve | involving",
            after="report | complaint | case | officer"),
        _kw("chargeback", "chargeback | chargebacks | dispute the charge | dispute the payment"),
        _kw("regulator", "better business bureau | trading standards | ombudsman"),
        _kw("unauthorised", "unauthorized | unauthorised | hacked | compromised "
            "| someone got into my account | someone is using my account | someone used my card "
            "| i did not make these | i did not make this | i didn't make these "
            "| i didn't make this | i never made these | i never placed | did not authorize "
            "| didn't authorize | don't recognize these | don't recognise these "
            "| don't recognize this charge | don't recognise this charge "
            "| someone changed my password | someone else changed my password"),
        _kw("safety", "injured | injury | injuries | fractured | broke my wrist | broke my ankle "
            "| broke my arm | broke my leg | broken bone | hurt myself | got hurt | was hurt "
            "| fell and | fell down | hospital bills | went to the hospital | emergency room "
            "| bleeding | allergic reaction | electric shock | choking | safety hazard "
            "| cut my finger | cut my hand | cut his finger | cut his hand | cut her finger "
            "| cut her hand | burned my"),
    ],
    "es": [
        _kw("lawyer", "abogado | abogada | abogados | abogadas", before=_ES_LAWYER_BEFORE,
            alone=True),
        _kw("sue", "demandar | demandare | demandaremos | demandarlos | demandarlas "
            "| demandarles | demandarte | demandarla | demandarlo | demandamos"),
        _kw("lawsuit", "demanda", before="una | poner | pondre | presentar | presentare "
            "| interponer | interpondre | meter", after="judicial | legal | contra"),
        _kw("lawsuit", "juicio", before="a | un | llevar a | llevarlos a"),
        _kw("court", "tribunal | tribunales | juzgado"),
        _kw("fraud", "fraude | estafa | estafado | estafada | estafaron | timo"),
        _kw("stolen", "robado | robada | robaron | robo | hurto"),
        _kw("police", "policia | denuncia | denunciar | denunciare | denunciarlos"),
        _kw("regulator", "profeco | hoja de reclamaciones | oficina del consumidor"),
        _kw("unauthorised", "no reconocidos | no reconozco | no autorizado | no autorizados "
            "| que no hice | que yo no hice | hackeado | hackeada | hackearon | suplantacion "
            "| usando mi cuenta | usando mi tarjeta | alguien cambio mi contrasena "
            "| me cambiaron la contrasena"),
        _kw("safety", "herido | herida | heridos | lesion | me lesione | lesionado | lesionada "
            "| fractura | me fracture | urgencias | sangre | sangrando | sangro "
            "| reaccion alergica | me corte | se corto | se ha cortado | me cai | quemadura"),
    ],
    "fr": [
        _kw("lawyer", "avocat | avocate | avocats | avocates", before=_FR_LAWYER_BEFORE,
            alone=True),
        _kw("sue", "poursuivre en justice | poursuites judiciaires | porter plainte "
            "| deposer plainte | deposer une plainte | action en justice | en justice "
            "| plainte contre | plainte penale"),
        _kw("court", "proces | tribunal | tribunaux"),
        _kw("fraud", "fraude | arnaque | arnaques | arnaque | escroquerie | escroc | escrocs "
            "| arnaqueur"),
        _kw("stolen", "vole | volee | voles | volees | cambriolage"),
        _kw("police", "police", before="la | a", after="nationale"),
        _kw("police", "gendarmerie"),
        _kw("regulator", "dgccrf | signalconso | association de consommateurs"),
        _kw("unauthorised", "pirate | piratee | piratage | non autorise | non autorises "
            "| que je n'ai pas fait | que je n'ai pas faits | que je n'ai pas passee "
            "| je ne reconnais pas | usurpation | quelqu'un a change mon mot de passe "
            "| quelqu'un utilise mon compte"),
        _kw("safety", "blesse | blessee | blesses | blessure | s'est coupe | s'est coupee "
            "| je me suis coupe | coupe le doigt | coupe la main | urgences | a l'hopital "
            "| fracture | saigne | saignait | sang | reaction allergique | brulure "
            "| je suis tombe | je suis tombee"),
    ],
    "de": [
        _kw("lawyer", "anwalt | anwaltin | anwalte | anwaelte | anwalts | anwaltinnen "
            "| rechtsanwalt | rechtsanwaltin | rechtsanwalte | rechtsanwaelte | fachanwalt "
            "| anwaltskanzlei | anwaltsschreiben"),
        _kw("sue", "klage | verklagen | verklage | verklagt | verklagte | anklage "
            "| anzeige erstatten | strafanzeige | anzeige gegen | rechtliche schritte"),
        _kw("sue", "klagen", before="werde | werden | wir | ich"),
        _kw("court", "gericht", before="vor | vors | zum | ans"),
        _kw("fraud", "betrug", not_after="# | insgesamt | nur | etwa | ca | rund | ungefahr"),
        _kw("fraud", "betruger | betrugerin | betrugerisch | betrugsfall | abzocke"),
        _kw("stolen", "gestohlen | diebstahl | geklaut | bestohlen"),
        _kw("police", "polizei"),
        _kw("regulator", "verbraucherzentrale | verbraucherschutz"),
        _kw("unauthorised", "gehackt | unbefugt | nicht autorisiert | nie getatigt "
            "| nicht getatigt | nicht von mir | fremde abbuchungen | identitatsdiebstahl "
            "| erkenne ich nicht | jemand hat mein passwort geandert | jemand nutzt mein konto"),
        _kw("safety", "verletzt | verletzung | verletzungen | gesturzt | hingefallen "
            "| notaufnahme | bein gebrochen | arm gebrochen | hand gebrochen | knochel gebrochen "
            "| knochenbruch | blutet | blutete | allergische reaktion | verbrennung "
            "| in den finger geschnitten"),
    ],
    "it": [
        _kw("lawyer", "avvocato | avvocata | avvocati | avvocatessa"),
        _kw("lawyer", "legale", before="mio | un | nostro | vostro | al | dal"),
        _kw("lawsuit", "azione legale | vie legali | causa legale | fare causa | faccio causa "
            "| faro causa | farvi causa | querela | querelare | querelero"),
        _kw("court", "tribunale | giudice di pace"),
        _kw("fraud", "frode | truffa | truffato | truffata | truffatori | truffatore"),
        _kw("stolen", "rubato | rubata | rubati | rubate | furto"),
        _kw("police", "polizia | carabinieri | denuncia | denunciare | denuncero "
            "| denunciarvi"),
        _kw("regulator", "codacons | altroconsumo | associazione consumatori"),
        _kw("unauthorised", "hackerato | hackerata | violato | violata | non autorizzato "
            "| non autorizzati | che non ho fatto | non riconosco | furto d'identita "
            "| qualcuno ha cambiato la password | qualcuno ha usato | qualcuno e entrato"),
        _kw("safety", "ferito | ferita | feriti | ferimento | lesione | pronto soccorso "
            "| frattura | fratturato | sanguina | sanguinava "
            "| reazione allergica | irritazione | vesciche | si e tagliato | si e tagliata "
            "| mi sono tagliato | mi sono tagliata | ustione | sono caduto | sono caduta"),
    ],
    "pt": [
        _kw("lawyer", "advogado | advogada | advogados | advogadas"),
        _kw("sue", "processar | processarei | processaremos | processa-los | processo judicial "
            "| acao judicial | na justica | entrar na justica | pequenas causas | juizado"),
        _kw("court", "tribunal"),
        _kw("fraud", "fraude | golpe | golpista | golpistas | estelionato"),
        _kw("stolen", "roubado | roubada | roubo | furto | furtado | furtada"),
        _kw("police", "policia | boletim de ocorrencia | delegacia"),
        _kw("regulator", "procon | reclame aqui"),
        _kw("unauthorised", "hackeado | hackeada | invadido | invadida | clonado | clonada "
            "| que nao fiz | nao reconheco | nao autorizado | nao autorizada "
            "| alguem mudou minha senha | alguem esta usando minha conta"),
        _kw("safety", "machucou | machucado | machucada | me machuquei | ferido | ferida "
            "| ferimento | lesao | fratura | fraturei | pronto-socorro | pronto socorro "
            "| sangrou | sangrando | reacao alergica | cortou a mao | cortou o dedo | me cortei "
            "| queimadura"),
    ],
    "zh": [
        _kw("lawyer", "律师 | 律师函 | 律师事务所", not_after=_CJK_STYLE),
        _kw("sue", "起诉 | 诉讼 | 打官司 | 上法院 | 法院见 | 法院 | 法庭", not_after=_CJK_STYLE),
        _kw("sue", "告你 | 告你们", not_before=_ZH_TELL),
        _kw("fraud", "欺诈 | 诈骗 | 骗子 | 骗钱 | 被骗"),
        _kw("stolen", "被盗 | 被偷 | 偷走 | 盗刷 | 失窃"),
        _kw("police", "报警 | 警察 | 派出所", not_after=_CJK_STYLE),
        _kw("regulator", "消协 | 消费者协会 | 12315 | 市场监管"),
        _kw("unauthorised", "被盗号 | 账号被盗 | 被黑 | 没买过 | 不是我买的 | 不是我下的 "
            "| 未经授权 | 被冒用 | 有人改了我的密码 | 密码被改"),
        _kw("safety", "受伤 | 受了伤 | 骨折 | 急诊 | 摔倒 | 摔伤 | 流血 | 出血 "
            "| 过敏反应 | 过敏了 | 割伤 | 划伤 | 烫伤 | 割破"),
        _kw("chargeback", "拒付"),
    ],
    "ja": [
        _kw("lawyer", "弁護士 | 法律事務所", not_after=_CJK_STYLE),
        _kw("sue", "訴える | 訴えます | 訴えてやる | 訴訟 | 裁判 | 法的措置 | 告訴 | 提訴",
            not_after=_CJK_STYLE),
        _kw("fraud", "詐欺 | 騙された | だまされた"),
        _kw("stolen", "盗まれ | 盗難 | 不正利用"),
        _kw("police", "警察 | 被害届", not_after=_CJK_STYLE),
        _kw("regulator", "消費者センター | 国民生活センター"),
        _kw("unauthorised", "身に覚えのない | 身に覚えがない | 不正アクセス | 乗っ取られ "
            "| パスワードを勝手に"),
        _kw("safety", "怪我 | けが | 骨折 | 救急 | 指を切 | 手を切 | 出血 | 血が "
            "| アレルギー反応 | アレルギーが出 | やけど | 転倒 | 転んで"),
        _kw("chargeback", "チャージバック"),
    ],
    "ar": [
        _kw("lawyer", "محامي | محامية | محامين | محامون | محام"),
        _kw("sue", "مقاضاة | ساقاضي | اقاضي | ساقاضيكم | اقاضيكم | رفع قضية | قضية ضد "
            "| رفع دعوى | دعوى | دعوى قضائية | محكمة"),
        _kw("fraud", "احتيال | نصاب | نصابين | تزوير"),
        _kw("stolen", "سرقة | مسروق | مسروقة | سرقت | سرقوا | سرقوني"),
        _kw("police", "شرطة | بوليس"),
        _kw("regulator", "حماية المستهلك"),
        _kw("unauthorised", "مخترق | اختراق | اخترق | لم أقم به | لم أطلبه | غير مصرح "
            "| غير كلمة المرور"),
        _kw("safety", "جرح | جرحت | مجروح | إصابة | أصيب | الطوارئ | نزيف | ينزف | سقطت"),
    ],
}  # fmt: skip

# Forms harmless in one language: "legal" is "cool" in Portuguese, "golpe" a knock in Spanish.
HARMLESS_IN = {"legal": {"pt"}, "golpe": {"es"}}

# Words that make the next (English, Chinese, Japanese) or previous (Romance) word describe a
# product: "court shoes", "lawyer style", "estilo abogado".
MODIFIES_NEXT = {"style", "styled", "look", "inspired", "themed", "costume", "shoe", "shoes",
                 "heel", "heels", "pump", "pumps", "blazer", "suit", "jacket"}  # fmt: skip
MODIFIES_PREVIOUS = {"estilo", "style", "facon", "stile", "tipo", "couleur", "vert",
                     "verde", "colore", "cor", "color"}  # fmt: skip

_ARABIC = re.compile(r"[\u0600-\u06ff]")
_WORD = re.compile(r"\w+")
# Attached conjunctions, prepositions and the article before an Arabic word; pronoun and
# plural endings after it.
_AR_BEFORE = r"(?:[وفبلك]?(?:ال|لل)?)"
_AR_AFTER = r"(?:ي|ه|ها|هم|كم|كن|نا|ك|ين|ون|ات|ة|تي|يي|يكم|يه|يها|يهم)?"


def _boundaries(body: str, word: str) -> str:
    """``body`` (a regex for ``word``) as a whole word: hyphenated compounds are other
    words; no boundary on a Chinese or Japanese side; Arabic with its attached letters."""
    if _ARABIC.match(word[0]):
        return rf"(?<![\w-]){_AR_BEFORE}(?:{body}){_AR_AFTER}(?![\w-])"
    left = "" if is_cjk(word[0]) else r"(?<![\w-])"
    right = "" if is_cjk(word[-1]) else r"(?![\w-])"
    return f"{left}(?:{body}){right}"


@dataclass(frozen=True)
class CompiledKeywords:
    """A keyword rule's words, ready to search: a few patterns (one per kind of word
    boundary, so a long message is scanned a few times, not once per word) whose group 1 is
    the word form, and the keywords each form belongs to."""

    patterns: tuple[re.Pattern[str], ...]
    forms: dict[str, tuple[Keyword, ...]]
    # Per pattern, what a message must hold for it to match: the first words of its forms
    # (those written between word boundaries in Latin letters), or a character of its
    # script (Arabic; Chinese and Japanese). Most messages hold neither, and are not scanned.
    needs: tuple[frozenset[str] | re.Pattern[str], ...]


def _compile(keywords: list[Keyword]) -> CompiledKeywords:
    forms: dict[str, tuple[Keyword, ...]] = {}
    for keyword in keywords:
        for form in {fold_keeping_hyphens(f) for f in keyword.forms} - {""}:
            forms[form] = (*forms.get(form, ()), keyword)
    groups: dict[tuple[bool, bool, bool], list[str]] = {}
    for form in forms:
        kind = (bool(_ARABIC.match(form[0])), is_cjk(form[0]), is_cjk(form[-1]))
        groups.setdefault(kind, []).append(form)
    patterns = []
    needs: list[frozenset[str] | re.Pattern[str]] = []
    for (arabic, cjk_start, cjk_end), members in groups.items():
        body = "|".join(re.escape(f) for f in sorted(members, key=len, reverse=True))
        if arabic:
            patterns.append(rf"(?<![\w-]){_AR_BEFORE}({body}){_AR_AFTER}(?![\w-])")
            needs.append(_ARABIC)
        else:
            left = "" if cjk_start else r"(?<![\w-])"
            right = "" if cjk_end else r"(?![\w-])"
            patterns.append(f"{left}({body}){right}")
            # Between boundaries on both sides, a form's first word is a whole word of the
            # message wherever the form matches; with a Chinese or Japanese end it may not be.
            latin = not cjk_start and not cjk_end
            needs.append(frozenset(_WORD.findall(f)[0] for f in members) if latin else CJK_CHAR)
    return CompiledKeywords(tuple(re.compile(p) for p in patterns), forms, tuple(needs))


def compile_keywords(words: list[str] | None, extra: list[str]) -> CompiledKeywords:
    """The keyword rule's words: the built-in vocabulary of every language, or ``words``
    instead when the workspace gives them, plus its ``extra`` words (whole words)."""
    if words is None:
        chosen = [k for ks in KEYWORDS.values() for k in ks]
    else:
        chosen = [Keyword(fold(w), (w,)) for w in words if fold(w)]
    chosen += [Keyword(fold(w), (w,)) for w in extra if fold(w)]
    return _compile(chosen)


def find_keywords(compiled: CompiledKeywords, text: str, language: str | None) -> list[str]:
    """The labels of the topic words ``text`` uses as topics (sorted, each once)."""
    folded = _folded_keeping_hyphens(text)
    found = set()
    words: set[str] | None = None
    for pattern, needs in zip(compiled.patterns, compiled.needs, strict=True):
        if isinstance(needs, frozenset):
            if words is None:
                words = set(_WORD.findall(folded))
            if needs.isdisjoint(words):
                continue
        elif needs.search(folded) is None:
            continue
        for match in pattern.finditer(folded):
            form = match.group(1)
            if language and language in HARMLESS_IN.get(form, ()):
                continue
            for keyword in compiled.forms[form]:
                if keyword.label not in found and _is_topic(
                    keyword, folded, match.start(), match.end()
                ):
                    found.add(keyword.label)
    return sorted(found)


def _is_topic(keyword: Keyword, text: str, start: int, end: int) -> bool:
    before, after = text[:start].rstrip(), text[end:].lstrip()
    # In Chinese and Japanese a one-character suffix may come first: "警察官みたい".
    nexts = [after, after[1:]] if is_cjk(text[end - 1]) and is_cjk(after[:1] or "a") else [after]
    if any(_starts_with(a, w) for a in nexts for w in keyword.not_after):
        return False
    if any(_ends_with(before, w) for w in keyword.not_before):
        return False
    if _last_word(before) in MODIFIES_PREVIOUS or _first_word(after) in MODIFIES_NEXT:
        return False
    if not keyword.before and not keyword.after:
        return True
    if keyword.alone and not before and not after:
        return True
    return any(_ends_with(before, w) for w in keyword.before) or any(
        _starts_with(after, w) for w in keyword.after
    )


def _starts_with(text: str, word: str) -> bool:
    if word == "#":
        return text[:1].isdigit()
    if not text.startswith(word):
        return False
    rest = text[len(word) :]
    return is_cjk(word[-1]) or not rest or not (rest[0].isalnum() or rest[0] in "-_")


def _ends_with(text: str, word: str) -> bool:
    if not text.endswith(word):
        return False
    rest = text[: len(text) - len(word)]
    return is_cjk(word[0]) or not rest or not (rest[-1].isalnum() or rest[-1] in "-_")


def _first_word(text: str) -> str:
    return text.split(" ", 1)[0] if text else ""


def _last_word(text: str) -> str:
    return text.rsplit(" ", 1)[-1] if text else ""
