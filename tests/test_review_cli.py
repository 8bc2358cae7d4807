"""``smartsupport review ...`` as an operator runs it: an empty queue, a CSV of past chats
imported into suggestions, one accepted, a refused decision (a deleted intent, a broken
file: exit status 2 and the reason, no traceback), and a retraining that deploys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.reviewkit import SHOP


def review(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsupport", "review", *args, "--workspace", "shop"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_import_accept_and_retrain_from_the_command_line(tmp_path: Path) -> None:
    workspaces = tmp_path / "workspaces"
    workspaces.mkdir()
    (workspaces / "shop").symlink_to(SHOP, target_is_directory=True)
    env = {
        "SMARTSUPPORT_DATA_DIR": str(tmp_path / "data"),
        "SMARTSUPPORT_DEMO": "false",
        "SMARTSUPPORT_WORKSPACES_DIR": str(workspaces),
    }
    empty = review(env, "queue")
    assert empty.returncode == 0, empty.stderr
    assert "nothing to review in the last 30 days" in empty.stdout

    chats = tmp_path / "chats.csv"
    rows = ["conversation_id,author,text"]
    for n, question in enumerate(
        ["do you sell gift cards", "can I buy a gift card", "gift vouchers available?"]
    ):
        rows += [f"c{n},customer,{question}", f"c{n},agent,Yes, from 10 EUR."]
    chats.write_text("\n".join(rows) + "\n", encoding="utf-8")
    imported = review(env, "import", str(chats))
    assert imported.returncode == 0, imported.stderr
    assert "3 questions (3 answered)" in imported.stdout

    broken = tmp_path / "broken.csv"
    broken.write_text("who,what\nme,hi\n", encoding="utf-8")
    refused = review(env, "import", str(broken))
    assert refused.returncode == 2 and "missing column(s)" in refused.stderr
    assert "Traceback" not in refused.stderr

    listed = json.loads(review(env, "suggestions", "--json").stdout)["suggestions"]
    intent = next(s for s in listed if s["kind"] == "intent")
    accepted = review(env, "accept", intent["id"], "--name", "gift_cards")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["action"] == "new_intent"

    deleted = review(env, "decide", "abc", "--action", "assign", "--intent", "warranty")
    assert deleted.returncode == 2 and "'warranty' does not exist" in deleted.stderr

    trained = review(env, "retrain", "--json")
    assert trained.returncode == 0, trained.stderr
    model = json.loads(trained.stdout)
    assert model["status"] == "deployed", model
    assert model["evaluation"]["trained_on"]["written"] == 24
