"""Staff and admin actions land in the audit log (sign-ins, failed sign-ins, account and key
changes), admins read their workspaces' part of it through the API and the inbox page, and
the command line exports, erases, purges and verifies (embedded and PostgreSQL + Redis)."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import pytest
from staffkit import PASSWORD, add_staff, csrf, login, staff_app, staff_client

from smartsupport import cli

AUDIT = "/api/v1/admin/workspaces/demo/audit"


@pytest.fixture(params=["embedded", "postgres+redis"])
def admin(request, tmp_path):
    options: dict[str, Any] = {}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    app, _ = staff_app(tmp_path, **options)
    with staff_client(app) as client:
        client.ids = {  # type: ignore[attr-defined]
            "admin": add_staff(client, "admin@example.com", "admin", ["demo"]),
            "agent": add_staff(client, "agent@example.com", "agent", ["demo"]),
            "other": add_staff(client, "other@example.com", "admin", ["elsewhere"]),
        }
        yield client


def actions(client) -> list[tuple[str, str | None]]:
    entries = client.get(AUDIT).json()["entries"]
    return [(e["action"], e["target"]) for e in entries]


def test_sign_ins_account_and_key_changes_are_audited(admin):
    ids = admin.ids
    assert login(admin, "agent@example.com", "wrong password").status_code == 401
    assert login(admin, "nobody@example.com", "wrong password").status_code == 401
    assert login(admin, "admin@example.com").status_code == 200
    key = admin.post(
        "/api/v1/admin/staff/api-keys",
        json={"workspace": "demo", "scopes": ["conversations:read"]},
        headers=csrf(admin),
    ).json()
    admin.delete(f"/api/v1/admin/staff/api-keys/{key['id']}", headers=csrf(admin))
    admin.post(f"/api/v1/admin/staff/{ids['agent']}/disable", headers=csrf(admin))

    entries = admin.get(AUDIT).json()["entries"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("staff.login_failed", f"staff:{ids['agent']}"),
        ("staff.login", f"staff:{ids['admin']}"),
        ("api_key.created", f"api_key:{key['id']}"),
        ("api_key.revoked", f"api_key:{key['id']}"),
        ("staff.disabled", f"staff:{ids['agent']}"),
    ]  # the unknown email's failure names no account of this workspace, so it is not shown
    failed = entries[0]
    assert failed["actor"] == "anonymous" and failed["details"] == {"code": "login_failed"}
    assert failed["ip"] == "testclient"
    assert "example.com" not in json.dumps(entries)  # accounts by id, never by email
    assert all(e["actor"] == f"staff:{ids['admin']}" for e in entries[1:])
    verified = admin.get("/api/v1/admin/audit/verify").json()
    assert verified["ok"] and verified["entries"] == 6 and verified["head_seq"] == 6


def test_an_admin_sees_only_their_workspaces_part(admin):
    assert login(admin, "admin@example.com").status_code == 200
    admin.post("/inbox/logout", headers=csrf(admin))
    assert login(admin, "other@example.com").status_code == 200
    mine = admin.get("/api/v1/admin/workspaces/elsewhere/audit").json()["entries"]
    assert [(e["action"], e["actor"]) for e in mine] == [
        ("staff.login", f"staff:{admin.ids['other']}")
    ]
    assert admin.get(AUDIT).status_code == 403


def test_the_inbox_page_lists_the_log_and_the_state_of_the_chain(admin):
    assert admin.get("/inbox/audit", follow_redirects=False).status_code == 303
    assert login(admin, "admin@example.com").status_code == 200
    page = admin.get("/inbox/audit")
    assert page.status_code == 200 and "Chain intact: 1 entries" in page.text
    assert "staff.login" in page.text and 'href="/inbox/audit"' in page.text

    async def forge(services):
        db = services.store
        if db.dialect == "sqlite":
            await db.execute("DROP TRIGGER audit_log_no_update")
        else:
            await db.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        await db.execute("UPDATE audit_log SET ip = '203.0.113.9' WHERE seq = 1")

    admin.portal.call(forge, admin.app.state.services)
    page = admin.get("/inbox/audit")
    assert "Chain broken at entry #1" in page.text
    assert admin.get("/api/v1/admin/audit/verify").json()["broken_at"] == 1
    admin.post("/inbox/logout", headers=csrf(admin))
    assert login(admin, "agent@example.com").status_code == 200
    assert admin.get("/inbox/audit").status_code == 403


def test_the_command_line_exports_erases_purges_and_verifies(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTSUPPORT_SECRET_KEY", "test-secret")
    app, _ = staff_app(tmp_path)
    with staff_client(app) as client:
        started = client.post(
            "/api/v1/conversations",
            json={"workspace": "demo", "customer": {"email": "ada@example.com"}},
        ).json()

        async def customer(services):
            return (await services.store.get_conversation(started["id"])).customer_id

        customer_id = client.portal.call(customer, client.app.state.services)
    capsys.readouterr()

    assert cli.main(["customer", "find", "--workspace", "demo", "--email", "ada@example.com"]) == 0
    assert capsys.readouterr().out.startswith(customer_id)
    out = tmp_path / "ada.json"
    assert cli.main(["customer", "export", customer_id, "--out", str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    doc = json.loads(out.read_text())
    assert doc["customer"]["email"] == "ada@example.com" and len(doc["conversations"]) == 1

    assert cli.main(["customer", "erase", customer_id]) == 2  # needs --yes
    assert "--yes" in capsys.readouterr().err
    assert cli.main(["customer", "erase", customer_id, "--yes"]) == 0
    assert json.loads(capsys.readouterr().out)["conversations"] == 1
    assert cli.main(["customer", "export", customer_id]) == 2  # gone

    assert cli.main(["purge", "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["workspaces"][0]["workspace"] == "demo"

    assert cli.main(["audit", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["action"] for e in listed] == ["customer.erased", "customer.exported"]
    assert all(e["actor"] == "cli" for e in listed)
    assert cli.main(["audit", "verify"]) == 0
    head = capsys.readouterr().out.split("head ")[1].strip()
    assert cli.main(["audit", "verify", "--anchor", head]) == 0
    capsys.readouterr()

    import sqlite3

    conn = sqlite3.connect(tmp_path / "smartsupport.db")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log WHERE seq = 2")
    conn.commit()
    conn.close()
    assert cli.main(["audit", "verify", "--anchor", head]) == 1
    assert "BROKEN" in capsys.readouterr().err


def test_command_line_account_changes_are_audited(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    assert cli.main(["users", "add", "lead@example.com", "--role", "admin"]) == 0
    assert cli.main(["users", "disable", "lead@example.com"]) == 0
    capsys.readouterr()
    assert cli.main(["audit", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["actor"]) for e in listed] == [
        ("staff.disabled", "cli"),
        ("staff.created", "cli"),
    ]
    assert listed[1]["details"] == {"role": "admin", "workspaces": ["demo"]}
