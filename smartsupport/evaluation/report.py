"""The figures of a run: totals, per language and per category, as one JSON object or a
readable table (docs/evaluation.md defines each figure).

    resolved_pct             resolved / resolvable conversations
    wrong_pct, off_target_pct, refused_clarified_pct, error_pct
                             of all conversations
    escalation_recall_pct    escalated / must_escalate conversations
    false_escalations        escalated conversations that were not must_escalate (count, %)
    abstained_pct            unanswerable conversations refused/clarified or escalated
    in_language_pct          conversations whose last bot reply is in their language
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from smartsupport.evaluation.runner import Row, Run
from smartsupport.evaluation.scoring import OUTCOMES
from smartsupport.evaluation.suite import CATEGORIES, LANGUAGES


def figures(rows: list[Row]) -> dict[str, Any]:
    """The figures of a set of scored conversations."""
    outcomes = Counter(r.score.outcome for r in rows)
    by_category: Counter[str] = Counter(r.case.category for r in rows)
    resolvable = [r for r in rows if r.case.category == "resolvable"]
    must = [r for r in rows if r.case.category == "must_escalate"]
    unanswerable = [r for r in rows if r.case.category == "unanswerable"]
    others = [r for r in rows if r.case.category != "must_escalate"]
    false_escalations = sum(r.score.outcome == "escalated" for r in others)
    return {
        "conversations": len(rows),
        "categories": {c: by_category[c] for c in CATEGORIES},
        "outcomes": {o: outcomes[o] for o in OUTCOMES},
        "resolved_pct": _of(sum(r.score.outcome == "resolved" for r in resolvable), resolvable),
        "wrong_pct": _of(outcomes["wrong"], rows),
        "off_target_pct": _of(outcomes["off_target"], rows),
        "refused_clarified_pct": _of(outcomes["refused_clarified"], rows),
        "error_pct": _of(outcomes["error"], rows),
        "escalation_recall_pct": _of(sum(r.score.outcome == "escalated" for r in must), must),
        "false_escalations": false_escalations,
        "false_escalation_pct": _of(false_escalations, others),
        "abstained_pct": _of(
            sum(r.score.outcome in ("refused_clarified", "escalated") for r in unanswerable),
            unanswerable,
        ),
        "in_language_pct": _of(sum(r.score.in_language for r in rows), rows),
    }


def report(run: Run, suite: str) -> dict[str, Any]:
    """The whole JSON report of a run."""
    rows = run.rows
    languages = [x for x in LANGUAGES if any(r.case.language == x for r in rows)]
    categories = [c for c in CATEGORIES if any(r.case.category == c for r in rows)]
    return {
        "suite": suite,
        "settings": run.settings,
        "totals": figures(rows),
        "by_language": {x: figures([r for r in rows if r.case.language == x]) for x in languages},
        "by_category": {c: figures([r for r in rows if r.case.category == c]) for c in categories},
        "timing": _timing(run),
        "rows": [_row(r) for r in rows],
    }


def _of(count: int, rows: list[Row]) -> float | None:
    return round(100.0 * count / len(rows), 1) if rows else None


def _timing(run: Run) -> dict[str, Any]:
    turn_ms = sorted(e.ms for r in run.rows for e in r.transcript.exchanges if e.ms is not None)
    slowest = sorted(run.rows, key=lambda r: -r.seconds)[:5]
    return {
        "assemble_seconds": round(run.assemble_seconds, 2),
        "conversations_seconds": round(run.run_seconds, 2),
        "turns": len(turn_ms),
        "turn_ms_p50": round(statistics.median(turn_ms), 1) if turn_ms else None,
        "turn_ms_p95": round(_percentile(turn_ms, 0.95), 1) if turn_ms else None,
        "turn_ms_max": round(turn_ms[-1], 1) if turn_ms else None,
        "slowest_conversations": [
            {"id": r.case.id, "seconds": round(r.seconds, 3)} for r in slowest
        ],
    }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(row: Row) -> dict[str, Any]:
    score = row.score
    return {
        "id": row.case.id,
        "language": row.case.language,
        "category": row.case.category,
        "outcome": score.outcome,
        "reason": score.reason,
        "reply_language": score.reply_language,
        "in_language": score.in_language,
        "offered_person": score.offered_person,
        "seconds": round(row.seconds, 3),
        "turns": [
            {
                "customer": e.customer,
                "intent": e.intent,
                "status": e.status,
                "replies": [
                    {"text": r.text, "step": r.step, "cited": list(r.cited)} for r in e.replies
                ],
            }
            for e in row.transcript.exchanges
        ],
        **({"error": row.error} if row.error else {}),
    }


# -- the readable table -------------------------------------------------------------------

_COLUMNS = (
    ("n", "conversations", "{}"),
    ("resolved", "resolved_pct", "{}%"),
    ("wrong", "wrong_pct", "{}%"),
    ("off-target", "off_target_pct", "{}%"),
    ("refused", "refused_clarified_pct", "{}%"),
    ("esc. recall", "escalation_recall_pct", "{}%"),
    ("false esc.", "false_escalations", "{}"),
    ("in language", "in_language_pct", "{}%"),
)


def table(result: dict[str, Any], *, failures: bool = True) -> str:
    """The report as text: one line per language and category, then what went wrong."""
    head = ["", *(name for name, _, _ in _COLUMNS)]
    lines = [head]
    for label, block in [
        *((x, f) for x, f in result["by_language"].items()),
        *((c, f) for c, f in result["by_category"].items()),
        ("all", result["totals"]),
    ]:
        lines.append([label, *(_cell(block.get(key), fmt) for _, key, fmt in _COLUMNS)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(
            zip(line, widths, strict=True)
        ))
        for line in lines
    ]  # fmt: skip
    timing = result["timing"]
    text.append("")
    text.append(
        f"start-up {timing['assemble_seconds']} s, conversations {timing['conversations_seconds']}"
        f" s, turn p50 {timing['turn_ms_p50']} ms, p95 {timing['turn_ms_p95']} ms"
    )
    if failures:
        text += _failures(result["rows"])
    return "\n".join(text)


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _failures(rows: Iterable[dict[str, Any]]) -> list[str]:
    wanted = {"resolvable": "resolved", "must_escalate": "escalated"}
    lines = []
    for row in rows:
        good = wanted.get(row["category"], "refused_clarified")
        if row["outcome"] == good or (
            row["category"] == "unanswerable" and row["outcome"] == "escalated"
        ):
            continue
        lines.append(f"  {row['id']:<28} {row['outcome']:<18} {row['reason']}")
    if lines:
        lines.insert(0, "\nnot as expected:")
    return lines
