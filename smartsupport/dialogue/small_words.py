"""The small words of a dialogue in the nine languages of the product brief (en, es, fr, de,
it, pt, zh, ja, ar): yes, no, never mind, "the second one", "the other one", "neither".

Each language's words are data (``WORDS``); a message is read as a short sequence of them, not
looked up whole in a list, so negation and company are understood:

    "claro que sí" / "of course"           yes
    "of course not" / "claro que no" / "不好"  no     a negator next to a yes makes a no
    "not sure" / "no sé" / "わからない"      unsure  (neither: the question is asked again)
    "yes but not now" / "no, yes"          unsure  clauses that disagree
    "yes, I don't need a receipt"          yes     a later clause that does not start with an
                                                   answer is the customer's own business
    "no, I'll keep it" / "nein danke, behalten"  no
    "non merci" / "لا شكرا" / "no thanks"   no, and a polite refusal that ends a flow

An answer must lead its clause ("yes, ..."), or the clause must be short ("I'll keep it");
"is that right?" is a question, not a yes. Chinese and Japanese words match inside the text
(no spaces there); a one-character answer word ("是", "好") counts only when the clause has
nothing else, so "是我的订单" ("it's my order") is not a yes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from smartsupport.nlu.rules import fold, is_cjk, words_pattern

YES, NO, NEG, UNSURE, POLITE, THANKS, NEVER_MIND = (
    "yes", "no", "neg", "unsure", "polite", "thanks", "never_mind",
)  # fmt: skip
QUESTION, HOLD, OTHER_ONE, NEITHER, FIRST, SECOND, THIRD, LAST = (
    "question", "hold", "other_one", "neither", "first", "second", "third", "last",
)  # fmt: skip
ORDINALS = {FIRST: 0, SECOND: 1, THIRD: 2, LAST: -1}
ANSWERS = {YES, NO, NEG, UNSURE}
REFERENCES = {OTHER_ONE, NEITHER, *ORDINALS}
OTHER = "other"  # a word that is none of the above

# kind -> words, per language. Written as customers type them; matched folded (case, accents
# and Arabic hamzas do not matter).
WORDS: dict[str, dict[str, str]] = {
    "en": {
        YES: "yes | y | yeah | yea | yep | yup | ya | sure | sure thing | ok | okay | k | kk "
             "| alright | all right | correct | confirm | confirmed | right | that's right "
             "| that is right | exactly | absolutely | definitely | certainly | of course "
             "| please do | do it | go ahead | go for it | sounds good | fine | i do | i agree "
             "| i confirm | i think so | think so | yes please | no problem | no worries "
             "| why not | no doubt | affirmative | 👍 | ✅",
        NO: "no | n | nope | nah | nay | negative | never | not really | not now | no way "
            "| no need | not at all | keep it | i'll keep it | i will keep it | leave it "
            "| leave it as it is | i'd rather not | rather not | i changed my mind | 👎 | ❌",
        NEG: "not | don't | dont | do not | didn't | won't | wouldn't | isn't | no longer",
        UNSURE: "not sure | i'm not sure | im not sure | maybe | perhaps | i don't know "
                "| dont know | don't know | no idea | not yet sure | hmm maybe",
        POLITE: "please | pls | plz | then | that | oh | well | um | uh | ah | hmm | erm "
                "| mate | sorry | haha | lol | just",
        THANKS: "thanks | thank you | thx | ty | cheers | many thanks",
        NEVER_MIND: "never mind | nevermind | forget it | forget about it | stop | quit "
                    "| exit | abort | don't bother | nothing",
        QUESTION: "what | why | how | which | when | where | who",
        HOLD: "wait | one second | a second | just a second | one moment | a moment | hold on",
        OTHER_ONE: "the other one | the other | other one | another one | the other order",
        NEITHER: "neither | neither one | neither of them | none | none of them "
                 "| none of these | none of those",
        FIRST: "first | the first | first one | the first one | 1st | number one | number 1 "
               "| option 1 | #1 | the top one",
        SECOND: "second | the second | second one | the second one | 2nd | number two "
                "| number 2 | option 2 | #2",
        THIRD: "third | the third | third one | the third one | 3rd | number three "
               "| number 3 | option 3 | #3",
        LAST: "the last | last one | the last one | the bottom one",
    },
    "es": {
        YES: "sí | si | claro | por supuesto | vale | de acuerdo | correcto | exacto | dale "
             "| sí por favor | seguro | perfecto | adelante | hazlo | confirmo | sin problema "
             "| por qué no | sin duda | ok | okey | eso es",
        NO: "no | nop | nada | para nada | de ninguna manera | mejor no | me lo quedo "
            "| prefiero no | nunca | jamás | ni hablar",
        NEG: "no | nunca",
        UNSURE: "no sé | no se | quizás | quizá | tal vez | no estoy seguro "
                "| no estoy segura | ni idea",
        POLITE: "por favor | que | pues | bueno | oye | mmm | ah | entonces | perdón",
        THANKS: "gracias | muchas gracias",
        NEVER_MIND: "olvídalo | olvídelo | déjalo | déjelo | no importa | da igual | basta",
        HOLD: "espera | un momento | un segundo",
        OTHER_ONE: "el otro | la otra | otro | otra | el otro pedido",
        NEITHER: "ninguno | ninguna | ninguno de los dos | ninguna de las dos "
                 "| ni uno ni otro | ninguno de ellos",
        FIRST: "el primero | la primera | primero | primera",
        SECOND: "el segundo | la segunda | segundo | segunda",
        THIRD: "el tercero | la tercera | tercero | tercera",
        LAST: "el último | la última | último | última",
    },
    "fr": {
        YES: "oui | ouais | ouaip | si | d'accord | d accord | ok | okay | bien sûr | exact "
             "| exactement | absolument | volontiers | allez-y | allez y | vas-y | vas y "
             "| je confirme | parfait | c'est ça | c est ca | tout à fait | pas de problème "
             "| pas de souci | pourquoi pas | sans problème | bien entendu | carrément",
        NO: "non | nan | pas du tout | surtout pas | jamais | non plus | je le garde "
            "| je la garde | je préfère pas | je préfère ne pas | plutôt pas",
        NEG: "pas | ne | n' | jamais",
        UNSURE: "je ne sais pas | je sais pas | peut-être | peut être | pas sûr | pas sûre "
                "| aucune idée | chais pas",
        POLITE: "s'il vous plaît | s il vous plait | s'il te plaît | s il te plait | svp | stp "
                "| que | alors | bon | ben | euh | ah | oh | bah",
        THANKS: "merci | merci beaucoup",
        NEVER_MIND: "laisse tomber | laissez tomber | oublie | oubliez | oubliez ça "
                    "| peu importe | tant pis | stop | arrête | arrêtez",
        HOLD: "attendez | attends | un instant | une seconde | un moment",
        OTHER_ONE: "l'autre | l autre | autre | l'autre commande",
        NEITHER: "aucun | aucune | aucun des deux | aucune des deux | ni l'un ni l'autre "
                 "| ni l un ni l autre",
        FIRST: "le premier | la première | premier | première",
        SECOND: "le deuxième | la deuxième | deuxième | le second | la seconde",
        THIRD: "le troisième | la troisième | troisième",
        LAST: "le dernier | la dernière | dernier | dernière",
    },
    "de": {
        YES: "ja | jawohl | jap | jep | klar | na klar | natürlich | genau | gerne | gern "
             "| ok | okay | einverstanden | richtig | stimmt | sicher | bestätige "
             "| in ordnung | mach das | machen sie das | los | passt | kein problem "
             "| warum nicht | ohne zweifel | selbstverständlich | auf jeden fall",
        NO: "nein | nee | ne | nö | nicht | auf keinen fall | lieber nicht | behalten "
            "| behalte | ich behalte es | niemals | keinesfalls",
        NEG: "nicht | kein | keine | nie",
        UNSURE: "weiß nicht | weiss nicht | ich weiß nicht | ich weiss nicht | vielleicht "
                "| nicht sicher | keine ahnung | mal sehen",
        POLITE: "bitte | also | na | naja | ach | äh | ähm | doch | dann",
        THANKS: "danke | danke schön | danke schon | vielen dank",
        NEVER_MIND: "vergiss es | vergessen sie es | egal | schon gut | lass es "
                    "| lassen sie es | stopp | abbrechen",
        HOLD: "warte | warten sie | moment | einen moment | sekunde",
        OTHER_ONE: "die andere | der andere | das andere | den anderen | andere | anderen "
                   "| die andere bestellung",
        NEITHER: "keiner | keine davon | keiner davon | keins | keins davon | keines "
                 "| weder noch | weder das eine noch das andere",
        FIRST: "der erste | die erste | das erste | den ersten | erste | ersten | erster "
               "| erstes",
        SECOND: "der zweite | die zweite | das zweite | den zweiten | zweite | zweiten "
                "| zweiter | zweites",
        THIRD: "der dritte | die dritte | das dritte | den dritten | dritte | dritten",
        LAST: "der letzte | die letzte | das letzte | den letzten | letzte | letzten",
    },
    "it": {
        YES: "sì | si | certo | certamente | va bene | d'accordo | d accordo | ok | okay "
             "| esatto | giusto | confermo | perfetto | volentieri | procedi | vai "
             "| assolutamente | nessun problema | perché no | senza dubbio | sicuro",
        NO: "no | nah | per niente | assolutamente no | meglio di no | lo tengo | la tengo "
            "| mai | nemmeno | neanche",
        NEG: "non | mai",
        UNSURE: "non lo so | non so | forse | magari | non sono sicuro | non sono sicura "
                "| boh | chissà",
        POLITE: "per favore | per piacere | che | allora | beh | be | ah | ehm | mah | dai",
        THANKS: "grazie | grazie mille",
        NEVER_MIND: "lascia perdere | lasciate perdere | lascia stare | lasciamo stare "
                    "| non importa | fa niente | basta | stop",
        HOLD: "aspetta | aspetti | un attimo | un momento | un secondo",
        OTHER_ONE: "l'altro | l'altra | l altro | l altra | altro | altra | l'altro ordine",
        NEITHER: "nessuno | nessuna | nessuno dei due | nessuna delle due "
                 "| né l'uno né l'altro | ne l uno ne l altro",
        FIRST: "il primo | la prima | primo | prima",
        SECOND: "il secondo | la seconda | secondo | seconda",
        THIRD: "il terzo | la terza | terzo | terza",
        LAST: "l'ultimo | l'ultima | l ultimo | l ultima | ultimo | ultima",
    },
    "pt": {
        YES: "sim | claro | com certeza | pode ser | pode | isso | isso mesmo | exato "
             "| certo | ok | okay | beleza | tá bom | ta bom | está bem | tudo bem | confirmo "
             "| perfeito | sem problema | por que não | sem dúvida | claro que sim | bora",
        NO: "não | nao | nada | de jeito nenhum | nem pensar | jamais | nunca "
            "| vou ficar com ele | vou ficar com ela | fico com ele | fico com ela "
            "| prefiro não",
        NEG: "não | nao | nunca",
        UNSURE: "não sei | nao sei | talvez | não tenho certeza | nao tenho certeza "
                "| sei lá | sei la",
        POLITE: "por favor | que | então | bem | ah | hum | é",
        THANKS: "obrigado | obrigada | muito obrigado | muito obrigada | valeu",
        NEVER_MIND: "esquece | esqueça | deixa pra lá | deixa para lá | deixa | não importa "
                    "| chega",
        HOLD: "espera | um momento | um segundo",
        OTHER_ONE: "o outro | a outra | outro | outra | o outro pedido",
        NEITHER: "nenhum | nenhuma | nenhum dos dois | nenhuma das duas | nem um nem outro "
                 "| nenhum deles",
        FIRST: "o primeiro | a primeira | primeiro | primeira",
        SECOND: "o segundo | a segunda | segundo | segunda",
        THIRD: "o terceiro | a terceira | terceiro | terceira",
        LAST: "o último | a última | último | última",
    },
    "zh": {
        YES: "是 | 是的 | 对 | 对的 | 好 | 好的 | 好吧 | 行 | 可以 | 嗯 | 嗯嗯 | 确认 | 确定 "
             "| 当然 | 没问题 | 没错 | 同意 | 要 | 不错",
        NO: "不 | 否 | 不要 | 不用 | 不用了 | 不是 | 不对 | 不行 | 没有 | 不需要 | 不了 | 算了不要",
        NEG: "不 | 别 | 没 | 不要",
        UNSURE: "不知道 | 不确定 | 也许 | 可能 | 是不是 | 对不对 | 好不好 | 行不行 | 要不要",
        POLITE: "请 | 了 | 吧 | 啊 | 呀 | 哦 | 喔 | 那 | 不客气",
        THANKS: "谢谢 | 谢谢你 | 谢了 | 多谢",
        NEVER_MIND: "算了 | 算了吧 | 没事了 | 不用管了",
        QUESTION: "吗 | 呢 | 哪 | 什么 | 怎么 | 为什么 | 多少",
        HOLD: "等一下 | 等等 | 稍等",
        OTHER_ONE: "另一个 | 另外一个 | 另一 | 另外那个 | 别的",
        NEITHER: "都不是 | 都不要 | 两个都不要 | 哪个都不要 | 一个都不要 | 都不",
        FIRST: "第一个 | 第一",
        SECOND: "第二个 | 第二",
        THIRD: "第三个 | 第三",
        LAST: "最后一个 | 最后那个",
    },
    "ja": {
        YES: "はい | ええ | うん | そうです | その通り | お願いします | お願い | 了解 "
             "| 了解です | 承知しました | もちろん | いいですよ "
             "| 問題ない | 問題ありません | オーケー | おけ | 確認します",
        NO: "いいえ | いえ | いや | ううん | 結構です | けっこうです | やめて | やめてください "
            "| しないで | しないでください | そのままで | このままで | 違います | ちがいます",
        NEG: "ない | ません | じゃない | ではない",
        UNSURE: "わからない | わかりません | 分からない | 分かりません | たぶん | 多分 "
                "| かもしれない",
        POLITE: "です | ください | ね | では | じゃあ | あの | ええと | えっと",
        THANKS: "ありがとう | ありがとうございます | どうも",
        NEVER_MIND: "やめます | やめておきます | もういいです | やっぱりいいです "
                    "| なんでもない | なんでもないです",
        QUESTION: "ですか | ますか | 何 | どこ | どれ | どの | いつ | なぜ | どうして",
        HOLD: "ちょっと待って | 待って | 少々お待ち",
        OTHER_ONE: "もう一つ | もうひとつ | もう一方 | もう片方 | 別の | 別のほう | 他の "
                   "| ほかの | もう一つの方",
        NEITHER: "どちらでもない | どれでもない | どちらも違う | どっちでもない "
                 "| どれも違う | どちらでもありません | どれでもありません",
        FIRST: "最初の | 最初 | 一つ目 | 1つ目 | ひとつめ | 一番目 | 1番目",
        SECOND: "二つ目 | 2つ目 | ふたつめ | 二番目 | 2番目",
        THIRD: "三つ目 | 3つ目 | みっつめ | 三番目 | 3番目",
        LAST: "最後の | 最後",
    },
    "ar": {
        YES: "نعم | أجل | ايوه | أيوه | ايوا | طيب | حسنا | حسناً | تمام | موافق "
             "| بالتأكيد | أكيد | بالطبع | طبعا | طبعاً | ماشي | اوكي | صحيح | لا مشكلة "
             "| بكل تأكيد | أؤكد",
        # Not "أبداً" (never): folded, it is "ابدأ" (start), as in "نعم، ابدأ الإرجاع".
        NO: "لا | كلا | لأ | مش عايز | لا أريد | سأحتفظ به | خليه",
        NEG: "لا | ليس | مش | مو | ما",
        UNSURE: "لا أعرف | لا اعرف | مش عارف | ربما | يمكن | لست متأكدا | مش متأكد",
        POLITE: "من فضلك | لو سمحت | يعني | اذن | إذن | طيب يعني",
        THANKS: "شكرا | شكراً | شكرا جزيلا | مشكور | يعطيك العافية",
        NEVER_MIND: "انسى الموضوع | انس الأمر | لا يهم | خلاص | توقف | انسى",
        QUESTION: "هل | ماذا | لماذا | كيف | متى | أين",
        HOLD: "لحظة | انتظر | ثانية",
        OTHER_ONE: "الآخر | الأخرى | الثاني الآخر",
        NEITHER: "ولا واحد | ولا واحدة | لا هذا ولا ذاك | ولا أي منهم | لا شيء منها",
        FIRST: "الأول | الأولى",
        SECOND: "الثاني | الثانية",
        THIRD: "الثالث | الثالثة",
        LAST: "الأخير | الأخيرة",
    },
}  # fmt: skip

SHORT = 3  # other words a clause may have and still be a bare answer ("I'll keep it, ta")
SHORT_REFERENCE = 2  # ... and still point at an option ("the second order please")
MAX_SHORT_CHARS = 200  # "never mind" and "the second one" are whole short messages
MAX_ANSWER_CHARS = 400  # a yes or no leads a message: the rest of a long one is not read
# Clauses end at punctuation and at "but" (full-width punctuation folds to ASCII).
_CLAUSE_END = re.compile(
    r"[,.;:!?¿¡、。…()\[\]\n،؟]+|\s[-–—]\s|\b(?:but|pero|mais|aber|ma|mas)\b|但是|不过|لكن"
)


@dataclass(frozen=True, slots=True)
class Word:
    kind: str
    text: str
    cjk: bool  # written in Chinese or Japanese characters


@dataclass(frozen=True, slots=True)
class Clause:
    words: tuple[Word, ...]  # without the polite ones
    question: bool  # ends with "?" or holds a question word


@cache
def _vocabulary() -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern over every language's words (the longest first) and word -> kind. A word
    two kinds claim keeps the first in this order (a "no" that is also a negator is a no)."""
    order = [UNSURE, NEITHER, OTHER_ONE, LAST, FIRST, SECOND, THIRD, THANKS, NEVER_MIND, HOLD,
             YES, NO, NEG, QUESTION, POLITE]  # fmt: skip
    kinds: dict[str, str] = {}
    for kind in order:
        for words in WORDS.values():
            for word in words.get(kind, "").split("|"):
                folded = fold(word.strip())
                if folded:
                    kinds.setdefault(folded, kind)
    return re.compile(words_pattern(kinds)), kinds


@lru_cache(maxsize=1024)
def clauses(text: str) -> tuple[Clause, ...]:
    """The message's clauses as small words (anything else is an ``OTHER`` word). Kept for
    the last messages: one turn reads its message for an answer, an option and a refusal."""
    pattern, kinds = _vocabulary()
    folded = fold(text).replace("\u2019", "'")  # the typographic apostrophe: "don’t"
    found = []
    for part, end in _split(folded):
        words: list[Word] = []
        position = 0
        for match in pattern.finditer(part):
            words += _others(part[position : match.start()])
            text = match.group(0)
            words.append(Word(kinds[fold(text)], text, is_cjk(text[0])))
            position = match.end()
        words += _others(part[position:])
        # "？" folds to "?"; Arabic has its own question mark.
        question = "?" in end or "؟" in end or any(w.kind == QUESTION for w in words)
        kept = tuple(w for w in words if w.kind != POLITE)
        if kept:
            found.append(Clause(kept, question))
    return tuple(found)


def _split(text: str) -> list[tuple[str, str]]:
    """(clause, what ended it) pairs."""
    parts, position = [], 0
    for match in _CLAUSE_END.finditer(text):
        parts.append((text[position : match.start()], match.group(0)))
        position = match.end()
    parts.append((text[position:], ""))
    return [(p.strip(), end) for p, end in parts if p.strip()]


def _others(text: str) -> list[Word]:
    """Words outside the vocabulary: spaced words, or runs of Chinese/Japanese characters."""
    return [Word(OTHER, w, is_cjk(w[0])) for w in re.findall(r"[^\W_]+|\d+", text)]


# -- yes and no ---------------------------------------------------------------------------


def read(text: str) -> str | None:
    """YES, NO, UNSURE (unsure, clauses that disagree, a question back, or "no, the other
    one", which points at an option rather than answering) or None (no answer words at all)
    for a reply to a yes/no question. An answer leads: only the start of a long message is
    read."""
    if reference(text) is not None:
        return UNSURE
    readings = set()
    said = clauses(text[:MAX_ANSWER_CHARS])
    for number, clause in enumerate(said):
        reading = _reading(clause, first=number == 0)
        if reading is not None:
            readings.add(reading)
    if not readings:
        # A question back ("is that right?", "what do you mean") is no answer either.
        return UNSURE if any(c.question for c in said) else None
    return readings.pop() if len(readings) == 1 else UNSURE  # "yes but not now"


def _reading(clause: Clause, *, first: bool) -> str | None:
    """yes / no / unsure for one clause, or None when it is not an answer."""
    words = [w for w in clause.words if w.kind not in (THANKS, HOLD)]
    if not words:
        return None
    kinds = _negated([w.kind for w in words])
    others = sum(1 for w in words if w.kind == OTHER)
    leads = kinds[0] in ANSWERS
    if clause.question and not (leads and not any(w.kind == QUESTION for w in words)):
        return None
    if not leads and (others > SHORT or not first and others):
        return None  # an answer leads, or the clause is hardly more than one
    if any(w.cjk and len(w.text) == 1 and w.kind in (YES, NEG) for w in words) and others:
        return None  # "是我的订单": a one-character yes inside a sentence
    if UNSURE in kinds:
        return UNSURE
    yes = YES in kinds
    no = NO in kinds or kinds[0] == NEG or (NEG in kinds and not yes and others <= SHORT)
    if yes and no:
        return UNSURE
    return YES if yes else NO if no else None


def _negated(kinds: list[str]) -> list[str]:
    """A negator or a no next to a yes turns it into a no: "not yes", "of course not",
    "claro que no", "不好"."""
    out: list[str] = []
    for kind in kinds:
        if out and {out[-1], kind} in ({NEG, YES}, {NO, YES}):
            out[-1] = NO
        else:
            out.append(kind)
    return out


def never_mind(text: str) -> bool:
    """'never mind', 'olvídalo', '算了', 'neither', 'non merci' ... as the whole message: the
    customer wants to stop. A polite refusal counts ("no thanks"), a plain "no" does not
    (that answers the question)."""
    if len(text) > MAX_SHORT_CHARS:
        return False
    words = [w for c in clauses(text) for w in c.words]
    kinds = {w.kind for w in words}
    if not kinds or not kinds <= {NEVER_MIND, NEITHER, NO, THANKS}:
        return False
    return bool(kinds & {NEVER_MIND, NEITHER}) or kinds == {NO, THANKS}


# -- "the second one", "the other one", "neither" ----------------------------------------


def reference(text: str) -> str | None:
    """FIRST, SECOND, THIRD, LAST, OTHER_ONE or NEITHER when a short message points at one
    of the options it was offered ("the second one", "no, la otra", "第二个"), else None."""
    if len(text) > MAX_SHORT_CHARS:
        return None
    pointed = set()
    for clause in clauses(text):
        kinds = [w.kind for w in clause.words if w.kind in REFERENCES]
        if not kinds:
            continue
        others = sum(1 for w in clause.words if w.kind in (OTHER, QUESTION, HOLD))
        if others > SHORT_REFERENCE or any(w.kind == QUESTION for w in clause.words):
            return None  # "sí, pero primero dime el precio": "first" is not an option here
        pointed.update(kinds)
    return pointed.pop() if len(pointed) == 1 else None


def pick(text: str, options: list[str], current: str | None = None) -> str | None:
    """The option ``text`` points at: "the second one" is ``options[1]``; "the other one" is
    the option that is not ``current`` when there are two. None when it points at nothing
    or at something that is not there."""
    kind = reference(text)
    if kind is None or not options:
        return None
    if kind in ORDINALS:
        index = ORDINALS[kind]
        return options[index] if -len(options) <= index < len(options) else None
    if kind == OTHER_ONE and current in options and len(options) == 2:
        return options[1 - options.index(current)]
    return None
