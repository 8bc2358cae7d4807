"""Background jobs: `serve` without them, and a worker killed mid-job.

The helpdesk is the local fake of Zendesk's published API (tests/helpdesk_fakes.py) behind a
TCP gate (tests/throwaway.py) that lets the worker's request through but holds the answer
back, so the worker is killed after Zendesk created the ticket and before the worker could
record it: the retry, once the claim's lease has expired, must find that ticket instead of
creating a second one. Time past the lease is simulated by handing ``run_due`` a clock.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from smartsupport import outbox
from smartsupport.app import create_app
from smartsupport.cli import build_parser
from smartsupport.domain import utcnow
from smartsupport.helpdesk.tickets import request_ticket
from smartsupport.settings import Settings
from tests.helpdesk_fakes import (
    ZENDESK_TOKEN,
    FakeApis,
    open_test_services,
    zendesk_config,
)
from tests.test_outbox import conversation, statuses
from tests.throwaway import Gate


def worker_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "smartsupport-worker"]


async def test_serve_runs_the_jobs_unless_told_to_leave_them_to_workers(tmp_path: Path) -> None:
    for jobs, expected in ((True, 1), (False, 0)):
        app = create_app(Settings(data_dir=tmp_path / str(jobs), secret_key="k", jobs=jobs))
        async with app.router.lifespan_context(app):
            assert len(worker_tasks()) == expected
    assert build_parser().parse_args(["serve", "--no-jobs"]).no_jobs is True
    assert build_parser().parse_args(["serve"]).no_jobs is False


async def test_a_worker_killed_mid_job_is_retried_after_its_lease_without_a_second_ticket(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with FakeApis() as fake:
        gate = Gate(fake.port)
        await gate.set("mute")  # Zendesk does the work; its answer never reaches the worker
        escalation = {"helpdesk": {**zendesk_config(fake), "url": gate.url}}
        services = await open_test_services(tmp_path, sqlite_url, escalation)
        worker = None
        try:
            cid = await conversation(services, "killed@example.com")
            await request_ticket(services, cid, reason="offline")
            env = {
                **os.environ,
                "SMARTSUPPORT_DATA_DIR": str(tmp_path),
                "SMARTSUPPORT_DATABASE_URL": sqlite_url,
                "SMARTSUPPORT_DEMO": "false",
                "SMARTSUPPORT_WORKSPACES_DIR": str(tmp_path / "workspaces"),
                "SMARTSUPPORT_SECRET_KEY": "test-secret",
                "SMARTSUPPORT_PUBLIC_URL": "https://support.acme.example",
                "SMARTSUPPORT_HELPDESK_API_TOKEN": ZENDESK_TOKEN,
                "SMARTSUPPORT_HELPDESK_WEBHOOK_SECRET": "whsec-test",
            }
            with (tmp_path / "worker.log").open("wb") as log:
                worker = subprocess.Popen(  # noqa: ASYNC220 - returns at once; polled below
                    [sys.executable, "-m", "smartsupport", "worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            async with asyncio.timeout(120):
                while not (fake.zendesk_tickets and gate.held):  # noqa: ASYNC110 - polled
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                    await asyncio.sleep(0.1)
            row = await services.store.fetchrow("SELECT locked_by, status FROM outbox")  # type: ignore[attr-defined]
            assert row["status"] == "pending" and row["locked_by"].startswith("w-")

            worker.kill()  # kill -9 while it waits for Zendesk's answer
            worker.wait()
            await gate.set("open")
            assert await outbox.run_due(services) == 0  # its claim still holds
            await outbox.run_due(services, now=utcnow() + outbox.LEASE + timedelta(seconds=1))
            assert await statuses(services) == ["done"]
            assert len(fake.zendesk_tickets) == 1  # found under its key, not created again
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()
            await gate.set("down")
            await services.close()


def test_the_deployments_leave_jobs_to_the_worker_when_there_is_one() -> None:
    from tests.deploykit import REQUIRED, compose
    from tests.test_deploy import by_kind, render

    services = compose()["services"]
    assert services["web"]["environment"]["SMARTSUPPORT_JOBS"] == "off"
    assert "SMARTSUPPORT_JOBS" not in services["worker"]["environment"]
    for enabled, expected in ((True, ["off"]), (False, [])):
        values = {**REQUIRED, "worker": {"enabled": enabled}}
        web = by_kind(render(values))[("Deployment", "support-smartsupport-web")]
        env = web["spec"]["template"]["spec"]["containers"][0]["env"]
        assert [e["value"] for e in env if e["name"] == "SMARTSUPPORT_JOBS"] == expected
