"""The command line: check, migrate and serve argument handling, run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "smartsupport", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def test_migrate_then_check_on_sqlite(tmp_path):
    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path)}
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "schema version" in migrated.stdout
    again = run("migrate", env=env)
    assert "applied nothing" in again.stdout
    checked = run("check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "database:       ok" in checked.stdout and "workspaces:     demo" in checked.stdout


def test_check_on_postgres_and_redis_reports_pending_migrations(tmp_path, postgres_url, redis_url):
    env = {
        "SMARTSUPPORT_DATA_DIR": str(tmp_path),
        "SMARTSUPPORT_DATABASE_URL": postgres_url,
        "SMARTSUPPORT_REDIS_URL": redis_url,
    }
    before = run("check", env=env)
    assert before.returncode == 1
    assert "smartsupport migrate" in before.stdout
    assert run("migrate", env=env).returncode == 0
    after = run("check", env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "backplane:      ok" in after.stdout


def test_check_fails_loudly_when_a_backend_is_unreachable(tmp_path):
    env = {
        "SMARTSUPPORT_DATA_DIR": str(tmp_path),
        "SMARTSUPPORT_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = run("check", env=env)
    assert result.returncode != 0
    assert "127.0.0.1:1" in result.stderr or "Redis" in result.stderr


def test_a_wrong_url_stops_start_up_with_the_fix(tmp_path):
    result = run("serve", env={"SMARTSUPPORT_DATABASE_URL": "mongodb://x"})
    assert result.returncode == 2
    assert "postgresql://" in result.stderr and "Traceback" not in result.stderr


def test_a_postgres_url_without_the_driver_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "from smartsupport.storage import open_store\n"
        "try:\n    open_store('postgresql://x/y')\n"
        "except Exception as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "smartsupport[postgres]" in result.stdout


def test_serve_parses_without_importing_the_feature_commands():
    from smartsupport.cli import _serves, build_parser

    assert _serves(["serve"]) and _serves(["--config", "s.toml", "serve", "--port", "9"])
    assert _serves(["--config=s.toml", "serve"])
    assert not _serves(["nlu", "train"]) and not _serves(["--help"]) and not _serves([])
    # The feature commands' modules (and what they import) are left to the commands that
    # use them: serve starts the encoder's process a second sooner.
    probe = (
        "import sys; from smartsupport.cli import build_parser; "
        "build_parser(features=False).parse_args(['serve', '--port', '9']); "
        "print('smartsupport.nlu.commands' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    # The full parser still has them.
    assert build_parser().parse_args(["nlu", "eval", "m", "t.csv"]).command == "nlu"
