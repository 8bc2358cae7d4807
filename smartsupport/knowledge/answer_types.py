"""What a question asks for (an amount, a duration, a phone number, an e-mail address, opening
hours) and whether a text holds that kind of answer, in the nine languages of the product.

A passage without the kind of answer the question asks for never answers it
(``knowledge.answerability``): "how much is express?" is not answered by "express delivers in
1-2 days". A yes-or-no question names a cost without asking for one ("will I be charged
shipping twice?"), so only its wording asks for an amount, not the nouns it uses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

# (what the question asks for, what an answer to it contains). Both lower-cased text.
_CURRENCY = (
    r"(?:[$€£¥]\s?\d|\d(?:[\d.,\s]*\d)?\s?"
    r"(?:\$|€|£|usd|eur|dollars?|dólares|dollari|euros?|美元|ドル|円|دولار))"
)
_FREE = r"(?:\bfree\b|gratis|gratuit|kostenlos|gratuito|免费|無料|مجان)"
_DURATION_UNIT = (
    r"(?:days?|weeks?|hours?|months?|years?|minutes?|años?|ans?|jahre?n?|ann[oi]|anos?|年|سنة|سنوات|d[ií]as?|semanas?|horas?|mes(?:es)?\b|jours?|semaines?|"
    r"heures?|mois|tag(?:e[n]?)?|wochen?|stunden?|monat(?:e[n]?)?|giorn[oi]|settiman[ae]|or[ae]\b|mes[ei]\b|天|日|週間|"
    r"周|小时|時間|か月|个月|يوم|أيام|ساعة|ساعات|أسابيع|شهر)"
)


# A count written as a word: "valid for one hour", "within a week", "en una hora", "sous deux
# jours", "innerhalb einer Stunde", "entro un'ora", "em duas horas", "一个小时", "一時間",
# "ساعة واحدة" (the unit follows its number word; Arabic often says the unit alone).
_COUNT_WORD = (
    r"(?:\b(?:an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|"
    r"fifteen|twenty|thirty|sixty|ninety|a few|several|un[oa]?|dos|tres|cuatro|cinco|seis|siete|"
    r"ocho|diez|quince|treinta|une?|deux|trois|quatre|cinq|sept|huit|dix|quinze|trente|"
    r"ein(?:e[nrm]?)?|zwei|drei|vier|f[uü]nf|sechs|sieben|acht|zehn|vierzehn|dreißig|"
    r"due|tre|quattro|sette|otto|dieci|quindici|trenta|um|uma|dois|duas|tr[eê]s|quatro|"
    r"sete|oito|dez|quinze|trinta)\s+(?:(?:business|working|full|whole|calendar)\s+)?"
    r"|\bun'|[一二两三四五六七八九十半][个個]?|(?<![\w\d])(?=ساعة|يوم|أسبوع|شهر|سنة))"
)


def _asks(latin: str, other: str) -> re.Pattern[str]:
    """Question wording: whole words in scripts with spaces, substrings in CJK and Arabic."""
    return re.compile(rf"\b(?:{latin})\b|{other}")


ANSWER_TYPES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "amount": (
        _asks(
            r"how much|costs?|price[sd]?|fees?|cu[aá]nto cuesta|cu[aá]nto vale|"
            r"precio|costo|c'est combien|combien (?:pour|de frais|[çc]a)|prix|co[uû]te?|frais|"
            r"wie viel|kostet|kosten|preis|"
            r"geb[uü]hren?|quanto costa|prezzo|quanto custa|pre[cç]o|custo|"
            # the threshold of free shipping is an amount: "from how much is it free?"
            r"free shipping|minimum order|(?:a partir|desde) de cu[aá]nto|env[ií]o gratis|"
            r"livraison gratuite|versandkostenfrei|kostenlose[rn]? versand|"
            r"spedizione gratuita|a partire da quanto|frete gr[aá]tis|a partir de quanto",
            r"多少钱|价格|费用|运费|いくら|料金|価格|送料|كم سعر|كم تكلفة|سعر|تكلفة|رسوم|"
            r"免运费|包邮|شحن مجاني",
        ),
        re.compile(f"{_CURRENCY}|{_FREE}"),
    ),
    "duration": (
        _asks(
            r"how long|how many (?:business |working )?(?:days|weeks)|how soon|"
            r"(?:delivery|shipping|transit|processing|turnaround) times?|"
            r"cu[aá]nto (?:tarda|tardan|demora|demoran|tiempo)|cu[aá]ntos d[ií]as|plazos?|"
            r"combien de (?:temps|jours|semaines)|d[eé]lais?|sous combien|"
            r"wie lange|wie viele (?:werk)?tage|wie schnell|dauert|lieferzeit(?:en)?|"
            r"quanto tempo|quanti giorni|quanto ci (?:mette|mettono|vuole|vogliono)|"
            r"quanto impiega|tempi di (?:consegna|spedizione)|"
            r"quanto (?:demora|demoram)|quantos dias|demora[m]?",
            r"多久|几天|多少天|多长时间|几个工作日|时效|どのくらい|どれくらい|何日|何営業日|日数|"
            r"كم من الوقت|كم يوم|كم يستغرق|كم تستغرق|كم أسبوع|كم أيام|مدة",
        ),
        re.compile(
            r"(?:\d+\s?(?:[-–—~〜～]|to|a|à|bis|al|e|至|到|إلى)?\s?\d*\s?|"
            rf"{_COUNT_WORD})"
            # "business days", "Werktage", "3-5 个工作日", "3～5営業日"
            r"(?:business |working |ouvrés |hábiles |lavorativi |úteis |werk|arbeits|"
            rf"[个個]?工作|営業)?{_DURATION_UNIT}"
        ),
    ),
    # "Which currency are prices in?" names prices without asking for an amount.
    "currency": (
        _asks(
            r"currenc(?:y|ies)|monedas?|divisas?|devises?|w[aä]hrungs?|w[aä]hrungen|valut[ae]|"
            r"moedas?",
            r"货币|币种|幣別|通貨|عملة|العملة|بأي عملة",
        ),
        re.compile(
            r"\b(?:us |u\.s\. |american |canadian |australian )?dollars?\b|\beuros?\b|"
            r"\bpounds?\b|d[oó]lares|dollari|d[oó]lares|美元|欧元|ドル|ユーロ|دولار|يورو|\busd\b|\beur\b"
        ),
    ),
    "phone": (
        _asks(
            r"phone|call you|call us|tel[eé]fono|llamar|t[eé]l[eé]phone|appeler|telefon|"
            r"anrufen|telefono|chiamare|telefone|ligar",
            r"电话|電話|هاتف|اتصال",
        ),
        re.compile(r"\+?\d[\d\s().-]{7,}\d"),
    ),
    "email": (
        _asks(
            r"(?:what|which)(?:'s| is)? (?:your|the) (?:support |contact )?e-?mail(?: address)?|"
            r"e-?mail (?:you|us)|contact (?:you )?by e-?mail|correo de contacto|"
            r"adresse e-mail du service|e-mail-adresse des kundendienstes",
            r"你们的邮箱|客服邮箱|メールアドレスは|البريد الإلكتروني الخاص بكم",
        ),
        re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),
    ),
    "hours": (
        _asks(
            r"opening hours|hours|open|opening|horario|abiert[oa]s?|horaires|ouverts?|"
            r"[oö]ffnungszeiten|ge[oö]ffnet|orari|aperti|hor[aá]rio|abert[oa]s?",
            r"营业时间|几点|営業時間|何時|ساعات العمل|مفتوح",
        ),
        re.compile(
            r"\d{1,2}[:h.]\d{2}|\d{1,2}\s?(?:am|pm)\b|monday|friday|weekend|saturday|lunes|"
            r"viernes|lundi|vendredi|montag|freitag|luned[iì]|venerd[iì]|segunda|sexta|"
            r"周一|周五|星期|月曜|金曜|الاثنين|الجمعة"
        ),
    ),
}
# "When does it ship?", "quand serai-je remboursée ?": a moment, given as a duration ("within
# one business day"), an hour or a day, or relative to an event ("as soon as the carrier scans
# it", "the next business day"). A sentence with none of these ("we can change the address
# while the order is still Processing") does not say when.
_MOMENT = (
    r"\b(?:within|after|before|until|as soon as|once (?:it|they|the|your|you|we|an?|our|its)|"
    r"same day|next business day|next day|"
    r"when (?:the|you|your|it|we|an?)|cuando|lorsque|quand|wenn|quando|"
    r"en cuanto|despu[eé]s|antes|hasta|mismo d[ií]a|d[ií]a (?:h[aá]bil )?siguiente|"
    r"d[eè]s|apr[eè]s|avant|jusqu|le jour m[eê]me|le lendemain|jour ouvr[eé] suivant|sous|"
    r"sobald|nach|vor|bis|am selben tag|am n[aä]chsten|innerhalb|"
    r"appena|dopo|prima|entro|stesso giorno|successivo|"
    r"assim que|ap[oó]s|depois|at[eé]|mesmo dia|seguinte|dentro de)\b"
    r"|之后|以后|之前|以内|内|当天|次日|一旦|时|後|前|以内|当日|翌|時に|際に|とき"
    r"|بعد|قبل|خلال|حتى|عند|نفس اليوم|التالي"
)
ANSWER_TYPES["when"] = (
    _asks(
        r"when (?:does|do|did|will|would|is|are|can|should)|cu[aá]ndo|quand|(?<!ab )wann|quando",
        r"什么时候|何时|几时|いつ|متى",
    ),
    re.compile(
        f"{ANSWER_TYPES['duration'][1].pattern}|{ANSWER_TYPES['hours'][1].pattern}|{_MOMENT}"
    ),
)

# A way to pay, named ("Apple Pay", "Alipay", "cash on delivery", "コンビニ払い"), and buying in
# instalments: a question about either is answered by the sentence that lists the ways the shop
# accepts, or says it offers no instalments ("Se puede pagar a plazos o con Klarna?").
_MEANS = (
    # not \b: Arabic joins "and" to the next word, Latin names included ("وMastercard")
    r"(?<![a-z0-9])(?:visa|master ?card|amex|american express|discover|diners|jcb|maestro|"
    r"union ?pay|paypal|apple pay|google pay|samsung pay|shop pay|amazon pay|stc pay|klarna|"
    r"afterpay|affirm|sezzle|zip pay|venmo|zelle|cash ?app|bitcoin|ethereum|crypto\w*|"
    r"cash on delivery|cash|bank transfer|wire transfer|sepa|ideal|sofort|giropay|bizum|pix|"
    r"boleto|alipay|wechat pay|paypay|gift cards?|credit cards?|debit cards?|ch[eè]ques?|checks|"
    r"kreditkarten?|nachnahme|vorkasse|[uü]berweisung|auf rechnung|tarjetas? de (?:cr[eé]dito|"
    r"d[eé]bito)|contra ?reembolso|efectivo|transferencia|cartes? (?:bancaires?|de cr[eé]dit)|"
    r"esp[eè]ces|virement|paiement [aà] la livraison|carta di credito|contrassegno|contanti|"
    r"bonifico|cart[aã]o de cr[eé]dito|dinheiro|transfer[eê]ncia|pagamento na entrega)\b"
    r"|支付宝|微信支付|银联|信用卡|货到付款|现金|コンビニ払い|代引き?|代金引換|クレジットカード|"
    r"銀行振込|現金|الدفع عند الاستلام|نقد[اًا]?|كاش|بطاقة ائتمان|تحويل بنكي|مدى"
)
_INSTALMENTS = (
    r"\b(?:instal+ments?|buy now,? pay later|pay later|bnpl|a plazos|en cuotas|"
    r"meses sin intereses|en plusieurs fois|paiement diff[eé]r[eé]|ratenzahlung|in raten|"
    r"rateal[ei]|a rate|parcel(?:ar|ado|amento|as|o)|presta[cç](?:[oõ]es|ão)|pague depois)\b"
    r"|分期|先买后付|分割払い|後払い|تقسيط|أقساط"
)
# Asking to pay that way, not only naming it ("I paid with PayPal, how long is the refund?"
# asks how long; "my credit card keeps getting declined" asks what is wrong; "can I get cash
# for my gift card?" asks to redeem it).
_PAYING = re.compile(
    r"\b(?:pay|paying|payment|accept|accepted|take|use|option|options|zahlen|bezahlen|"
    r"akzeptier\w*|nehmt|nehmen|geht|gehen|pagar|pago|acept\w*|payer|paiement|acceptez|"
    r"prenez|pagare|accett\w*|aceit\w*|usar|d[aá] pra)\b"
    r"|支付|付款|可以用|能用|払え|払い|使え|利用でき|できますか|الدفع|ادفع|تقبلون|يمكن"
)
ANSWER_TYPES["payment"] = (
    re.compile(f"{_INSTALMENTS}|{_MEANS}"),
    re.compile(f"{_INSTALMENTS}|{_MEANS}"),
)

# A yes-or-no question, by its form: an auxiliary verb first (en, de), "est-ce que" or an
# inverted pronoun (fr), a leading verb of obligation or charge (es, pt, it), 吗 or 是否 (zh),
# a polite question ending (ja), هل (ar).
_POLAR = re.compile(
    r"(?:^|[.!?¿,;]\s*)(?:(?:so|and|but|also|ok|okay)\s+)?(?:do|does|did|is|are|will|would|can|"
    r"could|should|have|has|must|am i|muss|m[uü]ssen|kostet|kosten|wird|werden|bekomme|"
    r"bekommt|zahle|zahlt|gibt es|tengo que|hay que|se cobra|cobran|me cobran|debo|tenho de|"
    r"tenho que|vou ter|cobram|devo|si paga|pago)\b"
    r"|est-ce qu|\b\w+-(?:je|il|elle|on|nous|vous|ils|elles)\b"
    r"|吗[?？]?\s*$|是否|会不会|要不要|需不需要|(?:ますか|ですか|でしょうか|ませんか)[?？]?\s*$|"
    r"(?:^|\s)هل\s"
)
# Wording that asks for a quantity, whatever the form of the question ("is there a minimum
# order for free shipping?" wants the amount).
_MEASURE_WORD = re.compile(
    r"\b(?:how (?:much|long|many|soon)|what(?:'s| is| are)? the (?:cost|price|fee)|cu[aá]nt[oa]s?|"
    r"combien|wie (?:viel|viele|lange|teuer)|quant[oaie]|quantos?|quantas?|minimum|m[ií]nimo|"
    r"mindest\w*|ab wann|a partir de)\b"
    r"|多少|几|多久|多长|いくら|何日|どのくらい|どれくらい|كم"
)


@lru_cache(maxsize=512)  # several steps of one turn ask it of the same question
def answer_types(question: str) -> tuple[str, ...]:
    """What the question asks for (``amount``, ``duration``, ``currency``, ``phone``,
    ``email``, ``hours``, ``when``, ``payment``); empty when it asks for none of them in
    particular."""
    folded = question.lower()
    # "a plazos" (in instalments) is not a "plazo" (a time limit) the question asks for.
    plain = re.sub(_INSTALMENTS, " ", folded)
    kinds = [name for name, (asks, _) in ANSWER_TYPES.items() if asks.search(plain)]
    if plain != folded:
        kinds = ["payment", *(k for k in kinds if k != "payment")]
    if "payment" in kinds and (len(kinds) > 1 or not _PAYING.search(folded)):
        # Naming a way to pay while asking something else: how long a PayPal refund takes.
        kinds.remove("payment")
    if "currency" in kinds:
        kinds = [k for k in kinds if k != "amount"]
    if _POLAR.search(folded) and not _MEASURE_WORD.search(folded):
        # "Will I be charged shipping twice?" names a cost but asks yes or no: "you pay
        # shipping once" answers it with no amount in it.
        kinds = [k for k in kinds if k not in ("amount", "duration")]
    return tuple(kinds)


@lru_cache(maxsize=32768)  # a few MB; the demo's articles need ~10,000
def has_answer_type(kind: str, text: str) -> bool:
    # Asked of the same passages' sentences by question after question: ~14 us of regular
    # expressions each time, a dictionary look-up once remembered.
    return bool(ANSWER_TYPES[kind][1].search(text.lower()))


def type_match(kinds: Sequence[str], text: str) -> float:
    """1 when ``text`` holds an answer of one of ``kinds``, -1 when it holds none, 0 when the
    question asks for no kind in particular."""
    if not kinds:
        return 0.0
    return 1.0 if any(has_answer_type(kind, text) for kind in kinds) else -1.0


def lists_payment(question: str, text: str) -> int:
    """How fully ``text`` answers a question about a way to pay: 2 when it lists the ways the
    shop takes (so the customer learns whether theirs is among them) or, asked about
    instalments, says whether there are any; 1 when it only names a way the question names
    ("pay the rest of a gift card order with PayPal": it may answer "can I use a gift card
    and pay the rest by card?" better than the list does); 0 otherwise."""
    folded, answer = question.lower(), text.lower()
    if re.search(_INSTALMENTS, folded):
        return 2 if re.search(_INSTALMENTS, answer) else 0
    listed = _ways(answer)
    asked = _ways(folded)
    if len(listed) >= 3:
        return 2
    return 1 if asked & listed else 0


def _ways(text: str) -> set[str]:
    """The ways to pay ``text`` names, singular and plural alike ("gift cards", "Kreditkarten")."""
    return {w[:-1] if w.endswith(("s", "n")) else w for w in re.findall(_MEANS, text)}
