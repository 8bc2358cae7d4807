"""Workspace rules: keyword and regex intents.

An ``override`` rule is checked before the model and wins when it matches: the workspace owner
knows that "agent" means "hand me to a person" better than any classifier. A ``fallback`` rule
only speaks when the model is unsure or calls the message out of scope. Among several matching
rules the highest ``priority`` wins, then the longest match (the most specific one).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from smartsupport.nlu.schema import RuleSpec


def fold(text: str) -> str:
    """Lower-case and strip accents, so "Cancelación" matches the keyword "cancelacion"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class RuleMatch:
    intent: str
    mode: str
    priority: int
    length: int


class RuleSet:
    def __init__(self, rules: list[RuleSpec]) -> None:
        self._compiled: list[tuple[RuleSpec, list[re.Pattern[str]]]] = []
        for rule in rules:
            patterns = [
                # Keywords match whole words, accent- and case-insensitively.
                re.compile(rf"(?<!\w){re.escape(fold(k))}(?!\w)")
                for k in rule.keywords
            ]
            patterns += [re.compile(r, re.IGNORECASE) for r in rule.regex]
            self._compiled.append((rule, patterns))

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def match(self, text: str, mode: str) -> RuleMatch | None:
        folded = fold(text)
        best: RuleMatch | None = None
        for rule, patterns in self._compiled:
            if rule.mode != mode:
                continue
            for i, pattern in enumerate(patterns):
                # Keyword patterns run on the folded text, regexes on the original.
                m = pattern.search(folded if i < len(rule.keywords) else text)
                if m is None:
                    continue
                found = RuleMatch(rule.intent, rule.mode, rule.priority, m.end() - m.start())
                if best is None or (found.priority, found.length) > (best.priority, best.length):
                    best = found
        return best
