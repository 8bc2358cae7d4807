"""The demo workspace's conversation scripts (tests/conversations/*.yaml), one test each, run
against the demo shop's real HTTP API on a local port (and a misbehaving server for the
failure scripts). The servers are shared by the module; each script gets fresh shop data."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from smartsupport.dialogue.scripts import ScriptHarness, load_scripts, report
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

SCRIPTS = Path(__file__).parent / "conversations"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness():
    workspace = load_workspace_dir(DEMO_DIR)
    async with ScriptHarness({workspace.id: workspace}) as running:
        yield running


def test_there_are_at_least_forty_demo_scripts():
    assert len(load_scripts(SCRIPTS)) >= 40


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("script", load_scripts(SCRIPTS), ids=lambda s: Path(s.path).stem)
async def test_conversation_script(harness, script):
    result = await harness.run(script)
    assert result.passed, "\n" + report([result])
