"""What the LLM check of automated resolutions found, for the report, and reviewers' own
verdicts to compare it with (docs/analytics.md, "The LLM check of automated resolutions").

    await review(store, workspace_id, conversation_id, verdict, reason, staff_id)
                                            a supervisor's or admin's verdict (replaces theirs)
    await summary(store, filters, window, now, enabled)   the report's ``resolution_check``
    await listing(store, filters, window, now)            the range's automated resolutions
                                                          with both verdicts, for reviewers
    await facets(store, filters, window, now)             their channels, languages, intents
    await verdicts(store, workspace_id, conversation_id)  one conversation's verdicts
    kappa(table)                            Cohen's kappa of a 2 x 2 agreement table

The conversations are the report's automated resolutions of the range (the rollup rows with
``passes`` and ``decided``, ``analytics_daily.Scope``), so the section always speaks of the
same conversations as ``totals.automated_resolutions``. A model's verdict counts only if it
was given for the conversation's current last message. Agreement is measured where both
judged: the model said resolved or not_resolved (unclear and invalid are no judgement) and a
reviewer gave a verdict.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from smartsupport.analytics import Filters
from smartsupport.analytics_daily import Scope
from smartsupport.analytics_rollup import moment
from smartsupport.analytics_sums import ready
from smartsupport.domain import utcnow
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.storage.base import SqlDatabase

HUMAN_VERDICTS = ("resolved", "not_resolved")
LLM_VERDICTS = ("resolved", "not_resolved", "unclear", "invalid")
MAX_REASON = 500
LISTED = 200

_JOINED = """{rows}
SELECT {columns} FROM x
LEFT JOIN resolution_checks v ON v.conversation_id = x.conversation_id AND v.last_us = x.last_us
LEFT JOIN resolution_reviews h ON h.conversation_id = x.conversation_id
WHERE x.passes = 1 AND x.decided = 1"""


def _db(store: object) -> SqlDatabase:
    return cast(SqlDatabase, store)


async def review(
    store: object,
    workspace_id: str,
    conversation_id: str,
    verdict: str,
    reason: str | None,
    staff_id: str | None,
) -> dict[str, Any]:
    """Store a reviewer's verdict on one conversation of the workspace (the latest replaces
    the earlier one). NotFound for a conversation of another workspace or none."""
    if verdict not in HUMAN_VERDICTS:
        raise InvalidInput(
            f"verdict must be one of {', '.join(HUMAN_VERDICTS)}", code="invalid_verdict"
        )
    reason = (reason or "").strip()[:MAX_REASON] or None
    db = _db(store)
    found = await db.fetchrow(
        "SELECT id FROM conversations WHERE id = ? AND workspace_id = ?",
        conversation_id,
        workspace_id,
    )
    if found is None:
        raise NotFound(f"no conversation {conversation_id!r} in workspace {workspace_id!r}")
    now = utcnow()
    await db.execute(
        "INSERT INTO resolution_reviews (conversation_id, workspace_id, verdict, reason, "
        "staff_id, reviewed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id) DO "
        "UPDATE SET verdict = excluded.verdict, reason = excluded.reason, "
        "staff_id = excluded.staff_id, reviewed_at = excluded.reviewed_at",
        conversation_id, workspace_id, verdict,
        db.fields.seal("resolution_reviews", "reason", conversation_id, reason), staff_id, now,
    )  # fmt: skip
    return {
        "conversation_id": conversation_id,
        "verdict": verdict,
        "reason": reason,
        "reviewed_at": now.isoformat(),
    }


def kappa(table: dict[tuple[str, str], int]) -> float | None:
    """Cohen's kappa of (model, reviewer) -> count over resolved / not_resolved; None when
    nothing was judged by both or chance agreement is total (every verdict the same)."""
    n = sum(table.values())
    if n == 0:
        return None
    observed = sum(c for (a, b), c in table.items() if a == b) / n
    chance = 0.0
    for v in HUMAN_VERDICTS:
        model = sum(c for (a, _), c in table.items() if a == v) / n
        human = sum(c for (_, b), c in table.items() if b == v) / n
        chance += model * human
    if chance >= 1.0:
        return None
    return round((observed - chance) / (1 - chance), 4)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def summary(
    store: object, filters: Filters, window: timedelta, now: datetime, *, enabled: bool
) -> dict[str, Any]:
    """The report's ``resolution_check`` section (docs/analytics.md defines each field)."""
    db = _db(store)
    complete = await ready(store, filters)  # False while a backfill of the rollup runs
    rows, args = Scope(filters, window, now).conversations()
    found = await db.fetch(
        _JOINED.format(
            rows=rows,
            columns="v.verdict AS llm, h.verdict AS human, COUNT(*) AS n, "
            "SUM(v.input_tokens) AS input_tokens, SUM(v.output_tokens) AS output_tokens, "
            "SUM(v.cost_nanos) AS cost_nanos",
        )
        + " GROUP BY v.verdict, h.verdict",
        *args,
    )
    llm = dict.fromkeys(LLM_VERDICTS, 0)
    table: dict[tuple[str, str], int] = {}
    total = reviewed = tokens_in = tokens_out = cost = 0
    for r in found:
        n = int(r["n"])
        total += n
        if r["llm"] is not None:
            llm[r["llm"]] += n
            tokens_in += int(r["input_tokens"] or 0)
            tokens_out += int(r["output_tokens"] or 0)
            cost += int(r["cost_nanos"] or 0)
        if r["human"] is not None:
            reviewed += n
            if r["llm"] in HUMAN_VERDICTS:
                table[(r["llm"], r["human"])] = table.get((r["llm"], r["human"]), 0) + n
    checked = sum(llm.values())
    both = sum(table.values())
    agreements = sum(c for (a, b), c in table.items() if a == b)
    return {
        "enabled": enabled,
        "complete": complete,
        "automated_resolutions": total,
        "checked": checked,
        "unchecked": total - checked,
        "llm_confirmed": llm["resolved"],
        "llm_not_resolved": llm["not_resolved"],
        "llm_unclear": llm["unclear"],
        "llm_invalid": llm["invalid"],
        "llm_confirmed_rate": _rate(llm["resolved"], checked),
        "human_reviewed": reviewed,
        "both_judged": both,
        "agreements": agreements,
        "agreement_rate": _rate(agreements, both),
        "cohen_kappa": kappa(table),
        "confusion": [
            {"llm": a, "human": b, "conversations": table.get((a, b), 0)}
            for a in HUMAN_VERDICTS
            for b in HUMAN_VERDICTS
        ],
        "llm_input_tokens": tokens_in,
        "llm_output_tokens": tokens_out,
        "llm_cost": round(cost / 1_000_000_000, 9),
    }


async def listing(
    store: object, filters: Filters, window: timedelta, now: datetime, *, limit: int = LISTED
) -> list[dict[str, Any]]:
    """The range's automated resolutions, newest first, each with the model's verdict (for
    its current last message) and the reviewer's, for reviewers to pick from."""
    db = _db(store)
    await ready(store, filters)
    rows, args = Scope(filters, window, now).conversations()
    found = await db.fetch(
        _JOINED.format(
            rows=rows,
            columns="x.conversation_id, x.created_us, x.channel, x.language, x.intent, "
            "v.verdict AS llm, v.reason AS llm_reason, v.step, "
            "h.verdict AS human, h.reason AS human_reason",
        )
        + " ORDER BY x.created_us DESC, x.conversation_id LIMIT ?",
        *args,
        limit,
    )
    out = []
    for r in found:
        c = r["conversation_id"]
        out.append(
            {
                "conversation_id": c,
                "created_at": moment(int(r["created_us"])).isoformat(),
                "channel": r["channel"],
                "language": r["language"],
                "intent": r["intent"],
                "llm_verdict": r["llm"],
                "llm_reason": db.fields.open("resolution_checks", "reason", c, r["llm_reason"]),
                "llm_step": r["step"],
                "human_verdict": r["human"],
                "human_reason": db.fields.open(
                    "resolution_reviews", "reason", c, r["human_reason"]
                ),
            }
        )
    return out


async def facets(
    store: object, filters: Filters, window: timedelta, now: datetime
) -> dict[str, list[str]]:
    """The channels, languages and intents among the range's automated resolutions, the
    other filters aside: the review page's filter choices."""
    wide = replace(filters, channel=None, language=None, intent=None)
    rows, args = Scope(wide, window, now).conversations()
    found = await _db(store).fetch(
        rows + "\nSELECT DISTINCT channel, language, intent FROM x "
        "WHERE passes = 1 AND decided = 1",
        *args,
    )
    names = ("channel", "language", "intent")
    return {n: sorted({str(r[n]) for r in found if r[n] is not None}) for n in names}


async def verdicts(store: object, workspace_id: str, conversation_id: str) -> dict[str, Any]:
    """One conversation's model and reviewer verdicts, for the review page. ``llm_current``
    says whether the model's was given for the conversation's last message as the rollup
    knows it (a later message makes it stale until the next check). NotFound for a
    conversation of another workspace or none."""
    db = _db(store)
    row = await db.fetchrow(
        "SELECT c.id, c.channel, r.created_us, r.last_us, r.language, r.intent, "
        "v.last_us AS checked_us, v.verdict AS llm, v.reason AS llm_reason, v.step, "
        "h.verdict AS human, h.reason AS human_reason FROM conversations c "
        "LEFT JOIN analytics_rollup r ON r.conversation_id = c.id "
        "LEFT JOIN resolution_checks v ON v.conversation_id = c.id "
        "LEFT JOIN resolution_reviews h ON h.conversation_id = c.id "
        "WHERE c.id = ? AND c.workspace_id = ?",
        conversation_id,
        workspace_id,
    )
    if row is None:
        raise NotFound(f"no conversation {conversation_id!r} in workspace {workspace_id!r}")
    c, started = conversation_id, row["created_us"]
    return {
        "conversation_id": c,
        "created_at": moment(int(started)).isoformat() if started is not None else None,
        "channel": row["channel"],
        "language": row["language"],
        "intent": row["intent"],
        "llm_verdict": row["llm"],
        "llm_reason": db.fields.open("resolution_checks", "reason", c, row["llm_reason"]),
        "llm_step": row["step"],
        "llm_current": row["llm"] is not None and row["checked_us"] == row["last_us"],
        "human_verdict": row["human"],
        "human_reason": db.fields.open("resolution_reviews", "reason", c, row["human_reason"]),
    }
