"""The demo workspace's conversation scripts (tests/conversations/*.yaml), one test each, run
against the demo shop's real HTTP API on a local port (and a misbehaving server for the
failure scripts). The servers are shared by the module; each script gets fresh shop data."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from smartsupport.dialogue.scripts import ScriptHarness, load_scripts, report, run_script
from smartsupport.errors import ConfigurationError
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


def test_the_return_visit_scripts_cover_three_flows_in_several_languages():
    visits = [s for s in load_scripts(SCRIPTS) if s.earlier]
    names = {Path(s.path).stem for s in visits}
    for flow in ("track", "return", "refund"):
        assert len({n for n in names if f"_{flow}_" in n}) >= 2, flow
    assert {"return_visit_unverified_claim", "return_visit_after_erasure"} <= names


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"earlier": [{"days_ago": 3, "turns": [{"user": "hi"}]}]}, "needs an identity"),
        ({"identity": "cust-li", "erased": True}, "erased: true needs earlier visits"),
        (
            {"identity": "cust-li", "earlier": [{"days_ago": 0, "turns": [{"user": "hi"}]}]},
            "greater than 0",
        ),
    ],
)
def test_a_return_visit_that_cannot_happen_is_refused(tmp_path, extra, problem):
    script = tmp_path / "bad.yaml"
    script.write_text(yaml.safe_dump({"name": "bad", "turns": [{"user": "hi"}], **extra}))
    with pytest.raises(ConfigurationError, match=problem):
        load_scripts(script)


@pytest.mark.asyncio(loop_scope="module")
async def test_without_the_remembered_look_up_the_order_from_last_time_is_not_proposed(harness):
    """The return-visit scripts pass because of memory: played with the look-up off, the
    same visit is asked for its order (refund) or answered about the newest one (tracking)."""
    for stem, lacking in [
        ("return_visit_refund_en", "Is this about ORD-10239"),
        ("return_visit_track_en", "Welcome back, Maria!"),
    ]:
        (script,) = load_scripts(SCRIPTS / f"{stem}.yaml")
        harness.shop.reset()
        result = await run_script(
            script, harness.workspaces, harness.understand, harness.shop.url, memory=False
        )
        assert not any(f.startswith("earlier") for f in result.failures), result.failures
        assert any(lacking in f for f in result.failures), result.failures
