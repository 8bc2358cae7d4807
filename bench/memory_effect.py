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

Continuing a previous case (tests/conversations/continue_case_*.yaml, measured apart from the
above): a verified customer comes back and refers to an earlier conversation ("any news on my
refund?", "following up on my last chat") that was answered, taken over by our team or left
with an open helpdesk ticket. Its first message is played with memory off and on (on: the
flows' ``remembered`` and ``previous_case``, as the assistant runs); printed: whether the reply
names the earlier case's order, tells where it was left (the words the script expects: what
our team wrote, the ticket and its status), asks for the order number, answers about another
order (a flow that ended on a different one), or had nothing to say (no flow took it: the
assistant's fallback), the bot's replies, and the wall time of reading the case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartsupport.context import ConversationContext
from smartsupport.customer_memory import REFERENCE
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
from smartsupport.previous_case import Case
from smartsupport.turn import Turn
from smartsupport.workspaces import DEMO_DIR, WorkspaceConfig, load_workspace_dir

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "conversations"
MAX_TURNS = 6  # a customer who has not got the answer by then has given up
CONTINUING = "continue_case_"  # the scripts of "Continuing a previous case", measured apart
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


@dataclass
class Continuation:
    """What the first reply to a message about an earlier case did (module docstring)."""

    script: str
    memory: bool
    names_case: bool = False
    tells_state: bool = False
    asks_order: bool = False
    other_order: bool = False  # a flow ended with an answer about another order
    no_answer: bool = False
    replies: int = 0
    load_ms: float = 0.0  # previous_case.load on this turn (memory on), wall time
    earlier_failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


def goal_of(script: Script) -> Goal | None:
    """What the customer of a return-visit script came for, from its expectations."""
    if not script.earlier or not script.identity or script.erased:
        return None
    if Path(script.path).stem.startswith(CONTINUING):
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
                player.cases = visits.case  # as the assistant: previous_case.py
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


def case_of(script: Script) -> tuple[str, list[str]] | None:
    """The earlier case's order and the words telling where it was left, from the first
    turn's expectations of a continue_case script with a verified visit."""
    if not Path(script.path).stem.startswith(CONTINUING) or not script.identity:
        return None
    says = script.turns[0].expect.says
    orders = [r for s in says for r in REFERENCE.findall(s)]
    return (orders[0], says) if orders and says else None


async def measure_continuation(
    harness: ScriptHarness, workspace: WorkspaceConfig, script: Script, memory: bool
) -> Continuation:
    found = case_of(script)
    assert found is not None
    order, says = found
    outcome = Continuation(Path(script.path).stem, memory)
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

                async def timed(turn: Turn) -> Case | None:
                    started = time.perf_counter()
                    case = await visits.case(turn)
                    outcome.load_ms = (time.perf_counter() - started) * 1000
                    return case

                player.cases = timed
            earlier = ScriptResult(script)
            conversation = await come_back(script, player, visits, earlier)
            outcome.earlier_failures = earlier.failures
            context = ConversationContext(conversation.id)
            played = await player.play(1, script.turns[0].user, conversation, context)
            outcome.transcript = played.transcript(1)
            said = "\n".join(r.text for r in played.replies).casefold()
            outcome.replies = len(played.replies)
            outcome.names_case = order.casefold() in said
            outcome.tells_state = all(s.casefold() in said for s in says)
            outcome.asks_order = (played.state.get("active") or {}).get("asking") == "order_id"
            named = {r.casefold() for r in REFERENCE.findall(said.upper())} - {order.casefold()}
            outcome.other_order = played.observed["status"] == "completed" and bool(named)
            steps = {r.meta.get("step") for r in played.replies}
            outcome.no_answer = not played.replies or steps <= {"fallback", None}
    finally:
        await manager.aclose()
    return outcome


async def run(path: Path) -> tuple[list[Outcome], list[Continuation]]:
    workspace = load_workspace_dir(DEMO_DIR)
    scripts = load_scripts(path)
    chosen = [(s, g) for s in scripts if (g := goal_of(s)) is not None]
    outcomes, continued = [], []
    async with ScriptHarness({workspace.id: workspace}) as harness:
        for script, goal in chosen:
            for memory in (False, True):
                outcomes.append(await measure(harness, workspace, script, goal, memory))
        for script in [s for s in scripts if case_of(s) is not None]:
            for memory in (False, True):
                continued.append(await measure_continuation(harness, workspace, script, memory))
    return outcomes, continued


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


def continuation_table(outcomes: list[Continuation]) -> str:
    yes = {True: "yes", False: "no"}
    lines = [
        "| script | memory | names the earlier case's order | tells where it was left "
        "| asks for the order number | answers about another order | nothing to say (fallback) "
        "| bot replies | case read |",
        "| --- | --- | --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.script} | {'on' if o.memory else 'off'} | {yes[o.names_case]} | "
            f"{yes[o.tells_state]} | {yes[o.asks_order]} | {yes[o.other_order]} | "
            f"{yes[o.no_answer]} | {o.replies} | "
            f"{f'{o.load_ms:.1f} ms' if o.memory else ''} |"
        )
    for memory in (False, True):
        mine = [o for o in outcomes if o.memory is memory]
        if mine:
            n = len(mine)
            read = f"median {statistics.median(o.load_ms for o in mine):.1f} ms" if memory else ""
            lines.append(
                f"| **all {n}** | {'on' if memory else 'off'} | "
                f"{sum(o.names_case for o in mine)} of {n} | "
                f"{sum(o.tells_state for o in mine)} of {n} | "
                f"{sum(o.asks_order for o in mine)} of {n} | "
                f"{sum(o.other_order for o in mine)} of {n} | "
                f"{sum(o.no_answer for o in mine)} of {n} | {sum(o.replies for o in mine)} | "
                f"{read} |"
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
    outcomes, continued = asyncio.run(run(args.path))
    broken = [f for o in [*outcomes, *continued] for f in o.earlier_failures]
    if args.json:
        print(json.dumps([asdict(o) for o in [*outcomes, *continued]], ensure_ascii=False,
                         indent=1))  # fmt: skip
    else:
        for o in [*outcomes, *continued] if args.verbose else []:
            print(f"{o.script}, memory {'on' if o.memory else 'off'}:", *o.transcript, sep="\n")
        print(f"{machine()}, {len(outcomes) // 2} scripts")
        print(table(outcomes))
        print(f"\nContinuing a previous case: {len(continued) // 2} scripts")
        print(continuation_table(continued))
    if broken:
        raise SystemExit("earlier visits did not play as written:\n" + "\n".join(broken))


if __name__ == "__main__":
    main()
