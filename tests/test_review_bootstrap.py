"""Bootstrap from history: Zendesk ticket exports (the Tickets / Incremental Export API page,
a JSON array, the account export's one ticket per line) and conversation CSVs become
suggested intents and FAQ entries; accepting writes a new intent's examples (trained in by
the next retraining) and a help article; broken files are refused with where and why."""

from __future__ import annotations

import json

import pytest

from smartsupport.errors import InvalidInput
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.review.history import read_history
from smartsupport.review.store import ReviewStore
from tests.reviewkit import review_app

# The shape of Zendesk's ticket objects (developer.zendesk.com, Tickets API "JSON format";
# comments as in the Ticket Comments API: author_id, body, plain_body, public).
GIFT = ["Do you sell gift cards?", "Can I buy a gift card for my mother?",
        "Are gift vouchers available online?", "gift card for a birthday present"]  # fmt: skip
ANSWER = "Yes: gift cards from 10 to 200 EUR are on the Gift cards page of the shop."


def ticket(n: int, question: str, answer: str | None = None) -> dict:
    comments = [{"id": n * 10, "author_id": 500 + n, "body": question, "public": True}]
    if answer:
        comments.append({"id": n * 10 + 1, "author_id": 7, "body": answer, "public": True})
        comments.append({"id": n * 10 + 2, "author_id": 7, "body": "internal", "public": False})
    return {
        "id": n, "subject": question[:30], "description": question, "status": "solved",
        "requester_id": 500 + n, "created_at": f"2026-01-0{n % 9 + 1}T10:00:00Z",
        "comments": comments,
    }  # fmt: skip


def test_zendesk_exports_in_their_three_shapes() -> None:
    tickets = [ticket(i, q, ANSWER if i == 1 else None) for i, q in enumerate(GIFT)]
    page = json.dumps({"tickets": tickets, "next_page": None, "end_of_stream": True}).encode()
    ndjson = "\n".join(json.dumps(t) for t in tickets).encode()
    for name, data in (
        ("tickets.json", page),
        ("array.json", json.dumps(tickets).encode()),
        ("export.json", ndjson),
    ):
        found = read_history(name, data)
        assert [e.question for e in found] == GIFT
        assert [e.answer for e in found] == [None, ANSWER, None, None]


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("t.json", b"", "empty"),
        ("t.json", b"\xff\xfe", "UTF-8"),
        ("t.json", b"[1, 2", "not JSON"),
        ("t.json", b'{"users": []}', "not tickets"),
        ("t.json", b'{"id": 1, "description": "a"}\n{oops', "line 2"),
        ("t.json", b"[3]", "ticket 1 is not a JSON object"),
        ("t.json", b'{"tickets": []}', "no customer questions"),
        ("c.csv", b"id,who,message\n1,customer,hi\n", "missing column(s) conversation_id"),
        ("c.csv", b"conversation_id,author,text\n1,robot,hi\n", "line 2: author 'robot'"),
        ("c.csv", b'conversation_id,author,text\n1,customer,"open\n', "malformed CSV"),
    ],
)
def test_broken_files_are_refused_with_where_and_why(name, data, says) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_history(name, data)
    assert says in refused.value.message


def test_a_conversation_csv_gives_first_question_and_first_answer() -> None:
    data = (
        b"conversation_id,author,text\n"
        b"c1,customer,Do you sell gift cards?\nc1,agent,Yes we do.\nc1,customer,thanks\n"
        b"c2,bot,Hello!\nc2,visitor,where is my order\n"
    )
    found = read_history("chats.csv", data)
    assert [(e.question, e.answer) for e in found] == [
        ("Do you sell gift cards?", "Yes we do."),
        ("where is my order", None),
    ]


async def test_import_suggest_accept_and_refuse(postgres_url, tmp_path) -> None:
    async with review_app(postgres_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        tickets = [ticket(i, q, ANSWER if i == 1 else None) for i, q in enumerate(GIFT)]
        tickets.append(ticket(9, "My parcel has not arrived yet"))
        r = await sup.post(
            "/api/v1/review/shop/imports?name=tickets.json",
            content=json.dumps({"tickets": tickets}).encode(),
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["questions"] == 5 and report["answered"] == 1
        assert report["intent_suggestions"] == 1 and report["faq_suggestions"] == 1
        broken = await sup.post("/api/v1/review/shop/imports?name=t.json", content=b"[1, 2")
        assert broken.status_code == 422 and "not JSON" in broken.json()["error"]["message"]

        found = (await sup.get("/api/v1/review/shop/suggestions")).json()["suggestions"]
        intent = next(s for s in found if s["kind"] == "intent")
        faq = next(s for s in found if s["kind"] == "faq")
        assert "gift" in intent["name"] and set(intent["examples"]) == set(GIFT)
        assert faq["answer"] == ANSWER and faq["name"] in GIFT

        r = await sup.post(
            f"/api/v1/review/shop/suggestions/{intent['id']}/accept", json={"name": "gift_cards"}
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"intent": "gift_cards", "examples": 4, "action": "new_intent"}
        decisions = await ReviewStore(h.services.store).decisions("shop")
        assert sorted(d.text for d in decisions) == sorted(GIFT)
        assert {d.intent for d in decisions} == {"gift_cards"}
        again = await sup.post(f"/api/v1/review/shop/suggestions/{intent['id']}/accept")
        assert again.status_code == 409

        r = await sup.post(f"/api/v1/review/shop/suggestions/{faq['id']}/accept")
        assert r.status_code == 200, r.text
        articles = await KnowledgeBase(h.services.store).list_articles("shop")  # type: ignore[arg-type]
        assert [a.title for a in articles] == [faq["name"]]
        hits = await KnowledgeBase(h.services.store).search("shop", "gift cards price")  # type: ignore[arg-type]
        assert hits and "Gift cards page" in hits[0].text

        assert (await sup.get("/api/v1/review/shop/suggestions")).json()["suggestions"] == []
        gone = await sup.post("/api/v1/review/shop/suggestions/nope/reject")
        assert gone.status_code == 404
