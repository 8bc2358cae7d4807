"""What customer memory changes when a verified customer comes back days later.

    .venv/bin/python bench/memory_effect.py [tests/conversations] [--json]

Takes the return-visit conversation scripts (``earlier`` visits, and a visit that comes back
carrying the signed identity and ends on an order: tests/conversations/return_visit_*.yaml)
and plays each twice on the demo workspace and its shop API:

    memory on    as the assistant runs: flows read ``customer_memory.remembered``
    memory off   the same with that look-up disabled here (``DialogueManager.recall`` left
                 None); there is no setting that turns memory off, so only this benchmark does

The earlier visits play as written, are resolved, aged and remembered by the product's own
code (dialogue/visits.py). The visit that comes back is played by a simulated customer who
knows what they came for (the order the script's visit ends on, the answer it expects, the
return reason if any) and answers what the bot asks: the order number when asked for it; "yes"
in their language to a question naming their order, their order number to one naming another;
the reason when asked (their order number when the script gives no reason: they cannot tell
which order the bot means); and, when the bot answered about another order, their first
message again with the order number. Printed per script and mode: turns (customer messages)
until the answer, the bot's replies meanwhile, the answers about another order on the way,
and whether the customer had to type the order number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartsupport.context import ConversationContext
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.script_play import Player
from smartsupport.dialogue.scripts import (
    Script,
    ScriptHarness,
    ScriptResult,
    come_back,
    load_scripts,
)
from smartsupport.dialogue.visits import Visits
from smartsupport.workspaces import DEMO_DIR, WorkspaceConfig, load_workspace_dir

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "conversations"
MAX_TURNS = 6  # a customer who has not got the answer by then has given up
YES = {"en": "yes", "es": "sí", "fr": "oui", "de": "ja", "it": "sì", "pt": "sim", "zh": "是的",
       "ja": "はい", "ar": "نعم"}  # fmt: skip


@dataclass
class Goal:
    opening: str
    order: str
    answer: list[str]
    reason: str | None = None


@dataclass
class Outcome:
    script: str
    memory: bool
    turns: int = 0
    replies: int = 0
    retyped: bool = False
    wrong: int = 0  # flows that ended with an answer about another order
    answered: bool = False
    earlier_failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


def goal_of(script: Script) -> Goal | None:
    """What the customer of a return-visit script came for, from its expectations."""
    if not script.earlier or not script.identity or script.erased:
        return None
    orders = [t.expect.slots["order_id"] for t in script.turns if "order_id" in t.expect.slots]
    reasons = [t.expect.slots["reason"] for t in script.turns if "reason" in t.expect.slots]
    if not orders or not script.turns[-1].expect.says:
        return None
    return Goal(
        script.turns[0].user,
        orders[-1],
        script.turns[-1].expect.says,
        reasons[-1] if reasons else None,
    )


def next_message(state: dict[str, Any], said: str, goal: Goal) -> str:
    """The simulated customer's answer to what the bot just said (module docstring)."""
    active = state.get("active") or {}
    if active.get("confirming") is not None:
        return YES.get(active.get("language") or "en", "yes") if goal.order in said else goal.order
    if active.get("asking") == "order_id":
        return goal.order
    if active.get("asking") == "reason" and goal.reason:
        return goal.reason
    return f"{goal.opening} {goal.order}"


async def measure(
    harness: ScriptHarness, workspace: WorkspaceConfig, script: Script, goal: Goal, memory: bool
) -> Outcome:
    outcome = Outcome(Path(script.path).stem, memory)
    harness.shop.reset()
    manager = DialogueManager(
        {workspace.id: workspace}, None, None, backend_urls={"shop": harness.shop.url}
    )
    assert harness.understand is not None
    player = Player(workspace, manager, harness.understand)
    try:
        async with Visits(workspace) as visits:
            if memory:
                manager.recall = visits.recall
            earlier = ScriptResult(script)
            conversation = await come_back(script, player, visits, earlier)
            outcome.earlier_failures = earlier.failures
            context = ConversationContext(conversation.id)
            text = goal.opening
            for number in range(1, MAX_TURNS + 1):
                played = await player.play(number, text, conversation, context)
                await played.store(visits, conversation)
                outcome.transcript += played.transcript(number)
                context = ConversationContext.from_json(context.to_json())
                outcome.turns, outcome.replies = number, outcome.replies + len(played.replies)
                outcome.retyped = outcome.retyped or (number > 1 and goal.order in text)
                said = "\n".join(r.text for r in played.replies)
                if all(f.casefold() in said.casefold() for f in goal.answer):
                    outcome.answered = True
                    break
                outcome.wrong += played.observed["status"] == "completed"
                text = next_message(played.state, said, goal)
    finally:
        await manager.aclose()
    return outcome


async def run(path: Path) -> list[Outcome]:
    workspace = load_workspace_dir(DEMO_DIR)
    chosen = [(s, g) for s in load_scripts(path) if (g := goal_of(s)) is not None]
    outcomes = []
    async with ScriptHarness({workspace.id: workspace}) as harness:
        for script, goal in chosen:
            for memory in (False, True):
                outcomes.append(await measure(harness, workspace, script, goal, memory))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| script | memory | turns to the answer | bot replies | answers about another order "
        "| order typed again | answered |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.script} | {'on' if o.memory else 'off'} | {o.turns} | {o.replies} | {o.wrong} | "
            f"{'yes' if o.retyped else 'no'} | {'yes' if o.answered else 'NO'} |"
        )
    for memory in (False, True):
        mine = [o for o in outcomes if o.memory is memory]
        if mine:
            lines.append(
                f"| **all {len(mine)}** | {'on' if memory else 'off'} | "
                f"{sum(o.turns for o in mine)} | {sum(o.replies for o in mine)} | "
                f"{sum(o.wrong for o in mine)} | "
                f"{sum(o.retyped for o in mine)} of {len(mine)} | "
                f"{sum(o.answered for o in mine)} of {len(mine)} |"
            )
    return "\n".join(lines)


def machine() -> str:
    """The CPU model and core count, for the figures' record."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    return f"{names[0] if names else platform.machine()}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=SCRIPTS)
    parser.add_argument("--json", action="store_true", help="one JSON object per outcome")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each visit")
    args = parser.parse_args()
    outcomes = asyncio.run(run(args.path))
    broken = [f for o in outcomes for f in o.earlier_failures]
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes], ensure_ascii=False, indent=1))
    else:
        for o in outcomes if args.verbose else []:
            print(f"{o.script}, memory {'on' if o.memory else 'off'}:", *o.transcript, sep="\n")
        print(f"{machine()}, {len(outcomes) // 2} scripts")
        print(table(outcomes))
    if broken:
        raise SystemExit("earlier visits did not play as written:\n" + "\n".join(broken))


if __name__ == "__main__":
    main()
