"""Check that every translated demo help article states the same facts as its English source.

    python bench/check_article_facts.py [ARTICLES_DIR] [-v]

A translation is a file ``<english-id>.<lang>.md`` next to the English ``<english-id>.md``
(the Spanish and French originals such as devoluciones.md are not translations and are not
checked). Each translation is read with the same reader the knowledge base uses, and compared
with its source on:

- numbers: every run of digits, compared as multisets (grammar may reorder them). Decimal
  commas count as points (``5,95`` = ``5.95``); on-the-hour times lose their minutes in both
  texts (``9:00``, ``9 h 00``, ``9h00`` -> ``9``) so ``9 h`` matches ``9:00``; 12-hour times in
  the English become 24-hour (``2 pm`` -> ``14``), since the translations use the 24-hour clock.
  Numbers the English writes as words (``one hour``, ``two sizes``, ``only once``) are optional:
  the translation may write them as digits or words. Arabic writes one and two as a singular or
  dual noun (``سنة واحدة``, ``سنتين``, ``يومَي عمل``); those count as 1 and 2.
- emails and URL-like tokens (``host.tld/path``): the same set.
- names that stay untranslated (brands, carriers, product lines, ``ORD-10234``...): every one
  the English mentions appears in the translation.
- front matter: ``id: <english-id>-<lang>``, ``url: <site>/<lang>/<english-id>``,
  ``locale: <lang>``, a title that is not the English one, and a first heading equal to it.
- Markdown structure: the same sequence of heading levels, the same number of list items,
  table rows and bold spans; no ``**`` left unrendered in the body the reader produced.

It also prints which English articles exist in which of the product's languages. Exits 1 when
any check fails (a missing translation is only reported, unless ``--require-all``).
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smartsupport.knowledge.documents import Document  # noqa: E402
from smartsupport.knowledge.readers import SourceFile, read_file  # noqa: E402
from smartsupport.knowledge.readers.markdown import split_front_matter  # noqa: E402

ARTICLES = ROOT / "smartsupport" / "demo" / "articles"
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "zh", "ja", "ar")
SITE = "https://help.northwind-outfitters.example"

TRANSLATION_NAME = re.compile(r"^(?P<id>[a-z0-9][a-z0-9-]*)\.(?P<lang>[a-z]{2,3})\.md$")

# Names that are never translated. Matched case-insensitively, hyphens read as spaces (German
# writes "Trail-Runner-Schuhe"), not inside a longer Latin word (Arabic prefixes "و" to them).
KEPT_NAMES = (
    "Northwind",
    "UPS",
    "FedEx",
    "DHL",
    "Visa",
    "Mastercard",
    "American Express",
    "PayPal",
    "Apple Pay",
    "Trail Runner",
    "City",
    "Rain shell",
    "PIN",
    "PDF",
    "APO/FPO",
    "P.O.",
    "ORD-10234",
    "XS",
    "XXL",
)

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
URL = re.compile(
    r"https?://[^\s<>()\]]+|(?<![\w@])(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/[^\s<>()\]]*)?",
    re.IGNORECASE | re.ASCII,
)
TWELVE_HOUR = re.compile(r"(?<!\d)(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\b\.?", re.IGNORECASE)
ON_THE_HOUR = re.compile(r"(?<![\d.,])(\d{1,2})\s?(?::|h)\s?00(?!\d)")
NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
ENGLISH_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "once": "1", "twice": "2",
}  # fmt: skip
ENGLISH_WORD = re.compile(r"\b(" + "|".join(ENGLISH_WORDS) + r")\b", re.IGNORECASE)
# Arabic one and two: a singular noun with واحد/واحدة, or a dual noun.
ARABIC_DIACRITICS = re.compile(r"[\u064b-\u0652\u0670]")
ARABIC_ONE = re.compile(r"(?:سنة|عام|شهر|يوم عمل|يوم|ساعة) (?:واحدة|واحد)")
ARABIC_DUALS = "سنتين|سنتان|عامين|عامان|شهرين|شهران|يومين|يومان|ساعتين|ساعتان|يومي عمل|يوما عمل"
ARABIC_TWO = re.compile(rf"(?<!\w)(?:{ARABIC_DUALS})(?!\w)")

HEADING = re.compile(r"^(#{1,6})\s")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
BOLD = re.compile(r"\*\*[^*\n]+?\*\*")


@dataclass(slots=True)
class Article:
    path: Path
    doc: Document
    markdown: str  # the Markdown after the front matter
    meta: dict[str, object]


def read_article(path: Path) -> Article:
    data = path.read_bytes()
    (doc,) = read_file(SourceFile(path, path.name), data)
    meta, markdown = split_front_matter(data.decode("utf-8-sig"))
    return Article(path, doc, markdown, meta)


def _ascii_digits(text: str) -> str:
    """Full-width and Arabic-Indic digits as ASCII digits."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(
        str(unicodedata.digit(c)) if not c.isascii() and unicodedata.digit(c, None) is not None
        else c
        for c in text
    )  # fmt: skip


def _without_addresses(text: str) -> str:
    return URL.sub(" ", EMAIL.sub(" ", text))


def _to_24_hour(match: re.Match[str]) -> str:
    hour = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "p" else 0)
    minutes = match.group(2)
    return str(hour) if minutes in (None, "00") else f"{hour}:{minutes}"


def numbers(text: str, *, english: bool) -> tuple[Counter[str], Counter[str]]:
    """(numbers written with digits, numbers written as words) in ``text``."""
    text = _without_addresses(_ascii_digits(text))
    words: Counter[str] = Counter()
    if english:
        text = TWELVE_HOUR.sub(_to_24_hour, text)
        words.update(ENGLISH_WORDS[w.lower()] for w in ENGLISH_WORD.findall(text))
    else:
        plain = ARABIC_DIACRITICS.sub("", text)
        words.update("1" for _ in ARABIC_ONE.findall(plain))
        words.update("2" for _ in ARABIC_TWO.findall(plain))
    text = ON_THE_HOUR.sub(r"\1", text)
    digits = Counter(n.replace(",", ".") for n in NUMBER.findall(text))
    return digits, words


def addresses(text: str) -> tuple[set[str], set[str]]:
    text = _ascii_digits(text)
    emails = {e.lower() for e in EMAIL.findall(text)}
    urls = {u.rstrip(".,;:!?").lower() for u in URL.findall(EMAIL.sub(" ", text))}
    return emails, urls


def _name_pattern(name: str) -> re.Pattern[str]:
    words = re.split(r"[\s-]+", name)
    return re.compile(
        r"(?<![A-Za-z])" + r"[\s-]+".join(map(re.escape, words)) + r"(?![A-Za-z])",
        re.IGNORECASE,
    )


NAME_PATTERNS = {name: _name_pattern(name) for name in KEPT_NAMES}


def kept_names(text: str) -> set[str]:
    text = _without_addresses(text)  # "northwind" in help@northwind-outfitters.example
    return {name for name, pattern in NAME_PATTERNS.items() if pattern.search(text)}


def structure(markdown: str) -> dict[str, object]:
    lines = markdown.splitlines()
    return {
        "heading levels": [len(m.group(1)) for line in lines if (m := HEADING.match(line))],
        "list items": sum(1 for line in lines if LIST_ITEM.match(line)),
        "table rows": sum(1 for line in lines if line.lstrip().startswith("|")),
        "bold spans": len(BOLD.findall(markdown)),
    }


def _first_heading(markdown: str) -> str | None:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def _counter_text(counter: Counter[str]) -> str:
    return " ".join(f"{n}x{k}" if n > 1 else k for k, n in sorted(counter.items()))


def compare(english: Article, translation: Article, english_id: str, lang: str) -> list[str]:
    problems: list[str] = []
    doc, meta = translation.doc, translation.meta

    # Front matter, as the knowledge base reads it.
    expected_url = f"{SITE}/{lang}/{english_id}"
    if doc.external_id != f"{english_id}-{lang}":
        problems.append(f"id is {doc.external_id!r}, expected {english_id + '-' + lang!r}")
    if doc.url != expected_url:
        problems.append(f"url is {doc.url!r}, expected {expected_url!r}")
    if doc.locale != lang or meta.get("locale") != lang:
        problems.append(f"locale is {doc.locale!r}, expected {lang!r}")
    if not meta.get("title") or doc.title == english.doc.title:
        problems.append(f"title {doc.title!r} is missing or not translated")
    if _first_heading(translation.markdown) != doc.title:
        problems.append("the first heading is not the title")
    if "**" in doc.body:
        problems.append("bold markers left unrendered in the body")

    # Facts. The title is part of the text customers see, so it is compared too.
    source_text = f"{english.doc.title}\n{english.markdown}"
    target_text = f"{doc.title}\n{translation.markdown}"
    required, optional = numbers(source_text, english=True)
    digits, words = numbers(target_text, english=False)
    found = digits + words
    missing = required - found
    extra = (found - required) - optional
    if missing:
        problems.append(f"numbers missing: {_counter_text(missing)}")
    if extra:
        problems.append(f"numbers not in the English: {_counter_text(extra)}")

    source_emails, source_urls = addresses(source_text)
    target_emails, target_urls = addresses(target_text)
    if source_emails != target_emails:
        problems.append(f"emails differ: {sorted(source_emails)} vs {sorted(target_emails)}")
    if source_urls != target_urls:
        problems.append(f"URLs differ: {sorted(source_urls)} vs {sorted(target_urls)}")

    lost = kept_names(source_text) - kept_names(target_text)
    if lost:
        problems.append(f"names missing: {', '.join(sorted(lost))}")

    source_shape, target_shape = structure(english.markdown), structure(translation.markdown)
    for key, value in source_shape.items():
        if target_shape[key] != value:
            problems.append(f"{key}: {target_shape[key]} vs {value} in the English")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ARTICLES)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every file checked")
    parser.add_argument(
        "--require-all",
        action="store_true",
        help="also fail when an English article lacks a translation in one of the languages",
    )
    args = parser.parse_args(argv)
    folder: Path = args.folder

    english: dict[str, Article] = {}
    for path in sorted(folder.glob("*.md")):
        if TRANSLATION_NAME.match(path.name):
            continue
        article = read_article(path)
        if article.doc.locale == "en":
            english[path.stem] = article

    failures = 0
    checked: dict[tuple[str, str], bool] = {}
    for path in sorted(folder.glob("*.md")):
        match = TRANSLATION_NAME.match(path.name)
        if not match or match["id"] not in english:
            continue
        english_id, lang = match["id"], match["lang"]
        try:
            problems = compare(english[english_id], read_article(path), english_id, lang)
        except Exception as exc:  # a file that does not parse is a failure, not a crash
            problems = [f"cannot be read: {exc}"]
        checked[(english_id, lang)] = not problems
        if problems:
            failures += 1
            print(f"FAIL {path.name}")
            for problem in problems:
                print(f"     {problem}")
        elif args.verbose:
            print(f"ok   {path.name}")

    # Coverage: which English article exists in which language.
    others = [lang for lang in LANGUAGES if lang != "en"]
    width = max(map(len, english), default=10) + 2
    print()
    print("article".ljust(width) + " ".join(lang.rjust(3) for lang in LANGUAGES))
    missing = 0
    for english_id in english:
        cells = ["en"]
        for lang in others:
            state = checked.get((english_id, lang))
            cells.append("ok" if state else "FAIL" if state is False else "-")
            missing += state is None
        print(english_id.ljust(width) + " ".join(c.rjust(3) for c in cells))

    total = len(checked)
    print(
        f"\n{total} translation(s) of {len(english)} English article(s) checked: "
        f"{total - failures} ok, {failures} with differences; {missing} missing."
    )
    return 1 if failures or (args.require_all and missing) else 0


if __name__ == "__main__":
    sys.exit(main())
