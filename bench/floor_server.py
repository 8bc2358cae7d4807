"""The floor: the least a durable chat server must do per turn, to measure smartsupport against.

    python bench/floor_server.py --port 8100 --data-dir /tmp/floor

It speaks the part of the widget's protocol that ``bench/ws_load.py`` uses (open a
conversation, the socket's hello/ready, a customer message in, the bot's reply out, the
messages read back) and does nothing else: per turn one SQLite transaction that stores the
customer's message and an echo reply (WAL, ``synchronous = NORMAL``, as smartsupport's
embedded store), then one reply frame. No understanding, no locks across processes, no
fan-out, no telemetry. ``ws_load.py --floor`` runs it in the same benchmark run, so every
figure is also given as a ratio to this one (issue 18).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
import time
import uuid
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Header, HTTPException, WebSocket, WebSocketDisconnect


def create_app(data_dir: Path) -> FastAPI:
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / "floor.db", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.executescript(
        "CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, token TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
        " author TEXT NOT NULL, text TEXT NOT NULL, client_id TEXT, created_at REAL NOT NULL);"
        "CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id);"
    )
    app = FastAPI()

    @app.get("/readyz")
    async def ready() -> dict:
        return {"status": "ok"}

    @app.post("/api/v1/conversations")
    async def open_conversation() -> dict:
        conversation, token = uuid.uuid4().hex, secrets.token_urlsafe(24)
        db.execute("INSERT INTO conversations VALUES (?, ?)", (conversation, token))
        return {"id": conversation, "token": token}

    def token_of(conversation: str) -> str | None:
        row = db.execute("SELECT token FROM conversations WHERE id = ?", (conversation,)).fetchone()
        return row[0] if row else None

    @app.get("/api/v1/conversations/{conversation}/messages")
    async def read_back(conversation: str, authorization: str = Header("")) -> dict:
        if authorization != f"Bearer {token_of(conversation)}":
            raise HTTPException(401)
        rows = db.execute(
            "SELECT id, author, text, client_id FROM messages WHERE conversation_id = ?"
            " ORDER BY created_at",
            (conversation,),
        ).fetchall()
        keys = ("id", "author", "text", "client_id")
        return {"messages": [dict(zip(keys, row, strict=True)) for row in rows]}

    @app.websocket("/api/v1/conversations/{conversation}/ws")
    async def socket(ws: WebSocket, conversation: str) -> None:
        await ws.accept()
        hello = json.loads(await ws.receive_text())
        if hello.get("token") != token_of(conversation):
            await ws.close(4401)
            return
        await ws.send_text(json.dumps({"type": "ready"}))
        try:
            while True:
                frame = json.loads(await ws.receive_text())
                now = time.time()
                reply = {"id": uuid.uuid4().hex, "author": "bot", "text": frame["text"]}
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (uuid.uuid4().hex, conversation, "customer", frame["text"],
                         frame.get("client_id"), now),
                        (reply["id"], conversation, "bot", reply["text"], None, now + 1e-6),
                    ],
                )  # fmt: skip
                db.execute("COMMIT")
                await ws.send_text(json.dumps({"type": "message", "message": reply}))
        except WebSocketDisconnect:
            return

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    # As `smartsupport serve` runs: one process, uvloop/httptools when installed, no
    # per-message compression, no access log.
    uvicorn.run(
        create_app(args.data_dir),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
