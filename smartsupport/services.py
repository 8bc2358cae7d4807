"""The running services of one server process: a plain container, opened from Settings and
closed on shutdown.

``open_services`` is the only place that turns URLs into connections; the app wiring
(``wiring.assemble``) and the CLI both go through it, so ``smartsupport check`` tests exactly
what ``serve`` will use. The container sits low in the layers and knows nothing of what is
built on it: the assistant is any ``turn.Responder``, set by the wiring, and outbox handlers
are a table of callables the wiring fills.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from smartsupport.attachments import AttachmentStore, attachments_url, open_attachment_store
from smartsupport.attachments.sealed import SealedStore
from smartsupport.backplane import open_backplane
from smartsupport.backplane.base import Backplane
from smartsupport.context import ContextStore
from smartsupport.domain import Workspace
from smartsupport.encryption import open_keyring
from smartsupport.errors import BackendError, NotFound
from smartsupport.keyring import Keyring
from smartsupport.settings import Settings
from smartsupport.storage import open_store
from smartsupport.storage.base import SqlDatabase, Store
from smartsupport.storage.fields import FieldCipher
from smartsupport.telemetry import Telemetry
from smartsupport.transcription import Transcriber
from smartsupport.turn import Responder
from smartsupport.workspaces import WorkspaceConfig, discover_workspaces

log = logging.getLogger("smartsupport")

# An outbox handler: (services, entry) -> a JSON-able result; see outbox.py.
OutboxHandler = Callable[["Services", Any], Awaitable[dict[str, Any]]]


@dataclass
class Services:
    settings: Settings
    store: Store
    backplane: Backplane
    contexts: ContextStore
    secret_key: bytes
    workspaces: dict[str, WorkspaceConfig] = field(default_factory=dict)
    assistant: Responder | None = None
    # kind -> handler, filled by the wiring (outbox.py runs them).
    outbox_handlers: dict[str, OutboxHandler] = field(default_factory=dict)
    # Set when work was added to the outbox, so this process's worker looks at once.
    outbox_due: asyncio.Event = field(default_factory=asyncio.Event)
    # Metrics, spans and log context (telemetry.py); the app sets its own, the default is off.
    telemetry: Telemetry = field(default_factory=Telemetry)
    # Where attachments' bytes live (attachments/), and speech to text for voice notes
    # (None: not configured); open_services sets both from the settings.
    attachments: AttachmentStore | None = None
    speech: Transcriber | None = None

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
        if self.assistant is not None:
            await self.assistant.close()
        if self.speech is not None:
            await self.speech.aclose()
        await self.backplane.close()
        await self.store.close()


async def open_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Connect every configured backend, apply migrations and load the workspaces."""
    store = open_store(settings.database_url)
    # Field encryption at the store boundary (storage/fields.py); keys decided in encryption.py.
    keyring = open_keyring(settings)
    cast(SqlDatabase, store).fields = FieldCipher(keyring)
    backplane = open_backplane(settings.redis_url, command_timeout=settings.redis_timeout_seconds)
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
            contexts=ContextStore(backplane, ttl_seconds=settings.session_ttl_seconds),
            secret_key=settings.resolved_secret_key(),
            attachments=_sealed(open_attachment_store(attachments_url(settings)), keyring),
            speech=Transcriber(settings.speech_provider) if settings.speech_provider else None,
        )
        for config in discover_workspaces(settings.workspaces_dir, demo=settings.demo):
            await store.upsert_workspace(
                Workspace(id=config.id, name=config.name, config=_storable(config))
            )
            services.workspaces[config.id] = config
        return services
    except BaseException:
        await backplane.close()
        await store.close()
        raise


def _sealed(files: AttachmentStore, keyring: Keyring | None) -> AttachmentStore:
    """Attachments' bytes sealed with the field-encryption keyring when there is one."""
    return SealedStore(files, keyring) if keyring is not None else files


def _storable(config: WorkspaceConfig) -> dict[str, object]:
    return config.model_dump(mode="json", exclude={"source_dir", "articles_dir"})
