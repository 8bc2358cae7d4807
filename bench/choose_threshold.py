"""Choose the answerability threshold on the resolution suite (tests/resolution, our
development conversations) and write it into smartsupport/knowledge/data/answerability.json.

    python bench/choose_threshold.py [--thresholds 0.5 0.6 0.7 0.8 0.9]

For each threshold the whole suite runs through the real conversation path
(``smartsupport eval conversations``); the one with the highest
``resolved - 3 x off-target - 5 x wrong`` (percentages over all conversations) wins: an
off-target answer with a source link costs more than saying "I don't know" (the product's
rule: a wrong answer with a source link is worse than no answer), a wrong one much more.
Held-out conversations measure the result; they are not used here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "smartsupport" / "knowledge" / "data" / "answerability.json"
SUITE = ROOT / "tests" / "resolution"


def measure(threshold: float, models_dir: str) -> dict[str, float]:
    model = json.loads(MODEL.read_text(encoding="utf-8"))
    model["threshold"] = threshold
    MODEL.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "smartsupport", "eval", "conversations", str(SUITE), "--json",
         "--models-dir", models_dir],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    totals = json.loads(out)["totals"]
    return {k: float(totals[k] or 0) for k in ("resolved_pct", "wrong_pct", "off_target_pct")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    args = parser.parse_args()
    original = MODEL.read_text(encoding="utf-8")
    results = {}
    with tempfile.TemporaryDirectory() as models_dir:
        try:
            for t in args.thresholds:
                r = measure(t, models_dir)
                r["score"] = r["resolved_pct"] - 3 * r["off_target_pct"] - 5 * r["wrong_pct"]
                results[t] = r
                print(f"| {t:.2f} | {r['resolved_pct']:.1f} | {r['off_target_pct']:.1f} | "
                      f"{r['wrong_pct']:.1f} | {r['score']:.1f} |", flush=True)  # fmt: skip
        finally:
            MODEL.write_text(original, encoding="utf-8")
    best = max(results, key=lambda t: results[t]["score"])
    model = json.loads(original)
    model["threshold"] = best
    model["threshold_chosen_on"] = (
        "tests/resolution by bench/choose_threshold.py: resolved - 3 x off-target - 5 x wrong"
    )
    MODEL.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    print(f"chosen threshold {best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
