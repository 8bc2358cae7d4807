"""``smartsupport test-conversations PATH``: run conversation scripts, print a report.

    smartsupport test-conversations tests/conversations            every *.yaml in the folder
    smartsupport test-conversations one.yaml -v --nlu keyword      with full transcripts

Exits 0 when every script passes, 1 when any fails (2 for a configuration error).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test-conversations",
        help="run YAML conversation scripts against the flows and report",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("path", type=Path, help="a script file or a folder of *.yaml scripts")
    parser.add_argument(
        "--workspaces-dir",
        type=Path,
        default=None,
        help="load workspaces from here (default: SMARTSUPPORT_WORKSPACES_DIR)",
    )
    parser.add_argument(
        "--nlu",
        choices=("auto", "engine", "keyword"),
        default="auto",
        help="understand turns with the NLU engine, the keyword stand-in, "
        "or the engine when installed (auto)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every transcript, not only the failing ones",
    )
    parser.set_defaults(func=cmd_test_conversations)


def cmd_test_conversations(args: argparse.Namespace) -> int:
    from smartsupport.dialogue.script_nlu import default_understander
    from smartsupport.dialogue.scripts import load_scripts, report, run_scripts
    from smartsupport.settings import load_settings
    from smartsupport.workspaces import discover_workspaces

    # Failing actions are expected in failure scripts; the report says what matters.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    found = discover_workspaces(args.workspaces_dir or settings.workspaces_dir, demo=settings.demo)
    workspaces = {w.id: w for w in found}
    scripts = load_scripts(args.path)

    async def run() -> list[Any]:
        understand = await default_understander(workspaces, args.nlu, data_dir=settings.data_dir)
        return await run_scripts(scripts, workspaces, understand)

    results = asyncio.run(run())
    print(report(results, verbose=args.verbose))
    return 0 if all(r.passed for r in results) else 1
