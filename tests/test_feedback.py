"""Thumbs on the assistant's answers (visitor token), agents flagging a bad answer (staff
session), the 1-5 rating after a bot-only resolution, and the feedback.given event."""

from __future__ import annotations

from typing import Any

import jsonschema

from smartsupport.events.schema import envelope, schema
from tests.inboxkit import Harness, Visitor, inbox_app


async def answered(h: Harness) -> tuple[Visitor, dict[str, Any]]:
    visitor = await h.visitor()
    turn = await visitor.say("How long does shipping take?")
    replies = [m for m in turn["replies"] if m["author"] == "bot"]
    assert replies, turn
    return visitor, replies[-1]


async def rows(h: Harness) -> list[dict[str, Any]]:
    return await h.services.store.fetch(  # type: ignore[attr-defined,no-any-return]
        "SELECT message_id, rating, reason, source, staff_id FROM answer_feedback ORDER BY source"
    )


async def check_thumbs_and_flags(h: Harness) -> None:
    visitor, reply = await answered(h)
    url = f"/api/v1/conversations/{visitor.id}/messages/{reply['id']}/feedback"
    r = await visitor.client.post(url, json={"rating": -1, "reason": "wrong"}, headers=visitor.auth)
    assert r.status_code == 201, r.text
    assert r.json() == {"message_id": reply["id"], "rating": -1, "reason": "wrong",
                        "source": "customer", "csat_due": False}  # fmt: skip
    # Rating again replaces the rating; a thumbs up in a bot-only conversation asks for CSAT.
    r = await visitor.client.post(url, json={"rating": 1}, headers=visitor.auth)
    assert r.status_code == 201 and r.json()["csat_due"] is True
    csat_url = f"/api/v1/conversations/{visitor.id}/csat"
    csat = await visitor.client.get(csat_url, headers=visitor.auth)
    assert csat.json()["due"] is True
    texts = [m["text"] for m in await visitor.messages()]
    assert any(t.startswith("Glad that helped") for t in texts)
    rated = await visitor.client.post(
        f"/api/v1/conversations/{visitor.id}/csat", json={"rating": 5}, headers=visitor.auth
    )
    assert rated.status_code == 201
    # An agent flags the same answer: a row of its own (source agent).
    agent = await h.staff("ana@example.com", "agent")
    flag = f"/api/v1/inbox/conversations/{visitor.id}/messages/{reply['id']}/flag"
    r = await agent.post(flag, json={"reason": "outdated price"})
    assert r.status_code == 201 and r.json()["source"] == "agent" and r.json()["rating"] == -1
    assert (await agent.post(flag, json={})).status_code == 201  # again: replaces
    assert await rows(h) == [
        {"message_id": reply["id"], "rating": -1, "reason": None, "source": "agent",
         "staff_id": agent.user_id},
        {"message_id": reply["id"], "rating": 1, "reason": None, "source": "customer",
         "staff_id": None},
    ]  # fmt: skip


async def test_thumbs_replace_flags_and_csat_after_a_bot_resolution_on_sqlite(
    sqlite_url: str,
) -> None:
    async with inbox_app(sqlite_url) as h:
        await check_thumbs_and_flags(h)


async def test_thumbs_replace_flags_and_csat_after_a_bot_resolution_on_postgresql(
    postgres_url: str, redis_url: str
) -> None:
    async with inbox_app(postgres_url, redis_url) as h:
        await check_thumbs_and_flags(h)


async def test_bad_ratings_are_refused_clearly(sqlite_url: str) -> None:
    async with inbox_app(sqlite_url) as h:
        visitor, reply = await answered(h)
        messages = await visitor.messages()
        mine = next(m for m in messages if m["author"] == "customer")
        base = f"/api/v1/conversations/{visitor.id}/messages"
        cases = [
            (reply["id"], {"rating": 3}, 422, "invalid_rating"),
            (reply["id"], {"rating": True}, 422, None),
            (mine["id"], {"rating": 1}, 422, "not_a_bot_answer"),
            ("nope", {"rating": 1}, 404, "not_found"),
        ]
        for message_id, body, status, code in cases:
            r = await visitor.client.post(
                f"{base}/{message_id}/feedback", json=body, headers=visitor.auth
            )
            assert r.status_code == status, (body, r.text)
            if code:
                assert r.json()["error"]["code"] == code
        other = await h.visitor("Bob")
        r = await other.client.post(
            f"{base}/{reply['id']}/feedback", json={"rating": 1}, headers=other.auth
        )
        assert r.status_code in (401, 403)  # another visitor's token: not this conversation
        outsider = await h.staff("eve@example.com", "agent", workspaces=["other"])
        r = await outsider.post(
            f"/api/v1/inbox/conversations/{visitor.id}/messages/{reply['id']}/flag", json={}
        )
        assert r.status_code == 403


async def test_no_csat_after_a_thumbs_up_when_turned_off_or_a_person_took_part(
    sqlite_url: str,
) -> None:
    async with inbox_app(sqlite_url, csat_after_bot=False) as h:
        visitor, reply = await answered(h)
        r = await visitor.client.post(
            f"/api/v1/conversations/{visitor.id}/messages/{reply['id']}/feedback",
            json={"rating": 1},
            headers=visitor.auth,
        )
        assert r.json()["csat_due"] is False
    async with inbox_app(sqlite_url) as h:
        visitor, reply = await answered(h)
        await visitor.say("I want to talk to a person please")  # handed to people
        r = await visitor.client.post(
            f"/api/v1/conversations/{visitor.id}/messages/{reply['id']}/feedback",
            json={"rating": 1},
            headers=visitor.auth,
        )
        assert r.json()["csat_due"] is False


def test_feedback_events_match_the_published_schema() -> None:
    validator = jsonschema.Draft202012Validator(schema("feedback.given"))
    answer = {"kind": "answer", "rating": -1, "has_comment": True, "message_id": "m1",
              "source": "agent"}  # fmt: skip
    csat = {"kind": "csat", "rating": 4, "has_comment": False}
    for data in (answer, csat):
        validator.validate(envelope("feedback.given", "demo", "c1", data))
    for wrong in ({**answer, "rating": 3}, {**csat, "rating": -1}, {**answer, "message_id": None}):
        assert not validator.is_valid(envelope("feedback.given", "demo", "c1", wrong))
