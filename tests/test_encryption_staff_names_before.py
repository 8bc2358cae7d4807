"""Staff names written in clear before they were sealed (migration 0041; docs/security.md
"Encryption at rest"), on SQLite and PostgreSQL, with a keyring and without one.

Status events of staff changes written before held the staff member's name in ``reason``
("claimed by Ana", "transferred to Bo by Ana"), and the analytics rollup's escalation reason
computed from one held it too. The migration splits each as a staff change is written now:
the nameless words in ``reason``, the named ones in ``named_reason``; the rollup takes the
nameless words. Then ``keys reencrypt`` seals ``named_reason`` (``keys status`` counts it as
clear until then), after which a raw read of every table finds no name; without a keyring
the names stay in ``named_reason`` in clear, as new events keep them. The inbox still reads
the named words; the analytics report counts the same escalations, old and new alike."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from smartsupport import analytics_rollup, analytics_sums
from smartsupport.analytics import Filters
from smartsupport.domain import Workspace
from smartsupport.inbox.queue import status_reason
from smartsupport.keyring import new_keyset
from smartsupport.storage import migrator, postgres, sqlite_jobs
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.reencrypt import PLAIN, census, reencrypt
from tests.analyticskit import DAY, WORKSPACE, Seed
from tests.test_encryption_at_rest import leaks, raw_rows
from tests.test_encryption_rotation import opened

NAMES = ("Hopperton", "Zuselkonrad", "Lamarrick")
TEAM = "returns_%"  # LIKE's wildcards in a team's name: compared as they are
ASKED = "customer asked for a human"
FORM = "contact form (refund): the customer left an email address"
WINDOW = timedelta(hours=72)
# Every form the inbox wrote before 0041, as (status, reason with names, other data) -> the
# nameless reason a staff change writes now (inbox/assignment.py, inbox/takeover.py)
OLD_FORMS = [
    ("with_agent", "claimed by Zuselkonrad", {"agent_id": "s2"}, "claimed by an agent"),
    (
        "with_agent",
        "transferred to Lamarrick by Zuselkonrad",
        {"agent_id": "s3"},
        "transferred to an agent",
    ),
    ("resolved", "resolved by Lamarrick", {}, "resolved by an agent"),
    ("with_agent", "reopened by Hopperton", {"agent_id": "s1"}, "reopened by an agent"),
    ("bot", "handed back to the assistant by Hopperton", {}, "handed back to the assistant"),
]


def status(seed: Seed, conversation_id: str, minutes: int, data: dict[str, Any]) -> None:
    at = DAY + timedelta(minutes=minutes)
    seed.events.append((WORKSPACE, conversation_id, "conversation.status", data, at))


def conversations(db: SqlDatabase) -> Seed:
    """Six conversations with status changes as the inbox wrote them before 0041, one as it
    writes them now, and reasons that are no staff member's."""
    s = Seed()
    asked = s.conversation(DAY)  # the customer asked; then a claim
    status(s, asked, 1, {"status": "waiting_for_agent", "reason": ASKED})
    status(s, asked, 2, {"status": "with_agent", "reason": "claimed by Hopperton"})
    claimed = s.conversation(DAY)  # claimed from the bot: the claim is the handoff
    status(s, claimed, 1, {"status": "with_agent", "reason": "claimed by Hopperton"})
    chain = s.conversation(DAY)  # every other form, in one conversation's life
    for minutes, (state, reason, more, _) in enumerate(OLD_FORMS, start=1):
        status(s, chain, minutes, {"status": state, "reason": reason, **more})
    team = s.conversation(DAY)
    status(s, team, 1, {"status": "waiting_for_agent", "team": TEAM,
                        "reason": f"transferred to the {TEAM} team by Hopperton"})  # fmt: skip
    now = s.conversation(DAY)  # written by this release: sealed when there is a keyring
    data = {"status": "with_agent", "reason": "claimed by an agent",
            "named_reason": "claimed by Hopperton", "agent_id": "s1"}  # fmt: skip
    status(s, now, 1, db.fields.sealed_event(WORKSPACE, now, "conversation.status", data))
    form = s.conversation(DAY)
    status(s, form, 1, {"status": "waiting_for_agent", "reason": FORM})
    return s


async def escalation_reasons(db: SqlDatabase) -> Counter[str]:
    filters = Filters(WORKSPACE, DAY - timedelta(days=1), DAY + timedelta(days=2))
    now = DAY + timedelta(days=10)
    report = await analytics_sums.report(db, filters, WINDOW, now)  # from the rollup
    return Counter({r["reason"]: r["count"] for r in report["escalation_reasons"]})


async def migrated_to(db: SqlDatabase) -> set[int]:
    return {r["version"] for r in await db.fetch("SELECT version FROM schema_migrations")}


@pytest.mark.parametrize("keyring", ["keyring", "off"])
async def test_names_written_before_are_split_out_of_reasons_and_sealed(
    database_url, monkeypatch, keyring
):
    keys = new_keyset() if keyring == "keyring" else None

    def before_0041(dialect: str) -> list[migrator.Migration]:
        return [m for m in migrator.discover(dialect) if m.version < 41]

    for module in (postgres, sqlite_jobs):
        monkeypatch.setattr(module, "discover", before_0041)
    db = await opened(database_url, keys)
    try:
        assert 41 not in await migrated_to(db)
        await db.upsert_workspace(Workspace(id=WORKSPACE, name="Demo", config={}))
        await conversations(db).write(db)
        await analytics_rollup.catch_up(db)
        before = await escalation_reasons(db)
        assert before["claimed by Hopperton"] == 1 and before["claimed by Zuselkonrad"] == 1
        found = leaks(await raw_rows(db), NAMES)
        assert {"events", "analytics_rollup"} <= set(found), found  # the names, in clear
    finally:
        await db.close()
    monkeypatch.undo()

    db = await opened(database_url, keys)
    try:
        assert 41 in await migrated_to(db)
        # the report counts the same escalations, each staff change by its nameless words
        after = await escalation_reasons(db)
        assert after == Counter(
            {
                "claimed by an agent": 3,  # Hopperton's and Zuselkonrad's old claims + the new
                ASKED: 1,
                f"transferred to the {TEAM} team": 1,
                FORM: 1,
            }
        )
        assert after.total() == before.total() == 6
        # ... and the rollup holds no name: it was fixed in place, not left to a roll-up
        rolled = await db.fetch("SELECT escalation_reason FROM analytics_rollup")
        assert not leaks({"analytics_rollup": repr(rolled)}, NAMES)

        events = await db.list_events(WORKSPACE, type="conversation.status")
        split = [(e.data["reason"], e.data.get("named_reason")) for e in events]
        for _, named, _, nameless in OLD_FORMS:
            assert (nameless, named) in split
        assert ("claimed by an agent", "claimed by Hopperton") in split
        assert (f"transferred to the {TEAM} team", f"transferred to the {TEAM} team by "
                "Hopperton") in split  # fmt: skip
        assert (ASKED, None) in split and (FORM, None) in split  # no staff change: untouched
        assert [status_reason(e.data) for e in events if e.data.get("named_reason")].count(
            "claimed by Hopperton"
        ) == 3  # what the inbox shows: the named words, old and new

        if keys is None:
            # without a keyring: named_reason in clear, as a store without one writes it
            found = leaks(await raw_rows(db), NAMES)
            assert found == {"events": list(NAMES)}, found
            return
        counted = {p.table: dict(p.keys) for p in await census(db)}["events"]
        assert counted == {PLAIN: 8, keys.primary: 1}  # keys status: 8 left in clear
        done = {p.table: p.changed for p in await reencrypt(db, batch=2)}
        assert done["events"] == 8
        assert {p.table: dict(p.keys) for p in await census(db)}["events"] == {keys.primary: 9}
        assert leaks(await raw_rows(db), NAMES) == {}
        assert sum(p.changed for p in await reencrypt(db)) == 0
        events = await db.list_events(WORKSPACE, type="conversation.status")
        assert sorted(e.data["named_reason"] for e in events if "named_reason" in e.data) == (
            sorted([named for _, named, _, _ in OLD_FORMS] + ["claimed by Hopperton"] * 3
                   + [f"transferred to the {TEAM} team by Hopperton"])
        )  # fmt: skip
        assert await escalation_reasons(db) == after
    finally:
        await db.close()
