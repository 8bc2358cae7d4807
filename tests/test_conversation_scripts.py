"""The demo workspace's conversation scripts (tests/conversations/*.yaml), one test each, run
against the demo shop's real HTTP API (and a misbehaving server for the failure scripts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartsupport.dialogue.scripts import load_scripts, report, run_scripts
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

SCRIPTS = Path(__file__).parent / "conversations"


def test_there_are_at_least_forty_demo_scripts():
    assert len(load_scripts(SCRIPTS)) >= 40


@pytest.mark.parametrize("script", load_scripts(SCRIPTS), ids=lambda s: Path(s.path).stem)
async def test_conversation_script(script):
    workspace = load_workspace_dir(DEMO_DIR)
    [result] = await run_scripts([script], {workspace.id: workspace})
    assert result.passed, "\n" + report([result])
