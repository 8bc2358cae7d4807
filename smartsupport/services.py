"""The running services of one server process, opened from Settings and closed on shutdown.

``open_services`` is the only place that turns URLs into connections; the ASGI lifespan and
the CLI both go through it, so ``smartsupport check`` tests exactly what ``serve`` will use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smartsupport.backplane import open_backplane
from smartsupport.backplane.base import Backplane
from smartsupport.domain import Workspace
from smartsupport.errors import BackendError, NotFound
from smartsupport.sessions import SessionStore
from smartsupport.settings import Settings
from smartsupport.storage import open_store
from smartsupport.storage.base import Store
from smartsupport.workspaces import WorkspaceConfig, discover_workspaces

if TYPE_CHECKING:
    from smartsupport.assistant import Assistant

log = logging.getLogger("smartsupport")


@dataclass
class Services:
    settings: Settings
    store: Store
    backplane: Backplane
    sessions: SessionStore
    secret_key: bytes
    workspaces: dict[str, WorkspaceConfig] = field(default_factory=dict)
    policy: Assistant | None = None

    def workspace(self, workspace_id: str) -> WorkspaceConfig:
        try:
            return self.workspaces[workspace_id]
        except KeyError:
            raise NotFound(f"unknown workspace {workspace_id!r}") from None

    async def readiness(self) -> dict[str, str]:
        """Each backend's state: 'ok' or the error."""
        states: dict[str, str] = {}
        for name, backend in (("database", self.store), ("backplane", self.backplane)):
            try:
                await backend.ping()
                states[name] = "ok"
            except BackendError as exc:
                states[name] = f"unavailable: {exc}"
        return states

    async def close(self) -> None:
        if self.policy is not None:
            await self.policy.close()
        await self.backplane.close()
        await self.store.close()


async def open_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Connect every configured backend, apply migrations, load workspaces and the policy."""
    from smartsupport.assistant import build_assistant
    from smartsupport.policy import build_policy

    store = open_store(settings.database_url)
    backplane = open_backplane(settings.redis_url)
    await store.connect()
    try:
        await backplane.connect()
        if migrate:
            applied = await store.migrate()
            if applied:
                log.info("applied migrations %s", applied)
        services = Services(
            settings=settings,
            store=store,
            backplane=backplane,
            sessions=SessionStore(backplane, ttl_seconds=settings.session_ttl_seconds),
            secret_key=settings.resolved_secret_key(),
        )
        for config in discover_workspaces(settings.workspaces_dir, demo=settings.demo):
            await store.upsert_workspace(
                Workspace(id=config.id, name=config.name, config=_storable(config))
            )
            services.workspaces[config.id] = config
        services.policy = await build_assistant(services, await build_policy(services))
        return services
    except BaseException:
        await backplane.close()
        await store.close()
        raise


def _storable(config: WorkspaceConfig) -> dict[str, object]:
    return config.model_dump(mode="json", exclude={"source_dir", "articles_dir"})
