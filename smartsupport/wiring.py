"""Wiring: the one place that builds the running product from Settings.

    services = await assemble(settings)     open_services (store, backplane, contexts,
                                            workspaces), check every workspace's handoff
                                            config and secrets, build the assistant, fill
                                            the outbox's handler table
    worker = Worker(services).start()       the background jobs (worker.py)

Everything below this module is built from arguments; nothing below it imports upward.
"""

from __future__ import annotations

from smartsupport import notify
from smartsupport.assistant import build_assistant
from smartsupport.demo_shop import Shops
from smartsupport.handoff.config import check_workspaces
from smartsupport.helpdesk import tickets
from smartsupport.outbox import KINDS
from smartsupport.services import OutboxHandler, Services, open_services
from smartsupport.settings import Settings

OUTBOX_HANDLERS: dict[str, OutboxHandler] = {
    "ticket.create": tickets.deliver_ticket,
    "ticket.batch": tickets.deliver_batch,
    "ticket.note": tickets.deliver_note,
    "notify.slack": notify.deliver_slack,
    "notify.teams": notify.deliver_teams,
}
assert set(OUTBOX_HANDLERS) == KINDS, "every outbox kind has exactly one handler"


async def assemble(
    settings: Settings, *, migrate: bool = True, shops: Shops | None = None
) -> Services:
    """The services of one process, with the assistant and outbox handlers in place. A
    broken escalation.yaml or a missing secret stops start-up with the fix named. ``shops``
    is the demo shop data the app also serves (one copy per app)."""
    services = await open_services(settings, migrate=migrate)
    try:
        check_workspaces(services.workspaces.values(), settings)
        services.outbox_handlers.update(OUTBOX_HANDLERS)
        services.assistant = await build_assistant(services, shops)
    except BaseException:
        await services.close()
        raise
    return services
