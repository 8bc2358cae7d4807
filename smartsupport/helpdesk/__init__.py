"""Helpdesk connectors (Zendesk, Freshdesk), chosen by the ``provider`` name in a
workspace's ``escalation.yaml``. Secrets come from settings (``SMARTSUPPORT_HELPDESK_*``) or,
per workspace, from the environment variable the config names; they stay ``SecretStr``.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from pydantic import SecretStr

from smartsupport.errors import ConfigurationError, NotFound
from smartsupport.handoff.config import for_workspace
from smartsupport.helpdesk.base import Helpdesk

if TYPE_CHECKING:
    from smartsupport.services import Services

PROVIDERS = {
    "zendesk": "smartsupport.helpdesk.zendesk:ZendeskHelpdesk",
    "freshdesk": "smartsupport.helpdesk.freshdesk:FreshdeskHelpdesk",
}


def _secret(default: SecretStr | None, env_name: str | None) -> SecretStr | None:
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise ConfigurationError(f"escalation.yaml names {env_name}, which is not set")
        return SecretStr(value)
    return default


def open_helpdesk(services: Services, workspace_id: str) -> Helpdesk:
    """The connector of a workspace; NotFound when it has no helpdesk configured."""
    config = for_workspace(services.workspace(workspace_id)).helpdesk
    if config is None:
        raise NotFound(f"workspace {workspace_id!r} has no helpdesk configured")
    target = PROVIDERS.get(config.provider)
    if target is None:  # the config schema already restricts the names
        raise ConfigurationError(
            f"unknown helpdesk {config.provider!r}; known: {', '.join(sorted(PROVIDERS))}"
        )
    module, _, name = target.partition(":")
    cls: type[Helpdesk] = getattr(importlib.import_module(module), name)
    settings = services.settings
    return cls(
        config,
        api_token=_secret(settings.helpdesk_api_token, config.api_token_env),
        webhook_secret=_secret(settings.helpdesk_webhook_secret, config.webhook_secret_env),
    )
