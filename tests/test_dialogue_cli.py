"""``smartsupport test-conversations``: a readable report and an exit code CI can use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).parent / "conversations"


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMARTSUPPORT_DATA_DIR": str(tmp_path)}
    # The keyword stand-in keeps these about the command; test_conversation_scripts.py runs
    # the same scripts through the NLU engine.
    command = [sys.executable, "-m", "smartsupport", "test-conversations", "--nlu", "keyword"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=120)


def test_passing_scripts_exit_zero(tmp_path):
    done = run(str(SCRIPTS / "cancel_deny.yaml"), "-v", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  the customer says no at the confirmation" in done.stdout
    assert "bot: OK, order ORD-10235 stays as it is." in done.stdout  # -v: transcripts
    assert "1 of 1 conversation scripts passed" in done.stdout


def test_a_failing_script_exits_one_with_the_transcript(tmp_path):
    script = tmp_path / "wrong.yaml"
    script.write_text(
        "name: expects the wrong carrier\n"
        "identity: cust-maria\n"
        "turns:\n"
        "  - user: where is ORD-10234\n"
        "    expect: {says: [FedEx], flow: track_order}\n"
    )
    done = run(str(script), tmp_path=tmp_path)
    assert done.returncode == 1
    assert "FAIL  expects the wrong carrier" in done.stdout
    assert "customer: where is ORD-10234" in done.stdout
    assert "reply lacks 'FedEx'" in done.stdout
    assert "0 of 1 conversation scripts passed, 1 failed" in done.stdout


def test_a_malformed_script_is_a_clear_error(tmp_path):
    script = tmp_path / "bad.yaml"
    script.write_text("name: x\nturns:\n  - usr: hello\n")
    done = run(str(script), tmp_path=tmp_path)
    assert done.returncode == 2
    assert "bad.yaml: invalid conversation script" in done.stderr and "turns.0.usr" in done.stderr
