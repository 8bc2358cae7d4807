"""API fuzzing (issue 14, item 1): schemathesis generates requests from the app's own
/openapi.json, valid and invalid, for every visitor, staff and admin operation, and not one
may answer with a server error (5xx).

Requests carry real credentials, so they reach past authentication: a visitor token for a
real conversation (its id replaces the generated one) and an admin's session cookie with the
CSRF header. The app runs on PostgreSQL, the backend that refused NUL characters and large
integers with 503s (tests/test_security_limits.py covers both backends). Operations that
would end those credentials (logout, session refresh, revoking the visitor's tokens) are
left out. ``FUZZ_EXAMPLES`` examples per operation keep the run to about two
minutes; the figures are in docs/benchmarks.md (``FUZZ_EXAMPLES=200`` for a longer run).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings

from smartsupport.app import create_app
from smartsupport.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.staffkit import add_staff, csrf, login

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
ENDS_CREDENTIALS = {"logout", "revokeVisitorTokens", "refreshSession"}
SPEC = create_app(Settings(data_dir=tempfile.mkdtemp(), secret_key="spec")).openapi()
schema = schemathesis.openapi.from_dict(SPEC).exclude(operation_id=sorted(ENDS_CREDENTIALS))
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module")
def postgres_schema() -> Any:
    """PostgreSQL, the stricter backend (NUL, integer ranges), in a schema of its own."""
    import asyncpg

    name = "fuzz_" + uuid.uuid4().hex[:12]

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE SCHEMA "{name}"'))
    except Exception as exc:  # noqa: BLE001 - fail loudly, never skip
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL} ({exc}); run scripts/test")
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}search_path={name}"
    asyncio.run(run(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


@pytest.fixture(scope="module")
def session(tmp_path_factory, postgres_schema) -> Any:
    """One running app for every example: a visitor's conversation and a signed-in admin."""
    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        database_url=postgres_schema,
        secret_key="fuzz-secret",
        rate_limit_per_minute=100_000,
        conversation_rate_limit_per_minute=100_000,
    )
    with TestClient(create_app(settings_), base_url="https://testserver") as client:
        client.app.state.staff_config = _relaxed_staff_config()  # type: ignore[attr-defined]
        add_staff(client, "admin@example.com", "admin")
        assert login(client, "admin@example.com").status_code == 200
        started = client.post("/api/v1/conversations", json={"workspace": "demo"})
        assert started.status_code == 201
        yield client, started.json()
    total = sum(TALLY.values())
    print(f"\nfuzzing: {total} requests, statuses {dict(sorted(TALLY.items()))}")


def _relaxed_staff_config() -> Any:
    from smartsupport.staff.config import StaffConfig

    # Generated sign-ins must not rate-limit the admin session's own requests.
    return StaffConfig(attempts_per_ip=10**6, attempts_per_account=10**6, max_failures=10**6)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    phases=[Phase.explicit, Phase.generate],  # a failure is reported as found, unshrunk
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error(case, session):
    client, conversation = session
    for name in ("conversation_id",):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = conversation["id"]
    for name in ("workspace", "workspace_id"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = "demo"
    headers = dict(case.headers or {})
    if any(p["name"] == "authorization" for p in _parameters(case)):
        headers["authorization"] = f"Bearer {conversation['token']}"
    headers.update(csrf(client))
    case.headers = headers
    kwargs = case.as_transport_kwargs(base_url="https://testserver")
    response = client.request(**_httpx_kwargs(kwargs))
    TALLY[str(response.status_code)] += 1
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )


def _parameters(case: Any) -> list[dict[str, Any]]:
    operation = SPEC["paths"][case.path].get(case.method.lower(), {})
    return list(operation.get("parameters", []))


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis serialises for ``requests``; the TestClient speaks httpx."""
    out = {k: kwargs[k] for k in ("method", "url", "headers", "params") if k in kwargs}
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif "data" in kwargs and kwargs["data"] is not None:
        data = kwargs["data"]
        out["content" if isinstance(data, bytes | str) else "data"] = data
    if kwargs.get("files"):
        out["files"] = kwargs["files"]
    return out
