"""Wiring: the one place that builds the running product from Settings.

    services = await assemble(settings)     open_services (store, backplane, contexts,
                                            workspaces), check every workspace's handoff
                                            config and secrets, build the assistant, fill
                                            the outbox's handler table, and the event
                                            publisher of SMARTSUPPORT_EVENTS_URL
    worker = Worker(services).start()       the background jobs (worker.py)
    await readiness(services)               each backend's state, events included
    await shutdown(services)                the event publisher, then every backend

Everything below this module is built from arguments; nothing below it imports upward.
"""

from __future__ import annotations

from smartsupport import data_policy, notify, proactive
from smartsupport.assistant import build_assistant
from smartsupport.channels import CHANNELS, media_retry, messaging_config
from smartsupport.channels.email_config import email_accounts
from smartsupport.demo_shop import Shops
from smartsupport.events import open_publisher
from smartsupport.events.delivery import EventDelivery
from smartsupport.events.schema import KIND as EVENT_KIND
from smartsupport.handoff.config import check_workspaces
from smartsupport.helpdesk import tickets
from smartsupport.outbox import KINDS
from smartsupport.services import OutboxHandler, Services, open_services
from smartsupport.settings import Settings

OUTBOX_HANDLERS: dict[str, OutboxHandler] = {
    "ticket.create": tickets.deliver_ticket,
    "ticket.batch": tickets.deliver_batch,
    "ticket.batch_join": tickets.deliver_batch_join,  # a low-confidence turn joins a batch
    "ticket.note": tickets.deliver_note,
    "notify.slack": notify.deliver_slack,
    "notify.teams": notify.deliver_teams,
    "email.send": CHANNELS["email"].deliver,  # reply mails (channels/email.py)
    "whatsapp.send": CHANNELS["whatsapp"].deliver,  # channels/whatsapp.py
    "twilio.send": CHANNELS["sms"].deliver,  # SMS and WhatsApp via Twilio (channels/twilio.py)
    "api.webhook": CHANNELS["api"].deliver,  # signed webhooks (channels/api_channel.py)
    "proactive.send": proactive.deliver,  # scheduled proactive messages (proactive.py)
    "media.fetch": media_retry.deliver,  # a failed media download again (channels/)
}
# ... and event.publish, whose handler holds this process's publisher (see assemble)
assert set(OUTBOX_HANDLERS) | {EVENT_KIND} == KINDS, "every outbox kind has exactly one handler"


async def assemble(
    settings: Settings, *, migrate: bool = True, shops: Shops | None = None
) -> Services:
    """The services of one process, with the assistant and outbox handlers in place. A
    broken escalation.yaml or a missing secret stops start-up with the fix named. ``shops``
    is the demo shop data the app also serves (one copy per app)."""
    services = await open_services(settings, migrate=migrate)
    try:
        check_workspaces(services.workspaces.values(), settings)
        data_policy.check_workspaces(services.workspaces)  # privacy: a typo stops start-up
        email_accounts(settings, services.workspaces.values())  # a wrong mail URL stops here
        messaging_config.check_workspaces(services.workspaces.values())  # channel secrets
        services.outbox_handlers.update(OUTBOX_HANDLERS)
        services.outbox_handlers[EVENT_KIND] = await _event_delivery(settings)
        services.assistant = await build_assistant(services, shops)
    except BaseException:
        await shutdown(services)
        raise
    return services


# -- events for data teams (events/, docs/events.md) -------------------------------------------
async def _event_delivery(settings: Settings) -> EventDelivery:
    """The ``event.publish`` handler. A URL the broker refuses stops start-up with the fix
    named; a broker that does not answer does not: events wait in the outbox."""
    if not settings.events_url:
        return EventDelivery(None)
    publisher = open_publisher(settings.events_url, settings.events_exchange)
    await publisher.start()
    return EventDelivery(publisher)


def _events(services: Services) -> EventDelivery | None:
    handler = services.outbox_handlers.get(EVENT_KIND)
    return handler if isinstance(handler, EventDelivery) else None


async def readiness(services: Services) -> dict[str, str]:
    """Each backend's state (``services.readiness``) and, when events are on, the event
    broker's: ``ok`` or why events wait in the outbox."""
    states = await services.readiness()
    events = _events(services)
    if events is not None and events.publisher is not None:
        states["events"] = await events.readiness(services.store)  # type: ignore[arg-type]
    return states


async def shutdown(services: Services) -> None:
    """Close the event publisher (unconfirmed events stay in the outbox), then the rest."""
    events = _events(services)
    try:
        if events is not None:
            await events.close()
    finally:
        await services.close()


# -- end of events -----------------------------------------------------------------------------
