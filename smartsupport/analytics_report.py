"""The analytics report: every KPI of docs/analytics.md summed from ``analytics.walk``'s
per-conversation facts, in totals, by channel, language and intent, by day, and the
per-turn and per-answer views (intent x confidence, unanswered questions, articles).

The CSV export writes the same facts one row per conversation (``csv_row``); summing its
columns gives the report's counts, which the tests check.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from smartsupport.analytics import Filters, walk
from smartsupport.analytics_facts import Facts

CONFIDENCE_BUCKETS = (0.2, 0.4, 0.6, 0.8, 1.0)  # upper bounds: 0-0.2, ..., 0.8-1
HEATMAP_INTENTS = 12
TOP_UNANSWERED = 10
TOP_ARTICLES = 20
BREAKDOWNS = ("channel", "language", "intent")
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(slots=True)
class Tally:
    """Counts that add up: one per group (the totals, a channel, a day, ...)."""

    conversations: int = 0
    engaged: int = 0
    evaluated: int = 0  # engaged and decided (not pending)
    automated_resolutions: int = 0
    pending: int = 0
    contained: int = 0
    escalated: int = 0
    abandoned: int = 0
    turns: int = 0
    fallback_turns: int = 0
    out_of_scope_turns: int = 0
    bot_answers: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    agent_flags: int = 0
    csat_ratings: int = 0
    csat_sum: int = 0
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    llm_cost_nanos: int = 0  # billionths: sums of costs are exact, in any order

    def add(self, f: Facts) -> None:
        self.conversations += 1
        if f.engaged:
            self.engaged += 1
            self.contained += not f.person_involved
            self.escalated += f.escalated
            self.pending += f.automated_resolution is None
            self.evaluated += f.automated_resolution is not None
            self.automated_resolutions += bool(f.automated_resolution)
        self.abandoned += f.abandoned
        self.turns += len(f.turns)
        self.fallback_turns += f.fallback_turns
        self.out_of_scope_turns += f.out_of_scope_turns
        self.bot_answers += f.bot_answers
        self.thumbs_up += f.thumbs_up
        self.thumbs_down += f.thumbs_down
        self.agent_flags += f.agent_flags
        if f.csat is not None:
            self.csat_ratings += 1
            self.csat_sum += f.csat
        self.llm_input_tokens += f.llm_input_tokens
        self.llm_output_tokens += f.llm_output_tokens
        self.llm_cost_nanos += nanos(f.llm_cost)

    def merge(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def llm_cost(self) -> float:
        return self.llm_cost_nanos / 1_000_000_000

    def as_json(self) -> dict[str, Any]:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        del counts["llm_cost_nanos"]
        counts["llm_cost"] = round(self.llm_cost, 6)
        tokens = self.llm_input_tokens + self.llm_output_tokens
        return {
            **counts,
            "automated_resolution_rate": _rate(self.automated_resolutions, self.evaluated),
            "containment_rate": _rate(self.contained, self.engaged),
            "escalation_rate": _rate(self.escalated, self.engaged),
            "abandonment_rate": _rate(self.abandoned, self.escalated),
            "fallback_rate": _rate(self.fallback_turns, self.turns),
            "out_of_scope_rate": _rate(self.out_of_scope_turns, self.turns),
            "thumbs_up_rate": _rate(self.thumbs_up, self.thumbs_up + self.thumbs_down),
            "csat_average": _ratio(self.csat_sum, self.csat_ratings, 2),
            "llm_cost_per_conversation": _ratio(self.llm_cost, self.engaged, 6),
            "llm_tokens_per_conversation": _ratio(tokens, self.engaged, 1),
        }


def _ratio(part: float, whole: float, digits: int) -> float | None:
    return round(part / whole, digits) if whole else None


def _rate(part: int, whole: int) -> float | None:
    """A share from 0 to 1; None (not 0) when nothing was counted."""
    return _ratio(part, whole, 4)


def nanos(cost: float) -> int:
    return round(cost * 1_000_000_000)


def millis(seconds: float) -> int:
    return round(seconds * 1000)


def ranks(count: int) -> list[int]:
    """The 0-based positions, in ascending order, that the median and the 90th percentile
    of ``count`` values are read from (none of none)."""
    if not count:
        return []
    middle = [count // 2 - 1, count // 2] if count % 2 == 0 else [count // 2]
    return sorted({*middle, min(count - 1, int(0.9 * count))})


def durations(count: int, total_ms: int, at: Mapping[int, int]) -> dict[str, Any]:
    """Count, average, median and 90th percentile in seconds of ``count`` durations in
    milliseconds summing to ``total_ms``; ``at`` maps each of ``ranks(count)`` to the value
    there in ascending order (the rollup reads only those from SQL)."""
    if not count:
        return {"count": 0, "average": None, "median": None, "p90": None}
    half = count // 2
    median = (
        at[half] / 1000 if count % 2 else (at[half - 1] / 1000 + at[half] / 1000) / 2
    )  # as statistics.median does
    return {
        "count": count,
        "average": round(total_ms / count / 1000, 1),
        "median": round(median, 1),
        "p90": round(at[min(count - 1, int(0.9 * count))] / 1000, 1),
    }


def _durations(values: list[int]) -> dict[str, Any]:
    ordered = sorted(values)
    return durations(len(ordered), sum(ordered), {i: ordered[i] for i in ranks(len(ordered))})


_SPACES = re.compile(r"\s+")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def question_key(text: str) -> str:
    """Questions that differ in case, spacing or end punctuation count as one."""
    return _EDGES.sub("", _SPACES.sub(" ", text.casefold()).strip())


def bucket(confidence: float) -> int:
    return next(i for i, top in enumerate(CONFIDENCE_BUCKETS) if confidence <= top or top == 1.0)


class Report:
    """Add facts with ``add``; ``as_json`` is the API's and the dashboard's answer."""

    def __init__(self, filters: Filters) -> None:
        self.filters = filters
        self.totals = Tally()
        self.groups: dict[str, dict[str, Tally]] = {name: {} for name in BREAKDOWNS}
        self.days: dict[str, Tally] = {}
        self.timings: dict[str, list[int]] = {  # milliseconds
            "first_response_bot": [],
            "first_response_human": [],
            "time_to_resolution": [],
            "agent_handle_time": [],
        }
        self.reasons: Counter[str] = Counter()
        self.csat: Counter[int] = Counter()
        self.heat: dict[str, list[int]] = {}
        self.unanswered: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.articles: dict[str, dict[str, Any]] = {}
        # The rollup (analytics_sums.py) gives the timings already summarised.
        self.summaries: dict[str, dict[str, Any]] | None = None

    def add(self, f: Facts) -> None:
        self.totals.add(f)
        for name in BREAKDOWNS:
            key = getattr(f, name) or "(none)"
            self.groups[name].setdefault(key, Tally()).add(f)
        self.days.setdefault(f.created_at.date().isoformat(), Tally()).add(f)
        for name, value in (
            ("first_response_bot", f.first_response_bot_s),
            ("first_response_human", f.first_response_human_s),
            ("time_to_resolution", f.resolution_s),
            ("agent_handle_time", f.handle_s),
        ):
            if value is not None:
                self.timings[name].append(millis(value))
        if f.escalation_reason:
            self.reasons[f.escalation_reason] += 1
        if f.csat is not None:
            self.csat[f.csat] += 1
        for turn in f.turns:
            label = turn.intent or ("(out of scope)" if turn.out_of_scope else "(no intent)")
            self.heat.setdefault(label, [0] * len(CONFIDENCE_BUCKETS))[bucket(turn.confidence)] += 1
            if (turn.fallback or turn.out_of_scope) and turn.text:
                key = question_key(turn.text)
                self.unanswered[key] += 1
                self.examples.setdefault(key, turn.text[:200])
        for answer in f.answers:
            for article_id, title in answer.articles:
                seen = self.articles.setdefault(
                    article_id, {"article_id": article_id, "title": title, "answers": 0}
                )
                seen["answers"] += 1
                seen["up"] = seen.get("up", 0) + answer.up
                seen["down"] = seen.get("down", 0) + answer.down

    def _trend(self) -> list[dict[str, Any]]:
        """Every day of the range, days without conversations included (as zeros)."""
        out, day = [], self.filters.start.date()
        while datetime(day.year, day.month, day.day, tzinfo=self.filters.start.tzinfo) < (
            self.filters.end
        ):
            out.append(
                {"date": day.isoformat(), **self.days.get(day.isoformat(), Tally()).as_json()}
            )
            day += timedelta(days=1)
        return out

    def as_json(self) -> dict[str, Any]:
        heat = sorted(self.heat.items(), key=lambda kv: -sum(kv[1]))[:HEATMAP_INTENTS]
        articles = sorted(self.articles.values(), key=lambda a: (-a["answers"], a["article_id"]))
        return {
            "filters": self.filters.as_json(),
            "totals": self.totals.as_json(),
            "timings_seconds": self.summaries
            or {k: _durations(v) for k, v in self.timings.items()},
            "escalation_reasons": [
                {"reason": r, "count": n} for r, n in self.reasons.most_common()
            ],
            "csat_distribution": {str(r): self.csat.get(r, 0) for r in range(1, 6)},
            "by": {
                name: {key: t.as_json() for key, t in sorted(groups.items())}
                for name, groups in self.groups.items()
            },
            "trend": self._trend(),
            "intent_confidence": {
                "buckets": [f"{top - 0.2:.1f}-{top:.1f}" for top in CONFIDENCE_BUCKETS],
                "intents": [name for name, _ in heat],
                "counts": [row for _, row in heat],
            },
            "unanswered_questions": [
                {"question": self.examples[k], "count": n}
                for k, n in self.unanswered.most_common(TOP_UNANSWERED)
            ],
            "articles": [
                {**a, "helpfulness": _rate(a["up"], a["up"] + a["down"])}
                for a in articles[:TOP_ARTICLES]
            ],
        }


async def build_report(
    store: object, filters: Filters, window: timedelta, now: datetime
) -> dict[str, Any]:
    """The report computed from the raw rows (``analytics.walk``): the reference the rollup
    is tested against, and the answer while the rollup is being built
    (``analytics_sums.report``)."""
    report = Report(filters)
    async for page in walk(store, filters, window, now):
        for facts in page:
            report.add(facts)
    return report.as_json()


CSV_COLUMNS = (
    "conversation_id", "created_at", "channel", "language", "intent", "status",
    "engaged", "customer_messages", "answered_turns", "fallback_turns", "out_of_scope_turns",
    "bot_answers", "person_involved", "escalated", "escalation_reason", "agent_replied",
    "abandoned", "thumbs_up", "thumbs_down", "agent_flags", "csat", "negative_feedback",
    "recontacted", "evaluated", "automated_resolution", "first_response_bot_s",
    "first_response_human_s", "resolution_s", "handle_s", "llm_input_tokens",
    "llm_output_tokens", "llm_cost",
)  # fmt: skip


def csv_row(f: Facts) -> list[Any]:
    """One conversation's CSV row: booleans as 1/0, pending resolution and unknown values
    as empty cells."""
    out: list[Any] = []
    for name in CSV_COLUMNS:
        value = getattr(f, name)
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, str) and value[:1] in FORMULA:
            value = "'" + value  # a spreadsheet must not run a reason text as a formula
        out.append("" if value is None else value)
    return out
