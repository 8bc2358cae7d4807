"""The demo workspace through the real conversation path, for the answer tests: a module
imports the ``services`` fixture (assembled once per module, on embedded defaults) and asks.

    from tests.demokit import ask, demo_services  # noqa: F401 - the services fixture
"""

from __future__ import annotations

import pytest_asyncio

from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import IncomingMessage, TurnResult
from smartsupport.settings import Settings
from smartsupport.wiring import assemble


@pytest_asyncio.fixture(loop_scope="module", scope="module", name="services")
async def demo_services(tmp_path_factory):
    running = await assemble(
        Settings(data_dir=tmp_path_factory.mktemp("demo"), secret_key="k" * 32)
    )
    yield running
    await running.close()


async def ask(services, text: str, locale: str = "en") -> TurnResult:
    """A new conversation in ``locale`` and the customer's first message in it."""
    conversation, _ = await start_conversation(services, "demo", locale=locale)
    return await handle_message(services, IncomingMessage(conversation.id, text))
