"""Build smartsupport/knowledge/data/common_words.json: the most frequent words of each
language, as index terms, so the answerability model can tell a question's filler ("what",
"long", "take") from the thing it names ("Canada", "bitcoin", "gift wrap").

    pip install wordfreq==3.1.1   # in a throwaway venv: not a dependency of the product
    python bench/make_common_words.py [--top 3000]

The lists come from wordfreq (Robyn Speer; data CC BY-SA 4.0, https://github.com/rspeer/wordfreq);
the generated file carries that attribution. Chinese and Japanese are left out: their text is
indexed as character pairs, not words.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smartsupport.knowledge.text_analysis import terms  # noqa: E402

LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "ar")
OUT = ROOT / "smartsupport" / "knowledge" / "data" / "common_words.json"


def main() -> int:
    from wordfreq import top_n_list

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=1000)
    args = parser.parse_args()
    lists = {}
    for language in LANGUAGES:
        found = {t for word in top_n_list(language, args.top) for t in terms(word)}
        lists[language] = sorted(found)
    OUT.write_text(
        json.dumps(
            {
                "source": "wordfreq 3.1.1 top_n_list, top "
                f"{args.top} per language, as smartsupport index terms",
                "license": "CC BY-SA 4.0 (wordfreq data, Robyn Speer and contributors)",
                "languages": lists,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        + "\n",
        encoding="utf-8",
    )
    print({k: len(v) for k, v in lists.items()}, OUT.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
