"""``smartsupport users`` and ``smartsupport api-keys`` as real processes, password on
standard input; what they create works in the running app."""

from __future__ import annotations

import os
import subprocess
import sys

from staffkit import PASSWORD, add_probe_routes, csrf, login, staff_app, staff_client

from smartsupport.staff import totp


def run(tmp_path, *args: str, stdin: str = ""):
    env = {
        **os.environ,
        "SMARTSUPPORT_DATA_DIR": str(tmp_path),
        "SMARTSUPPORT_SECRET_KEY": "test-secret",
    }
    return subprocess.run(
        [sys.executable, "-m", "smartsupport", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_users_add_reads_the_password_from_stdin_and_the_account_can_log_in(tmp_path):
    added = run(
        tmp_path,
        "users",
        "add",
        "Lead@Example.com",
        "--role",
        "supervisor",
        "--name",
        "Lea",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "added lead@example.com (supervisor) in demo" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr
    listed = run(tmp_path, "users", "list")
    assert listed.stdout.strip().split("\t") == ["lead@example.com", "supervisor", "demo", "Lea"]
    app, _ = staff_app(tmp_path)
    with staff_client(app) as client:
        response = login(client, "lead@example.com")
        assert response.status_code == 200 and response.json()["user"]["role"] == "supervisor"
    disabled = run(tmp_path, "users", "disable", "lead@example.com")
    assert disabled.returncode == 0 and "disabled lead@example.com" in disabled.stdout
    assert "disabled" in run(tmp_path, "users", "list").stdout
    with staff_client(app) as client:
        assert login(client, "lead@example.com").status_code == 401


def test_users_add_refuses_weak_passwords_duplicates_bad_roles_and_unknown_workspaces(tmp_path):
    short = run(tmp_path, "users", "add", "a@example.com", "--role", "agent", stdin="abc\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    repetitive = run(
        tmp_path, "users", "add", "a@example.com", "--role", "agent", stdin="aaaaaaaaaaaaaaaa\n"
    )
    assert repetitive.returncode == 2 and "too repetitive" in repetitive.stderr
    common = run(
        tmp_path, "users", "add", "a@example.com", "--role", "agent", stdin="password1234\n"
    )
    assert common.returncode == 2 and "too common" in common.stderr
    workspace = run(
        tmp_path,
        "users",
        "add",
        "a@example.com",
        "--role",
        "agent",
        "--workspace",
        "nope",
        stdin=PASSWORD + "\n",
    )
    assert workspace.returncode == 2 and "unknown workspace" in workspace.stderr
    role = run(tmp_path, "users", "add", "a@example.com", "--role", "owner", stdin=PASSWORD + "\n")
    assert role.returncode == 2 and "invalid choice" in role.stderr
    assert (
        run(
            tmp_path, "users", "add", "a@example.com", "--role", "agent", stdin=PASSWORD + "\n"
        ).returncode
        == 0
    )
    again = run(tmp_path, "users", "add", "A@example.com", "--role", "admin", stdin=PASSWORD + "\n")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_api_keys_create_prints_the_key_once_and_it_works_until_revoked(tmp_path):
    created = run(
        tmp_path,
        "api-keys",
        "create",
        "--scope",
        "conversations:read",
        "--workspace",
        "demo",
        "--name",
        "crm",
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk_") and "shown once" in created.stderr
    listed = run(tmp_path, "api-keys", "list").stdout
    assert key not in listed and "crm" in listed and "active" in listed
    assert (
        run(tmp_path, "api-keys", "create", "--scope", "bogus", "--workspace", "demo").returncode
        == 2
    )
    app, _ = staff_app(tmp_path)
    add_probe_routes(app)
    headers = {"Authorization": f"Bearer {key}"}
    with staff_client(app) as client:
        assert client.get("/probe/demo/conversations", headers=headers).status_code == 200
    key_id = listed.split("\t")[0]
    assert run(tmp_path, "api-keys", "revoke", key_id).returncode == 0
    with staff_client(app) as client:
        assert client.get("/probe/demo/conversations", headers=headers).status_code == 401


def test_users_password_and_reset_totp_recover_an_account(tmp_path):
    assert (
        run(
            tmp_path, "users", "add", "a@example.com", "--role", "agent", stdin=PASSWORD + "\n"
        ).returncode
        == 0
    )
    app, clock = staff_app(tmp_path)
    with staff_client(app) as client:
        assert login(client, "a@example.com").status_code == 200
        enrolled = client.post(
            "/api/v1/auth/totp/enrol", json={"password": PASSWORD}, headers=csrf(client)
        )
        code = totp.code_at(enrolled.json()["secret"], int(clock.now // 30))
        assert (
            client.post(
                "/api/v1/auth/totp/confirm", json={"code": code}, headers=csrf(client)
            ).status_code
            == 200
        )
        assert run(tmp_path, "users", "password", "a@example.com", stdin="short\n").returncode == 2
        changed = run(
            tmp_path, "users", "password", "a@example.com", stdin="another fine passphrase\n"
        )
        assert changed.returncode == 0 and "sessions were ended" in changed.stdout
        assert client.get("/api/v1/auth/me").status_code == 401
        client.cookies.clear()
        assert login(client, "a@example.com").status_code == 401
        assert login(client, "a@example.com", "another fine passphrase").json()["mfa_required"]
        reset = run(tmp_path, "users", "reset-totp", "a@example.com")
        assert reset.returncode == 0 and "TOTP removed" in reset.stdout
        client.cookies.clear()
        after = login(client, "a@example.com", "another fine passphrase")
        assert after.status_code == 200 and after.json()["user"]["email"] == "a@example.com"
