"""Knowledge ingestion as a durable leased job (jobs.py, job_runner.py,
knowledge/ingest_jobs.py), on real SQLite and PostgreSQL:

- the job table's rules: asking twice gives one job, one runner at a time, a lease that
  passes lets another runner take over (and the old one can no longer finish it), a job
  that kills its runner every time fails instead of looping, released jobs are queued again;
- the admin API end to end over PostgreSQL and Redis: a web replica with SMARTSUPPORT_JOBS=off
  answers 202 with a status URL, the job stays queued and says why (nothing lost), a real
  `smartsupport worker` runs it, and the web replica answers from the new article;
- a `smartsupport worker` killed (SIGKILL) in the middle of an ingest: the job is taken again
  once its lease has passed and ends done, with every article stored once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smartsupport import jobs
from smartsupport.domain import utcnow
from smartsupport.errors import BackendUnavailable
from smartsupport.job_runner import JobRunner
from smartsupport.knowledge import ingest_jobs
from smartsupport.services import open_services
from smartsupport.settings import Settings
from smartsupport.storage import open_store
from smartsupport.worker import JOB_HANDLERS
from tests.inboxkit import Harness

ARTICLES = "/api/v1/admin/workspaces/acme/articles"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("postgres_url")


def workspace(root: Path, articles: dict[str, str]) -> Path:
    """A workspaces folder with one workspace, acme, and these files in its articles/."""
    folder = root / "workspaces" / "acme"
    (folder / "articles").mkdir(parents=True)
    (folder / "workspace.yaml").write_text(
        "id: acme\nname: Acme\ndefault_locale: en\ngreeting: Hi!\nfallback: Sorry.\n"
    )
    for name, text in articles.items():
        (folder / "articles" / name).write_text(text)
    return root / "workspaces"


def worker_env(tmp_path: Path, database_url: str, redis_url: str = "") -> dict[str, str]:
    return {
        **os.environ,
        "SMARTSUPPORT_DATA_DIR": str(tmp_path / "worker-data"),
        "SMARTSUPPORT_DATABASE_URL": database_url,
        "SMARTSUPPORT_REDIS_URL": redis_url,
        "SMARTSUPPORT_DEMO": "false",
        "SMARTSUPPORT_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "SMARTSUPPORT_SECRET_KEY": "test-secret",
        "SMARTSUPPORT_OUTBOX_POLL_SECONDS": "0.2",
    }


def start_worker(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (tmp_path / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "smartsupport", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


async def test_the_job_table_leases_one_runner_at_a_time(database_url: str) -> None:
    store: Any = open_store(database_url)
    await store.connect()
    try:
        await store.migrate()
        first, added = await jobs.enqueue(store, "acme", "knowledge.ingest", "k1", {"a": 1})
        again, added_again = await jobs.enqueue(store, "acme", "knowledge.ingest", "k1", {})
        assert added and not added_again and again.id == first.id
        assert again.status == "queued" and again.payload == {"a": 1}
        with pytest.raises(ValueError, match="unknown job kind"):
            await jobs.enqueue(store, "acme", "nope", "k2")

        # Two runners at once: one gets it.
        claims = await asyncio.gather(jobs.claim(store, "w1"), jobs.claim(store, "w2"))
        taken = [c for c in claims if c is not None]
        assert len(taken) == 1 and taken[0].status == "running" and taken[0].attempts == 1
        owner = taken[0].locked_by
        other = "w2" if owner == "w1" else "w1"
        assert await jobs.claim(store, other) is None  # the lease holds
        assert not await jobs.renew(store, taken[0], other)
        assert await jobs.renew(store, taken[0], owner, {"files_done": 1})

        # Its runner died: once the lease has passed another takes it over, and the first
        # can no longer finish it.
        later = utcnow() + jobs.LEASE + timedelta(seconds=1)
        moved = await jobs.claim(store, other, now=later)
        assert moved is not None and moved.attempts == 2 and moved.locked_by == other
        assert moved.progress == {"files_done": 1}
        assert not await jobs.finish(store, moved, owner, result={"late": True})
        assert await jobs.finish(store, moved, other, result={"added": 3})
        done = await jobs.get(store, first.id)
        assert done is not None and done.status == "done" and done.result == {"added": 3}
        assert done.finished_at is not None and done.as_json()["worker"] is None

        # A job that takes its runner down every time fails after MAX_ATTEMPTS claims.
        poison, _ = await jobs.enqueue(store, "acme", "review.retrain", "k3")
        when = utcnow()
        for attempt in range(jobs.MAX_ATTEMPTS):
            assert (await jobs.claim(store, f"w{attempt}", now=when)) is not None
            when += jobs.LEASE + timedelta(seconds=1)
        assert await jobs.claim(store, "last", now=when) is None
        failed = await jobs.get(store, poison.id)
        assert failed is not None and failed.status == "failed"
        assert "stopped with its worker 3 times" in (failed.error or "")
        retried = await jobs.retry(store, failed)
        assert retried.status == "queued" and retried.attempts == 0

        # Released (a backend was down, its runner stopped): queued again at once.
        claimed = await jobs.claim(store, "w9")
        assert claimed is not None and claimed.id == poison.id
        assert await jobs.release(store, claimed, "w9", "BackendUnavailable: down")
        back = await jobs.get(store, poison.id)
        assert back is not None and back.status == "queued" and back.error
        assert [j.id for j in await jobs.list_jobs(store, "acme")] == [poison.id, first.id]
    finally:
        await store.close()


async def test_the_admin_api_queues_a_worker_runs_and_a_web_replica_answers(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    workspaces = workspace(
        tmp_path, {"returns.md": "# Returns\n\nReturn any item within 30 days for a refund."}
    )
    settings = Settings(
        database_url=postgres_url, redis_url=redis_url, workspaces_dir=workspaces,
        data_dir=tmp_path / "web", demo=False, secret_key="test-secret", jobs=False,
    )  # fmt: skip
    from smartsupport.app import create_app

    app = create_app(settings)
    worker = None
    async with app.router.lifespan_context(app):
        h = Harness(app, app.state.services)
        try:
            kb = app.state.kb
            # Start-up asked for the folder's ingest; with jobs off nothing ran it here.
            [startup] = await jobs.list_jobs(app.state.services.store, "acme")
            assert startup.status == "queued" and await kb.search("acme", "refund") == []

            admin = await h.staff("ada@example.com", "admin", ["acme"])
            supervisor = await h.staff("sue@example.com", "supervisor", ["acme"])
            assert (await supervisor.post(f"{ARTICLES}/ingest")).status_code == 403
            (workspaces / "acme" / "articles" / "gift-wrap.md").write_text(
                "# Gift wrapping\n\nWe gift-wrap any order for $5; choose it at checkout."
            )
            r = await admin.post(f"{ARTICLES}/ingest")
            assert r.status_code == 202, r.text
            job = r.json()
            assert r.headers["location"] == job["status_url"] == f"{ARTICLES}/jobs/{job['id']}"
            assert job["kind"] == "knowledge.ingest" and job["status"] == "queued"
            assert job["requested_by"] == f"staff:{admin.user_id}"
            # No worker anywhere: it waits, and says so (no silent loss).
            status = (await admin.get(job["status_url"])).json()
            assert status["status"] == "queued"
            assert "SMARTSUPPORT_JOBS=off" in status["note"] and "not lost" in status["note"]
            again = await admin.post(f"{ARTICLES}/ingest")  # the folder did not change
            assert again.status_code == 202 and again.json()["id"] == job["id"]
            keyed = await admin.post(f"{ARTICLES}/ingest", headers={"Idempotency-Key": "x1"})
            assert keyed.json()["id"] != job["id"]
            same = await admin.post(f"{ARTICLES}/ingest", headers={"Idempotency-Key": "x1"})
            assert same.json()["id"] == keyed.json()["id"]
            missing = await admin.get(f"{ARTICLES}/jobs/nope")
            assert missing.status_code == 404

            worker = start_worker(tmp_path, worker_env(tmp_path, postgres_url, redis_url))
            async with asyncio.timeout(180):
                while (status := (await admin.get(job["status_url"])).json())["status"] in (
                    "queued",
                    "running",
                ):
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                    await asyncio.sleep(0.2)
            assert status["status"] == "done", status
            assert status["worker"] is None and status["attempts"] == 1
            assert status["result"]["files"] == 2 and not status["result"]["errors"]
            assert status["progress"]["files_done"] == 2

            # This web replica did none of it, and answers from the new article within
            # seconds (the index version the job bumped).
            async with asyncio.timeout(10):
                while True:
                    hits = await kb.search("acme", "can you gift wrap my order")
                    if hits and hits[0].title == "Gift wrapping":
                        break
                    await asyncio.sleep(0.2)
            listed = (await admin.get(ARTICLES)).json()["articles"]
            assert sorted(a["title"] for a in listed) == ["Gift wrapping", "Returns"]
        finally:
            stop(worker)
            await h.close()


async def test_a_worker_killed_mid_ingest_leaves_the_job_to_the_next_runner(
    tmp_path: Path, sqlite_url: str
) -> None:
    # Enough articles that the ingest runs for a while: the kill lands in the middle.
    articles = {
        f"topic-{n:03}.md": f"# Topic {n}\n\n"
        + " ".join(f"Paragraph {n}.{k} about shipping zone {n} and parcel {k}." for k in range(40))
        for n in range(300)
    }
    workspace(tmp_path, articles)
    env = worker_env(tmp_path, sqlite_url)
    settings = Settings(
        database_url=sqlite_url, workspaces_dir=tmp_path / "workspaces",
        data_dir=tmp_path / "test-data", demo=False, secret_key="test-secret",
    )  # fmt: skip
    services = await open_services(settings)
    worker = None
    try:
        job, _ = await ingest_jobs.ask(services, "acme", requested_by="test")
        worker = start_worker(tmp_path, env)
        store: Any = services.store
        async with asyncio.timeout(180):
            while True:
                seen = await jobs.get(store, job.id)
                assert seen is not None and seen.status != "done", "ran to its end; too fast?"
                if seen.status == "running":
                    break
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                await asyncio.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed = await jobs.get(store, job.id)
        assert killed is not None and killed.status == "running"
        # The worker took it at its start-up (start-...) or in its loop (w-...).
        assert killed.locked_by is not None and killed.locked_by.startswith(("start-", "w-"))
        assert (await store.fetchrow("SELECT count(*) AS n FROM kb_articles"))["n"] == 0

        runner = JobRunner(services, JOB_HANDLERS, "next-runner")
        assert await runner.run_next() is None  # its lease still holds
        # The lease passes (a minute: made to pass here rather than waited for).
        await store.execute(
            "UPDATE jobs SET locked_until = ? WHERE id = ?", utcnow() - timedelta(seconds=1), job.id
        )
        ended = await runner.run_next()
        assert ended is not None and ended.id == job.id, ended
        assert ended.status == "done" and ended.attempts == 2, ended
        assert ended.result is not None and ended.result["added"] == len(articles)
        count = await store.fetchrow("SELECT count(*) AS n FROM kb_articles")
        assert count["n"] == len(articles)  # the killed run stored nothing: one transaction
    finally:
        stop(worker)
        await services.close()


async def test_stop_returns_when_a_step_swallowed_the_cancel(tmp_path: Path) -> None:
    """A cancel turned into a backend error (a driver's timeout that fires with the cancel,
    caught by the loop that outlives bad passes) must still stop the runner: before, the
    loop slept and polled for ever and the server's shutdown waited on it."""
    settings = Settings(
        data_dir=tmp_path, secret_key="test-secret", demo=False, outbox_poll_seconds=0.05
    )
    services = await open_services(settings)
    runner = JobRunner(services, JOB_HANDLERS, "swallowing")
    entered = asyncio.Event()
    passes = 0

    async def alive() -> None:
        nonlocal passes
        passes += 1
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise BackendUnavailable("the store timed out") from None

    runner._alive = alive  # type: ignore[method-assign]
    try:
        runner.start()
        await asyncio.wait_for(entered.wait(), 10)
        await asyncio.wait_for(runner.stop(), 5)
        assert passes == 1  # stopped at once, not after another pass
    finally:
        await services.close()
